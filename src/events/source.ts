/**
 * The event source: loads the probe, decodes each batch, keeps cgroup names current from the
 * kernel's mkdir / rmdir records, and hands consumers whole batches in ring-buffer order (the
 * order in which the kernel reserved the records: fork before the child's own events).
 */
import { probeOptions } from '../config/default.js';
import { EnvironmentError } from '../errors.js';
import type { NativeBinding, NativeProbe, ProbeOptions, ProgStat } from '../host/binding.js';
import { findCgroup, scanCgroups, type Hierarchy } from '../host/cgroupfs.js';
import { requireBpfHost } from '../host/kernel.js';
import { libbpfLog, type Logger } from '../log.js';
import { CgroupNames } from './cgroup-names.js';
import { WallClock } from './clock.js';
import {
  decodeBatch,
  decodeCensus,
  decodeCounters,
  decodeOncpu,
  decodeStats,
  zeroCounterRow,
  type BadRecord,
  type CounterRow,
  type OncpuSlot,
  type ProbeStats,
  RawEvent,
  withCensus,
} from './decode.js';
import { EventType, Flags } from './layout.js';

export interface SourceOptions {
  probe: ProbeOptions;
  hierarchy: Hierarchy;
  log: Logger;
  /** cgroupfs reads of the grouping hierarchy (default: this host's, under hierarchy.mount). */
  cgroups?: { scan(): Map<number, string>; find(id: number, under: string): string | undefined };
  /** Checks before loading; throws an EnvironmentError with a fix (default: host/kernel.ts requireBpfHost). */
  preflight?: () => void;
  /** CLOCK_MONOTONIC now, ns, as bpf_ktime_get_ns() (default: process.hrtime). */
  monotonicNs?: () => number;
}

/** What the source needs of the addon. */
export type SourceBinding = Pick<NativeBinding, 'Probe' | 'clocks'>;

export class EventSource {
  readonly names: CgroupNames;
  readonly clock: WallClock;
  private probe: NativeProbe | undefined;
  /** Rows in the counter map at the last read. */
  private rows = 0;
  private counted: number[] = [];
  /** Records that did not decode, and when that was last logged. */
  private bad = 0;
  private badLoggedAt = -Infinity;
  /** rmdir records lost as of the last look for rows the kernel marked removed. */
  private rmdirLostSeen = 0;
  private onBatch: ((events: RawEvent[]) => void) | undefined;

  /** Loads and attaches the BPF programs; throws EnvironmentError with a fix when it cannot. */
  constructor(
    binding: SourceBinding,
    private readonly opts: SourceOptions,
  ) {
    this.clock = new WallClock(() => binding.clocks());
    // Name every cgroup that exists before attaching, then let mkdir/rmdir records keep it current.
    const mount = opts.hierarchy.mount;
    const cg = opts.cgroups ?? { scan: () => scanCgroups(mount), find: (id: number, under: string) => findCgroup(mount, under, id) };
    this.names = new CgroupNames(() => cg.scan(), { find: (id, under) => cg.find(id, under) });
    (opts.preflight ?? requireBpfHost)();
    this.probe = openProbe(binding, probeOptions({ ...opts.probe, cgroupHierarchy: opts.hierarchy.id }), opts.log);
  }

  get attached(): string[] {
    return this.probe?.attached ?? [];
  }

  /** How the probe tells a process's exit from its threads' (see bpf/proc.bpf.c). */
  get exitDecision(): 'group_dead' | 'claim' {
    return this.live().exitDecision;
  }

  /** Starts delivery; `onBatch` gets every record of one wake-up, in order. */
  start(onBatch: (events: RawEvent[]) => void): void {
    this.onBatch = onBatch;
    this.live().start((buf, _records, bytes) => this.deliver(buf, bytes));
  }

