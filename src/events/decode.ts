/**
 * Decoding of ring-buffer batches into RawEvents: kernel ids and boot-clock nanoseconds, no names
 * yet (src/events/enrich.ts adds those). Hot path: one object per record, no per-field closures.
 */
import { COUNTERS, COUNTER_ROW_SIZE, EventType, EVENT_TYPE_MAX, Flags, HDR, HDR_SIZE, LAYOUT, LIFETIME_SLOTS, SIGNAL_SLOTS } from './layout.js';

/** One kernel record. Every field exists on every event so V8 keeps a single object shape. */
export class RawEvent {
  type = 0;
  flags = 0;
  /** CLOCK_BOOTTIME nanoseconds (float: exact to the nanosecond for 104 days of uptime). */
  ts = 0;
  cgroupId = 0;
  startNs = 0;
  pid = 0;
  tid = 0;
  ppid = 0;
  uid = 0;
  nsPid = 0;
  cpu = 0;
  comm = '';
  /** fork: the parent's start time (with pid, the parent's identity). */
  parentStartNs = 0;
  /** exec */
  oldTid = 0;
  filename = '';
  argv: string[] | null = null;
  /** exit: the wait(2) status, and CPU of the process (or thread) in ns. */
  status = 0;
  cpuNs = 0;
  /**
   * exit with Flags.SENDER: who sent the fatal signal (SenderFlags; pid 0 when the kernel did), the
   * sender's start time, cgroup and comm, and with Flags.OOM the memory cgroup whose limit was hit
   * (0: the whole system ran out).
   */
  senderFlags = 0;
  senderPid = 0;
  senderStartNs = 0;
  senderCgroupId = 0;
  senderComm = '';
  oomMemcgId = 0;
  /** cgroup mkdir / rmdir */
  hierarchyId = 0;
  path = '';
}

const U32 = 0x1_0000_0000;

function u64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * U32;
}

function cstring(buf: Buffer, start: number, end: number): string {
  const nul = buf.indexOf(0, start);
  return buf.toString('latin1', start, nul >= 0 && nul < end ? nul : end);
}

/**
 * The header's comm, by its 16 bytes: records carry few distinct names (a fork loop one), so the
 * bytes seen before give back the string decoded before, without the two calls into Buffer's
 * native code (indexOf, toString) and a new string per record. Direct-mapped: a collision costs a
 * decode, never a wrong name (all 16 bytes are compared, whatever follows the NUL). The field is
 * TASK_COMM_LEN (16) bytes.
 */
class CommCache {
  private static readonly SLOTS = 256;
  private readonly words = new Int32Array(CommCache.SLOTS * 4);
  private readonly names = new Array<string | undefined>(CommCache.SLOTS).fill(undefined);

  get(buf: Buffer, at: number, len: number): string {
    if (len !== 16) return cstring(buf, at, at + len);
    const a = buf.readInt32LE(at);
    const b = buf.readInt32LE(at + 4);
    const c = buf.readInt32LE(at + 8);
    const d = buf.readInt32LE(at + 12);
    const slot = Math.imul(a ^ Math.imul(b, 0x9e3779b1) ^ Math.imul(c, 0x85ebca6b) ^ Math.imul(d, 0xc2b2ae35), 0x27d4eb2d) >>> 24;
    const w = this.words;
    const i = slot * 4;
    const hit = this.names[slot];
    if (hit !== undefined && w[i] === a && w[i + 1] === b && w[i + 2] === c && w[i + 3] === d) return hit;
    const name = cstring(buf, at, at + len);
    w[i] = a;
    w[i + 1] = b;
    w[i + 2] = c;
    w[i + 3] = d;
    this.names[slot] = name;
    return name;
  }
}

const comms = new CommCache();

function utf8z(buf: Buffer, start: number, end: number): string {
  const nul = buf.indexOf(0, start);
  return buf.toString('utf8', start, nul >= 0 && nul < end ? nul : end);
}

/** argv as the kernel keeps it: NUL-separated, the last one possibly cut by the byte budget. */
export function splitArgv(buf: Buffer, start: number, end: number): string[] {
  const out: string[] = [];
  let at = start;
  while (at < end) {
    let nul = buf.indexOf(0, at);
    if (nul < 0 || nul > end) nul = end;
    out.push(buf.toString('utf8', at, nul));
    at = nul + 1;
  }
  return out;
}

/** Error for a record that does not parse: the kernel and this decoder disagree on the layout. */
export class DecodeError extends Error {}

