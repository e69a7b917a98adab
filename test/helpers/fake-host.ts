/**
 * The Agent's host in memory (src/agent/host.ts), so the real Agent runs without root: a binding
 * whose probe replays recorded ring bytes (test/fixtures/*.json, *.bin) and answers the kernel's
 * counter map and stats as recorded, cgroupfs as a map of paths, procfs as a list of processes,
 * clocks that move when told.
 */
import fs from 'node:fs';
import { Agent, type AgentOptions } from '../../src/agent/agent.js';
import type { AgentHost } from '../../src/agent/host.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { decodeBatch, TYPE_NAMES } from '../../src/events/decode.js';
import { COUNTER_ROW_SIZE, EVENT_TYPE_MAX, LAYOUT } from '../../src/events/layout.js';
import type { Logger } from '../../src/log.js';
import type { NativeProbe, ProbeOptions, ProgStat } from '../../src/host/binding.js';
import type { ProcSnapshot } from '../../src/host/procfs.js';

/** Splits a batch of padded records into records (each its own Buffer). */
export function records(batch: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  decodeBatch(batch, () => {
    const padded = (batch.readUInt16LE(at + 2) + 7) & ~7;
    out.push(batch.subarray(at, at + padded));
    at += padded;
  });
  return out;
}

/** The kernel side: replays queued batches on drain(); its maps are what the test sets. */
export class ReplayProbe implements NativeProbe {
  readonly attached = ['replay'];
  readonly skipped: string[] = [];
  readonly exitDecision = 'group_dead' as const;
  readonly fastRows = 0;
  closed = false;
  /** Counter map rows (u64 cgroup id + fw_cg_counters), by cgroup id. */
  readonly rows = new Map<number, Buffer>();
  /** Records lost, by record type name (the kernel's fw_stats.lost). */
  readonly lost: Record<string, number> = Object.fromEntries(Object.values(TYPE_NAMES).map((n) => [n, 0]));
  private queue: Buffer[] = [];
  private onBatch: ((batch: Buffer, records: number, bytes: number) => void) | undefined;
  /** One buffer for every batch, overwritten after each call, as the addon reuses its own. */
  private readonly scratch = Buffer.alloc(1 << 20);

  constructor(readonly options: ProbeOptions) {}

  /** Batches for the next drain(), each delivered as one wake-up. */
  push(...batches: Buffer[]): void {
    this.queue.push(...batches);
  }

  /** What the census reads (the kernel's tasks): the host's processes and cgroup ids, as they are now. */
  private world: { procs: () => readonly ProcSnapshot[]; idOf: (path: string) => number | undefined } = {
    procs: () => [],
    idOf: () => undefined,
  };

  /**
   * What the kernel's seed (the iter/task program run at load) does: a row for each running
   * process's cgroup; from then on the census reads these processes as they are.
   */
  seed(procs: () => readonly ProcSnapshot[], idOf: (path: string) => number | undefined): void {
    this.world = { procs, idOf };
    for (const p of procs()) {
      const id = idOf(p.cgroups.get(0) ?? '/');
      if (id === undefined || this.rows.has(id)) continue;
      const row = Buffer.alloc(COUNTER_ROW_SIZE);
      row.writeBigUInt64LE(BigInt(id), 0);
      this.rows.set(id, row);
    }
  }

  /** struct fw_census per running process: its cgroup and threads. */
  census(): Buffer {
    const f = LAYOUT.fw_census.fields;
    const size = LAYOUT.fw_census.size;
    const out: Buffer[] = [];
    for (const p of this.world.procs()) {
      const id = this.world.idOf(p.cgroups.get(0) ?? '/');
      if (id === undefined) continue;
      const line = Buffer.alloc(size);
      line.writeBigUInt64LE(BigInt(id), f.cgroup_id[0]);
      line.writeUInt32LE(p.threads, f.threads[0]);
      out.push(line);
    }
    return Buffer.concat(out);
  }

  /** The rows as recorded, in place of those of the same cgroups (the seeded others stay). */
  setCounters(buf: Buffer): void {
    for (let at = 0; at + COUNTER_ROW_SIZE <= buf.length; at += COUNTER_ROW_SIZE) {
      const row = Buffer.from(buf.subarray(at, at + COUNTER_ROW_SIZE));
      this.rows.set(Number(row.readBigUInt64LE(0)), row);
    }
  }

  start(onBatch: (batch: Buffer, records: number, bytes: number) => void): void {
    this.onBatch = onBatch;
  }

  drain(): number {
    let n = 0;
    while (this.queue.length > 0) {
      const batch = this.queue.shift()!;
      batch.copy(this.scratch);
      const count = records(batch).length;
      n += count;
      this.onBatch?.(this.scratch, count, batch.length);
      this.scratch.fill(0xa5, 0, batch.length); // what a decoder kept without copying is garbage now
    }
    return n;
  }

  readCounters(): Buffer {
    return Buffer.concat([...this.rows.values()]);
  }

  takeCounters(ids: BigUint64Array): Buffer {
    const out: Buffer[] = [];
    for (const id of ids) {
      const row = this.rows.get(Number(id));
      if (!row) continue;
      out.push(row);
      this.rows.delete(Number(id));
    }
    return Buffer.concat(out);
  }

  stats(): Buffer {
    const buf = Buffer.alloc(LAYOUT.fw_stats.size);
    for (let t = 1; t < EVENT_TYPE_MAX; t++) buf.writeBigUInt64LE(BigInt(this.lost[TYPE_NAMES[t]] ?? 0), LAYOUT.fw_stats.fields.lost[0] + t * 8);
    return buf;
  }