  /** `buf` is the addon's batch buffer, reused on the next wake-up: decoding copies what it keeps. */
  private deliver(buf: Buffer, bytes: number): void {
    const events: RawEvent[] = [];
    decodeBatch(
      buf,
      (e) => {
        const cut = (e.flags & Flags.PATH_TRUNC) !== 0;
        if (e.type === EventType.CGROUP_MKDIR) this.names.made(e.cgroupId, e.path, cut);
        else if (e.type === EventType.CGROUP_RMDIR) this.names.gone(e.cgroupId, e.path, cut);
        events.push(e);
      },
      bytes,
      (bad) => this.skipped(bad),
    );
    this.onBatch?.(events);
  }

  /** A record that did not decode: counted, and logged at most once a minute. */
  private skipped(bad: BadRecord): void {
    this.bad++;
    const now = performance.now();
    if (now - this.badLoggedAt < 60_000) return;
    this.badLoggedAt = now;
    this.opts.log.warn(`skipped a kernel record that does not decode (${bad.reason}); ${this.bad} skipped so far`);
  }

  /** Records skipped because they did not decode (forkwatch_events_invalid_total). */
  get badRecords(): number {
    return this.bad;
  }

  private live(): NativeProbe {
    if (!this.probe) throw new Error('the event source is closed');
    return this.probe;
  }

  /** Consumes what waits in the ring buffer now (delivered through onBatch). */
  drain(): number {
    return this.live().drain();
  }

  /** Records of every cgroup, or of the watched ones only; thread records or not (src/agent/interest.ts). */
  setInterest(all: boolean, threads: boolean): void {
    this.live().setInterest(all, threads);
  }

  /** Watches these cgroups with Watch.* flags (0: no longer); returns how many the full map refused. */
  setWatched(ids: number[], flags: number): number {
    if (ids.length === 0) return 0;
    return this.live().setWatched(
      BigUint64Array.from(ids, (id) => BigInt(id)),
      flags,
    );
  }

  /**
   * The kernel's exact per-cgroup counters. With the switch program attached, each row's CPU time
   * includes what the CPUs' slots hold for its cgroup (fw_oncpu.acc_ns, moved into the row only
   * when a CPU changes cgroup), read so that no move is counted twice or missed (see sameMoves).
   * With `live` (the default), each row's live tasks and threads are the census's, taken now (one
   * pass over the host's tasks), and a cgroup the census found without a row gets one of zeros.
   */
  counters(opts: { live?: boolean } = {}): CounterRow[] {
    const rows = this.mapRows();
    return opts.live === false ? rows : withCensus(rows, decodeCensus(this.live().census()));
  }

  private mapRows(): CounterRow[] {
    const probe = this.live();
    if (!this.switching) {
      const rows = decodeCounters(probe.readCounters());
      this.rows = rows.length;
      this.counted = rows.map((r) => r.cgroupId);
      return rows;
    }
    let before = this.cpuSlots();
    for (let attempt = 1; ; attempt++) {
      const rows = decodeCounters(probe.readCounters());
      const after = this.cpuSlots();
      if (attempt < CPU_READ_ATTEMPTS && !sameMoves(before, after)) {
        before = after;
        continue;
      }
      this.rows = rows.length;
      this.counted = rows.map((r) => r.cgroupId);
      return withSlots(rows, after, (id) => this.names.isGone(id));
    }
  }

  /** Whether the switch program is attached (CPU accounting by sched_switch: a v1 grouping hierarchy). */
  private get switching(): boolean {
    return this.live().attached.includes('handle_switch');
  }

  private cpuSlots(): OncpuSlot[] {
    return decodeOncpu(this.live().oncpu());
  }

  /** The cgroups that had a row in the counter map when it was last read. */
  get countedCgroups(): readonly number[] {
    return this.counted;
  }

  /** Rows in the per-cgroup counter map when it was last read (of ProbeOptions.counterEntries). */
  get counterRows(): number {
    return this.rows;
  }

  /**
   * CPU time the kernel has not charged yet (tasks running since their last switch), per cgroup
   * id, in ns as of now; added to the counters it makes CPU exact at the moment of reading.
   */
  unchargedCpuNs(): Map<number, number> {
    const now = this.opts.monotonicNs?.() ?? Number(process.hrtime.bigint()); // CLOCK_MONOTONIC, as bpf_ktime_get_ns()
    const out = new Map<number, number>();
    if (!this.switching) return out;
    for (const { sinceNs, cgroupId } of this.cpuSlots()) {
      if (cgroupId && sinceNs && now > sinceNs) out.set(cgroupId, (out.get(cgroupId) ?? 0) + (now - sinceNs));
    }
    return out;
  }