/** A record decodeBatch skipped: where it was, and why. */
export interface BadRecord {
  at: number;
  reason: string;
}

/** The smallest size of each record type (its fixed part). */
const MIN_SIZE: Record<number, number> = {
  [EventType.FORK]: LAYOUT.fw_fork_event.size,
  [EventType.EXEC]: LAYOUT.fw_exec_event.size,
  [EventType.EXIT]: LAYOUT.fw_exit_event.size,
  [EventType.MIGRATE]: HDR_SIZE,
  [EventType.CGROUP_MKDIR]: LAYOUT.fw_cgroup_event.size,
  [EventType.CGROUP_RMDIR]: LAYOUT.fw_cgroup_event.size,
};

/**
 * Decodes one batch (records padded to 8 bytes, in buf[0, length)) and calls `sink` for each
 * record in order, with its offset. Never throws: a record that does not parse is reported to
 * `onBad` and skipped; one whose size is impossible ends the batch (nothing after it can be found),
 * reported once. Returns the number of records decoded.
 */
export function decodeBatch(buf: Buffer, sink: (ev: RawEvent, at: number) => void, length = buf.length, onBad: (bad: BadRecord) => void = () => {}): number {
  const end = Math.min(length, buf.length);
  let at = 0;
  let n = 0;
  while (at + HDR_SIZE <= end) {
    const size = buf.readUInt16LE(at + HDR.size[0]);
    if (size < HDR_SIZE || at + size > end) {
      onBad({ at, reason: `bad record size ${size} at offset ${at}: the last ${end - at} bytes of the batch skipped` });
      return n;
    }
    let e: RawEvent;
    try {
      e = decodeRecord(buf, at, size);
    } catch (err) {
      onBad({ at, reason: err instanceof DecodeError ? err.message : `record at offset ${at}: ${String(err)}` });
      at += (size + 7) & ~7;
      continue;
    }
    sink(e, at);
    n++;
    at += (size + 7) & ~7;
  }
  if (at < end) onBad({ at, reason: `${end - at} bytes at offset ${at} are too few for a record` });
  return n;
}

/** Decodes the record of `size` bytes at `at`; throws DecodeError if it does not parse. */
export function decodeRecord(buf: Buffer, at: number, size: number): RawEvent {
  const e = new RawEvent();
  e.type = buf.readUInt16LE(at);
  if (e.type === 0 || e.type >= EVENT_TYPE_MAX) throw new DecodeError(`unknown record type ${e.type} at offset ${at}`);
  if (size < MIN_SIZE[e.type]) throw new DecodeError(`record of type ${e.type} at offset ${at} has ${size} bytes, fewer than its ${MIN_SIZE[e.type]}`);
  e.flags = buf.readUInt32LE(at + HDR.flags[0]);
  e.ts = u64(buf, at + HDR.ts_ns[0]);
  e.cgroupId = u64(buf, at + HDR.cgroup_id[0]);
  e.startNs = u64(buf, at + HDR.start_ns[0]);
  e.pid = buf.readUInt32LE(at + HDR.pid[0]);
  e.tid = buf.readUInt32LE(at + HDR.tid[0]);
  e.ppid = buf.readUInt32LE(at + HDR.ppid[0]);
  e.uid = buf.readUInt32LE(at + HDR.uid[0]);
  e.nsPid = buf.readUInt32LE(at + HDR.ns_pid[0]);
  e.cpu = buf.readUInt32LE(at + HDR.cpu[0]);
  e.comm = comms.get(buf, at + HDR.comm[0], HDR.comm[1]);

  switch (e.type) {
    case EventType.FORK:
      e.parentStartNs = u64(buf, at + LAYOUT.fw_fork_event.fields.parent_start_ns[0]);
      break;
    case EventType.EXEC: {
      const f = LAYOUT.fw_exec_event.fields;
      e.oldTid = buf.readUInt32LE(at + f.old_tid[0]);
      const flen = buf.readUInt16LE(at + f.filename_len[0]);
      const alen = buf.readUInt16LE(at + f.argv_len[0]);
      const data = at + LAYOUT.fw_exec_event.size;
      if (data + flen + alen > at + size) throw new DecodeError(`exec record overruns its size at offset ${at}`);
      e.filename = utf8z(buf, data, data + flen);
      e.argv = splitArgv(buf, data + flen, data + flen + alen);
      break;
    }
    case EventType.EXIT: {
      const f = LAYOUT.fw_exit_event.fields;
      e.status = buf.readUInt32LE(at + f.status[0]);
      e.cpuNs = u64(buf, at + f.cpu_ns[0]);
      if (e.flags & Flags.SENDER) {
        const w = at + LAYOUT.fw_exit_event.size;
        const g = LAYOUT.fw_exit_sender.fields;
        if (size < LAYOUT.fw_exit_event.size + LAYOUT.fw_exit_sender.size) throw new DecodeError(`exit record with a sender has ${size} bytes at offset ${at}`);
        e.senderCgroupId = u64(buf, w + g.cgroup_id[0]);
        e.senderStartNs = u64(buf, w + g.start_ns[0]);
        e.oomMemcgId = u64(buf, w + g.oom_memcg_id[0]);
        e.senderPid = buf.readUInt32LE(w + g.pid[0]);
        e.senderFlags = buf.readUInt32LE(w + g.flags[0]);
        e.senderComm = cstring(buf, w + g.comm[0], w + g.comm[0] + g.comm[1]);
      }
      break;
    }
    case EventType.CGROUP_MKDIR:
    case EventType.CGROUP_RMDIR: {
      const f = LAYOUT.fw_cgroup_event.fields;
      e.hierarchyId = buf.readUInt32LE(at + f.hierarchy_id[0]);
      const plen = buf.readUInt16LE(at + f.path_len[0]);
      const data = at + LAYOUT.fw_cgroup_event.size;
      e.path = utf8z(buf, data, Math.min(data + plen, at + size));
      break;
    }
  }
  return e;
}