  oncpu(): Buffer {
    return Buffer.alloc(0);
  }

  progStats(): ProgStat[] {
    return [];
  }

  /** What the agent last asked the kernel to record (records on demand). */
  interest = { all: true, threads: false };
  readonly watched = new Map<number, number>();

  setInterest(all: boolean, threads: boolean): void {
    this.interest = { all, threads };
  }

  setWatched(ids: BigUint64Array, flags: number): number {
    for (const id of ids) {
      if (flags) this.watched.set(Number(id), flags);
      else this.watched.delete(Number(id));
    }
    return 0;
  }

  close(): void {
    this.closed = true;
  }
}

/** A host in memory; `probe` is the one the Agent loaded. */
export class FakeHost implements AgentHost {
  readonly hierarchy = { name: 'v2', id: 0, mount: '/fake/cgroup' };
  /** cgroupfs: path -> id. */
  readonly cgroups = new Map<string, number>([['/', 1]]);
  /** procfs: the processes running now. */
  procs: ProcSnapshot[] = [];
  /** Wall ms, monotonic ms. */
  wallMs = 1_700_000_000_000;
  monoMs = 1_000;
  /** CLOCK_REALTIME and CLOCK_BOOTTIME, ns. */
  realNs: bigint;
  bootNs: bigint;
  probe: ReplayProbe | undefined;
  scans = 0;
  readonly binding: AgentHost['binding'];

  constructor(clocks: [bigint, bigint] = [1_700_000_000_000_000_000n, 50_000_000_000_000n]) {
    [this.realNs, this.bootNs] = clocks;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const host = this;
    // Called with `new` by the event source: the object returned is the probe.
    function Probe(options: ProbeOptions): ReplayProbe {
      host.probe = new ReplayProbe(options);
      host.probe.seed(
        () => host.procs,
        (p) => host.cgroups.get(p),
      );
      return host.probe;
    }
    this.binding = { Probe: Probe as unknown as AgentHost['binding']['Probe'], clocks: () => [this.realNs, this.bootNs] };
  }

  preflight(): void {}

  readonly cgroupfs = {
    scan: () => new Map([...this.cgroups].map(([p, id]) => [id, p] as [number, string])),
    find: (id: number, under: string) => [...this.cgroups].find(([p, i]) => i === id && (under === '/' || p.startsWith(`${under}/`)))?.[0],
    idOf: (p: string) => this.cgroups.get(p),
  };

  readonly procfs = {
    processes: () => {
      this.scans++;
      return this.procs.map((p) => ({ ...p, cgroups: new Map(p.cgroups) }));
    },
  };

  readonly clock = {
    now: () => this.wallMs,
    monotonicMs: () => this.monoMs,
    monotonicNs: () => this.monoMs * 1e6,
  };

  /** Moves every clock forward. */
  advance(ms: number): void {
    this.wallMs += ms;
    this.monoMs += ms;
    this.bootNs += BigInt(ms) * 1_000_000n;
    this.realNs += BigInt(ms) * 1_000_000n;
  }
}

/** A process as procfs shows it, in one v2 cgroup. */
export function proc(pid: number, cgroup: string, fields: Partial<Omit<ProcSnapshot, 'cgroups'>> = {}): ProcSnapshot {
  return { pid, ppid: 1, comm: 'init', state: 'S', uid: 0, threads: 1, startNs: 1e9, cgroups: new Map([[0, cgroup]]), ...fields };
}

/** A recording of test/fixtures/record-agent.mjs. */
export interface Recording {
  cgroups: Record<string, number>;
  batches: Buffer[];
  counters: Buffer;
  stats: Buffer;
  clocks: [bigint, bigint];
  procs: ProcSnapshot[];
  left: number[];
}

export function loadRecording(name: string): Recording {
  // The file as test/fixtures/record-agent.mjs writes it.
  const f = JSON.parse(fs.readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as {
    cgroups: Recording['cgroups'];
    batches: string[];
    counters: string;
    stats: string;
    clocks: [string, string];
    procs: Array<Omit<ProcSnapshot, 'cgroups'> & { cgroups: [number, string][] }>;
    left: number[];
  };
  return {
    cgroups: f.cgroups,
    batches: f.batches.map((b) => Buffer.from(b, 'base64')),
    counters: Buffer.from(f.counters, 'base64'),
    stats: Buffer.from(f.stats, 'base64'),
    clocks: [BigInt(f.clocks[0]), BigInt(f.clocks[1])],
    procs: f.procs.map((p) => ({ ...p, cgroups: new Map(p.cgroups) })),
    left: f.left,
  };
}

/** A logger that keeps every line. */
export function lines(): Logger & { lines: string[] } {
  const out: string[] = [];
  return {
    lines: out,
    debug: (m) => void out.push(`debug: ${m}`),
    info: (m) => void out.push(`info: ${m}`),
    warn: (m) => void out.push(`warn: ${m}`),
    error: (m) => void out.push(`error: ${m}`),
  };
}

export const testConfig = (yaml = ''): Config => parseConfig(yaml, 'test.yaml', { hostname: 'test-node' });

/**
 * The real Agent over a fake host: attached (the replay probe loaded), seeded, started. The
 * recordings hold every event, as an agent recording everything reads them: records on demand are
 * off unless a test turns them on.
 */
export function fakeAgent(host: FakeHost, yaml = '', opts: AgentOptions = {}): { agent: Agent; log: Logger & { lines: string[] }; probe: ReplayProbe } {
  const log = lines();
  const agent = new Agent(host, testConfig(yaml), log, { recordsOnDemand: false, ...opts });
  agent.start();
  return { agent, log, probe: host.probe! };
}