  /**
   * Takes the rows of removed cgroups out of the counter map and returns their final counts, to be
   * folded into their groups: the cgroups in `removed` (rmdir records read), and, once rmdir records
   * have been lost, every row the kernel marked at its cgroup's rmdir. So the map keeps room for
   * new cgroups under any churn, and no live cgroup's row is ever taken.
   */
  retireCounters(removed: Iterable<number>): CounterRow[] {
    const ids = new Set(removed);
    const lost = this.stats().lost.cgroup_rmdir;
    if (lost !== this.rmdirLostSeen) {
      for (const row of this.counters({ live: false })) if (row.removed) ids.add(row.cgroupId);
      this.rmdirLostSeen = lost;
    }
    if (ids.size === 0) return [];
    const taken = decodeCounters(this.live().takeCounters(BigUint64Array.from([...ids].map(BigInt))));
    this.rows = Math.max(0, this.rows - taken.length);
    return taken;
  }

  stats(): ProbeStats {
    return decodeStats(this.live().stats());
  }

  progStats(): ProgStat[] {
    return this.live().progStats();
  }

  get closed(): boolean {
    return this.probe === undefined;
  }

  /** Delivers what is still in the ring, then detaches every program and frees the ring. */
  close(): void {
    if (!this.probe) return;
    try {
      this.probe.drain();
    } finally {
      this.probe.close();
      this.probe = undefined;
    }
  }
}

/**
 * Reads of the counter map and the slots are retried while a CPU moved its slot's time into the
 * map between them (a move is seen as a changed or odd seq); past this many, the last read is taken
 * as it is (at worst one move counted twice or missed in that one reading).
 */
const CPU_READ_ATTEMPTS = 4;

/** No CPU moved its slot's time into the counter map between the two reads of the slots. */
function sameMoves(a: OncpuSlot[], b: OncpuSlot[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].seq !== b[i].seq || (b[i].seq & 1) !== 0) return false;
  return true;
}

/**
 * The rows with the slots' time added. A live cgroup only a slot has time for gets a row of its own;
 * a removed one whose row is retired gets none (its last slice goes with it, as in the kernel).
 */
function withSlots(rows: CounterRow[], slots: OncpuSlot[], gone: (id: number) => boolean): CounterRow[] {
  let byId: Map<number, CounterRow> | undefined;
  for (const s of slots) {
    if (!s.cgroupId || !s.accNs) continue;
    byId ??= new Map(rows.map((r) => [r.cgroupId, r]));
    let row = byId.get(s.cgroupId);
    if (!row) {
      if (gone(s.cgroupId)) continue;
      row = zeroCounterRow(s.cgroupId);
      byId.set(s.cgroupId, row);
      rows.push(row);
    }
    row.cpuNs += s.accNs;
  }
  return rows;
}

/** Loads the probe, turning the kernel's refusals into one line with a fix. */
function openProbe(binding: SourceBinding, options: ProbeOptions, log: Logger): NativeProbe {
  try {
    return new binding.Probe(options, libbpfLog(log));
  } catch (err) {
    const e = err as Error & { code?: string; step?: string };
    if (!e.step) throw err; // an argument bug, not the kernel: keep the stack
    // The privileges were checked before loading: a refused load here is the verifier's, whose
    // reason ends the log printed above it.
    if (e.code === 'EACCES' && e.step.startsWith('bpf_object__load')) {
      throw new EnvironmentError(
        `${e.message}: the kernel's verifier refused a program (its reason ends the log above); please report it with that log and 'uname -r'`,
      );
    }
    if (e.code === 'EPERM' || e.code === 'EACCES') {
      throw new EnvironmentError(`${e.message}; forkwatch needs root, or CAP_BPF and CAP_PERFMON (run with sudo)`);
    }
    throw new EnvironmentError(`${e.message}; run 'forkwatch doctor' to see what this kernel lacks`);
  }
}