/** The kernel's exact per-cgroup counters, as NativeProbe.readCounters() returns them. */
export interface CgroupCounters {
  cgroupId: number;
  forks: number;
  threads: number;
  execs: number;
  exitsSuccess: number;
  exitsFailure: number;
  exitsSignaled: number;
  threadExits: number;
  cpuNs: number;
  /** Processes in the cgroup now, and their threads: the census's (0 in the map's own rows, see withCensus). */
  liveTasks: number;
  liveThreads: number;
  /** Process lifetimes at exit: slot i counts those under 2^i ms, the last slot the rest. */
  lifetime: number[];
  lifetimeSumNs: number;
  /** Times the cgroup became unpopulated (its last task exited or moved out). */
  releases: number;
  /** Process exits by the OOM killer's SIGKILL. */
  oomKills: number;
  /** exitsSignaled by signal number: slot n for signal n, slot 0 for real-time signals (SIGNAL_SLOTS). */
  signals: number[];
}

/** A row of the counter map: a cgroup's counters, and whether the cgroup has been removed. */
export interface CounterRow extends CgroupCounters {
  /** Its rmdir was seen by the kernel: the counts are final, the row is to be retired. */
  removed: boolean;
}

function u64Array(buf: Buffer, at: number, n: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = u64(buf, at + 8 * i);
  return out;
}

/** Decodes readCounters() / takeCounters() rows. */
export function decodeCounters(buf: Buffer): CounterRow[] {
  const f = COUNTERS.fields;
  const out: CounterRow[] = [];
  for (let at = 0; at + COUNTER_ROW_SIZE <= buf.length; at += COUNTER_ROW_SIZE) {
    const c = at + 8;
    out.push({
      cgroupId: u64(buf, at),
      forks: u64(buf, c + f.forks[0]),
      threads: u64(buf, c + f.threads[0]),
      execs: u64(buf, c + f.execs[0]),
      exitsSuccess: u64(buf, c + f.exits_success[0]),
      exitsFailure: u64(buf, c + f.exits_failure[0]),
      exitsSignaled: u64(buf, c + f.exits_signaled[0]),
      threadExits: u64(buf, c + f.thread_exits[0]),
      cpuNs: u64(buf, c + f.cpu_ns[0]),
      removed: u64(buf, c + f.removed[0]) !== 0,
      liveTasks: 0,
      liveThreads: 0,
      lifetime: u64Array(buf, c + f.lifetime[0], LIFETIME_SLOTS),
      lifetimeSumNs: u64(buf, c + f.lifetime_sum_ns[0]),
      releases: u64(buf, c + f.releases[0]),
      oomKills: u64(buf, c + f.oom_kills[0]),
      signals: u64Array(buf, c + f.signals[0], SIGNAL_SLOTS),
    });
  }
  return out;
}

/** Live processes and threads per cgroup id, from census() (struct fw_census lines). */
export function decodeCensus(buf: Buffer): Map<number, { tasks: number; threads: number }> {
  const f = LAYOUT.fw_census.fields;
  const size = LAYOUT.fw_census.size;
  const out = new Map<number, { tasks: number; threads: number }>();
  for (let at = 0; at + size <= buf.length; at += size) {
    const id = u64(buf, at + f.cgroup_id[0]);
    const n = buf.readUInt32LE(at + f.threads[0]);
    const l = out.get(id);
    if (l) {
      l.tasks++;
      l.threads += n;
    } else out.set(id, { tasks: 1, threads: n });
  }
  return out;
}

/**
 * The rows with their live counts from the census: a cgroup the census found with no row (the
 * counter map was full, or the row was never made) gets a row of zeros with its live counts.
 */
export function withCensus(rows: CounterRow[], census: ReadonlyMap<number, { tasks: number; threads: number }>): CounterRow[] {
  const seen = new Set<number>();
  for (const r of rows) {
    const l = census.get(r.cgroupId);
    r.liveTasks = l?.tasks ?? 0;
    r.liveThreads = l?.threads ?? 0;
    seen.add(r.cgroupId);
  }
  for (const [id, l] of census) {
    if (seen.has(id)) continue;
    const r = zeroCounterRow(id);
    r.liveTasks = l.tasks;
    r.liveThreads = l.threads;
    rows.push(r);
  }
  return rows;
}

/** A row of zeros for a cgroup that has none in the map yet. */
export function zeroCounterRow(cgroupId: number): CounterRow {
  const buf = Buffer.alloc(COUNTER_ROW_SIZE);
  buf.writeBigUInt64LE(BigInt(cgroupId), 0);
  return decodeCounters(buf)[0];
}

/** Agent health from NativeProbe.stats(). */
export interface ProbeStats {
  /** Records the ring buffer had no room for, by record type name. */
  lost: Record<string, number>;
  lostTotal: number;
  counterFull: number;
  wakeups: number;
  /** Process exits decided by a claim (kernels before v6.16), and claims still held. */
  exitClaims: number;
  exitClaimsHeld: number;
}

/** Record type -> the name metrics and stats use. */
export const TYPE_NAMES: Record<number, string> = {
  [EventType.FORK]: 'fork',
  [EventType.EXEC]: 'exec',
  [EventType.EXIT]: 'exit',
  [EventType.MIGRATE]: 'migrate',
  [EventType.CGROUP_MKDIR]: 'cgroup_mkdir',
  [EventType.CGROUP_RMDIR]: 'cgroup_rmdir',
};

/** Decodes stats(). */
export function decodeStats(buf: Buffer): ProbeStats {
  const f = LAYOUT.fw_stats.fields;
  const lost: Record<string, number> = {};
  let lostTotal = 0;
  for (let t = 1; t < EVENT_TYPE_MAX; t++) {
    const n = u64(buf, f.lost[0] + t * 8);
    lost[TYPE_NAMES[t]] = n;
    lostTotal += n;
  }
  const exitClaims = u64(buf, f.exit_claims[0]);
  return {
    lost,
    lostTotal,
    counterFull: u64(buf, f.counter_full[0]),
    wakeups: u64(buf, f.wakeups[0]),
    exitClaims,
    exitClaimsHeld: exitClaims - u64(buf, f.exit_claims_released[0]),
  };
}

/** One CPU's fw_oncpu slot: what runs there since when, and its cgroup's time not yet in the counter map. */
export interface OncpuSlot {
  /** CLOCK_MONOTONIC ns of the last switch. */
  sinceNs: number;
  /** Cgroup of the task running (0: idle); accNs is its time. */
  cgroupId: number;
  /** Odd while accNs moves into the cgroup's counter row; it changes each time it does. */
  seq: number;
  accNs: number;
}

/** Decodes oncpu(): one slot per possible CPU. */
export function decodeOncpu(buf: Buffer): OncpuSlot[] {
  const f = LAYOUT.fw_oncpu.fields;
  const out: OncpuSlot[] = [];
  for (let at = 0; at + LAYOUT.fw_oncpu.size <= buf.length; at += LAYOUT.fw_oncpu.size) {
    out.push({
      sinceNs: u64(buf, at + f.since_ns[0]),
      cgroupId: u64(buf, at + f.cgroup_id[0]),
      seq: buf.readUInt32LE(at + f.seq[0]),
      accNs: u64(buf, at + f.acc_ns[0]),
    });
  }
  return out;
}
