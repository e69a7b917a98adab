/**
 * Fakes for BeancounterService unit tests: a host built from the real process table, registry and
 * tracker (fed made-up kernel records the way src/agent.ts feeds them), and recording stand-ins
 * for cgroupfs, hooks, the bus and the accounting log.
 */
import type { HookHandle, HookRequest } from '../../src/beancounters/hooks.js';
import type { BeancounterIO, LimitKnob, LimitState, RefusalKind } from '../../src/beancounters/cgroup-actions.js';
import type { FreezeState } from '../../src/beancounters/freezer.js';
import { BeancounterService, type AccountingSink, type BeancounterHost } from '../../src/beancounters/service.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { RawEvent } from '../../src/events/decode.js';
import { EventType, Flags } from '../../src/events/layout.js';
import { GroupRegistry, zeroTotals, type Group, type KernelTotals } from '../../src/groups/registry.js';
import { GroupTracker } from '../../src/groups/tracker.js';
import type { Logger } from '../../src/log.js';
import { ProcessTable, type ProcessInfo } from '../../src/process/table.js';
import type { AgentEvent } from '../../src/stream/bus.js';

export const config = (yaml: string): Config => parseConfig(yaml, 'test.yaml', { hostname: 'test' });

/** A manual clock in ms. */
export class Clock {
  constructor(public t = 1_700_000_000_000) {}
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/**
 * The agent's stages without the kernel: records go in through fork/exit/…; listeners hear them.
 * It repeats what src/agent/agent.ts does (table, registry and tracker built and fed, reload,
 * totals), so it can drift; the tests seed and rename cgroups mid-test, which the real Agent over
 * test/helpers/fake-host.ts only does at start, so moving to it means rewriting those tests.
 */
export class FakeHost implements BeancounterHost {
  readonly table = new ProcessTable();
  readonly registry: GroupRegistry;
  readonly tracker: GroupTracker;
  readonly paths = new Map<number, string>();
  /** CPU ns per group name, for totals(). */
  readonly cpuNs = new Map<string, number>();
  readonly source: BeancounterHost['source'];
  service: BeancounterService | undefined;
  private bootNs = 1e12;

  constructor(
    config: Config,
    private readonly clock: Clock,
    cgroups: Record<number, string> = {},
  ) {
    for (const [id, p] of Object.entries(cgroups)) this.paths.set(Number(id), p);
    const paths = this.paths;
    this.source = {
      names: {
        path: (id) => paths.get(id) ?? `cgroup:${id}`,
        idOf: (p) => [...paths].find(([, q]) => q === p)?.[0],
        entries: () => paths.entries(),
      },
      clock: { iso: (ns) => `boot:${ns}` },
    };
    this.registry = new GroupRegistry(this.options(config));
    this.tracker = new GroupTracker(this.registry, clock.now);
  }

  private options(c: Config) {
    return {
      rules: c.groups.rules,
      defaults: c.resources,
      maxGroups: c.groups.max_groups,
      evictAfterS: c.groups.evict_after_s,
      cgroupPath: (id: number) => this.source.names.path(id),
      now: this.clock.now,
    };
  }

  /** Processes running before the agent started (the agent seeds these from procfs). */
  seed(list: Array<Partial<ProcessInfo> & { pid: number; cgroupId: number }>): void {
    const procs = list.map((p) => ({ ppid: 1, comm: 'seed', uid: 0, startNs: p.pid, threads: 1, ...p }));
    this.table.seed(procs);
    this.tracker.seed(this.table.values());
  }

  /** A cgroup made (its mkdir record) or removed (rmdir), as the agent tells its listeners. */
  mkdir(id: number, path: string): void {
    this.paths.set(id, path);
    this.service?.onCgroup(id, path, true);
  }
  rmdir(id: number): void {
    const path = this.paths.get(id) ?? `cgroup:${id}`;
    this.service?.onCgroup(id, path, false);
  }

  reload(c: Config): void {
    this.registry.reconfigure(this.options(c));
    this.tracker.replace(this.table.values());
    this.service?.reload(c);
  }

  group(name: string): Group {
    const g = this.registry.get(name);
    if (!g) throw new Error(`no group ${name}`);
    return g;
  }

  totals(): Map<Group, KernelTotals> {
    const out = new Map<Group, KernelTotals>();
    for (const g of this.registry.all()) out.set(g, { ...zeroTotals(), cpuNs: this.cpuNs.get(g.name) ?? 0 });
    return out;
  }

  processesOf(group: Group): ProcessInfo[] {
    const out: ProcessInfo[] = [];
    for (const p of this.table.values()) if (this.tracker.groupOf(p.pid) === group) out.push(p);
    return out.sort((a, b) => a.startNs - b.startNs);
  }

  /** Applies a record as Agent.onBatch does and hands it to the service. */
  deliver(e: RawEvent): RawEvent {
    const change = this.table.apply(e);
    const notices = this.tracker.apply(e, change);
    this.service?.onEvent(e, notices);
    return e;
  }

  private record(type: number, pid: number, fields: Partial<RawEvent> = {}): RawEvent {
    const e = new RawEvent();
    e.type = type;
    e.pid = pid;
    e.tid = pid;
    this.bootNs += 1000;
    e.ts = this.bootNs;
    Object.assign(e, fields);
    return e;
  }

  fork(parent: number, child: number, cgroupId: number, comm = 'sh'): RawEvent {
    return this.deliver(this.record(EventType.FORK, child, { ppid: parent, cgroupId, comm, startNs: this.bootNs + 1000 }));
  }

  thread(pid: number, kind: 'fork' | 'exit'): RawEvent {
    const p = this.table.get(pid)!;
    return this.deliver(this.record(kind === 'fork' ? EventType.FORK : EventType.EXIT, pid, { flags: Flags.THREAD, cgroupId: p.cgroupId }));
  }

  /** `status` as wait(2) gives it: exit code << 8, or the signal number. */
  exit(pid: number, status = 0, cpuNs = 0): RawEvent {
    const p = this.table.get(pid);
    return this.deliver(this.record(EventType.EXIT, pid, { status, cpuNs, cgroupId: p?.cgroupId ?? 0, startNs: p?.startNs ?? 0 }));
  }

  migrate(pid: number, cgroupId: number): RawEvent {
    const p = this.table.get(pid);
    return this.deliver(this.record(EventType.MIGRATE, pid, { cgroupId, ppid: p?.ppid ?? 1, startNs: p?.startNs ?? 0, flags: Flags.THREADGROUP }));
  }
}

/** cgroupfs and kill, in memory. */
export class FakeIO implements BeancounterIO {
  readonly memory = new Map<string, number>();
  readonly refused = new Map<string, number>();
  readonly frozen = new Map<string, boolean>();
  readonly writes: string[] = [];
  readonly killed: number[] = [];
  /** pids kill() reports as already gone. */
  readonly gone = new Set<number>();
  failFreeze = false;

  memoryBytes(cg: string): number | undefined {
    return this.memory.get(cg);
  }
  refusals(cg: string, kind: RefusalKind): number | undefined {
    return this.refused.get(`${kind}:${cg}`);
  }
  setFrozen(cg: string, frozen: boolean): void {
    if (this.failFreeze) throw new Error(`EACCES: permission denied, open '/sys/fs/cgroup${cg}/cgroup.freeze'`);
    this.frozen.set(cg, frozen);
    this.writes.push(`${cg}=${frozen ? 1 : 0}`);
  }
  /** Every cgroup exists, with id 1; cgroup.freeze's mtime is its count of writes. */
  freezeState(cg: string): FreezeState {
    return { id: '1', frozen: this.frozen.get(cg) === true, writtenNs: String(this.writes.filter((w) => w.startsWith(`${cg}=`)).length) };
  }
  /** Limit files by path ("/a/pids.max"); a cgroup has a limit file only once a test puts one here. */
  readonly limits = new Map<string, { id: string; value: string; writes: number }>();
  /** Limit files whose writes fail with EACCES. */
  readonly readOnly = new Set<string>();
  limitFile(cg: string, knob: LimitKnob): string | undefined {
    const f = `${cg}/${knob}`;
    return this.limits.has(f) ? f : undefined;
  }
  limitPlaces(cg: string, knob: LimitKnob): string[] {
    return [`${cg}/${knob}`];
  }
  /** The mtime of a limit file is its count of writes. */
  limitState(file: string): LimitState | undefined {
    const l = this.limits.get(file);
    return l === undefined ? undefined : { id: l.id, value: l.value, writtenNs: String(l.writes) };
  }
  writeLimit(file: string, value: string): void {
    const l = this.limits.get(file);
    if (l === undefined) throw new Error(`ENOENT: no such file or directory, open '${file}'`);
    if (this.readOnly.has(file)) throw new Error(`EACCES: permission denied, open '${file}'`);
    l.value = value;
    l.writes++;
    this.writes.push(`${file}=${value}`);
  }
  /** Start times the kills named, by pid. */
  readonly killedStart = new Map<number, number>();
  kill(pid: number, startNs: number): boolean {
    if (this.gone.has(pid)) return false;
    this.killed.push(pid);
    this.killedStart.set(pid, startNs);
    return true;
  }
}

export class FakeHooks {
  readonly runs: HookRequest[] = [];
  closed = false;
  run(request: HookRequest): HookHandle {
    this.runs.push(request);
    return { key: `${request.group}/${request.resource}`, coalesced: false, done: Promise.resolve({ status: 'ok', exitCode: 0, signal: null, request }) };
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

export class RecordingLog implements Logger {
  readonly lines: string[] = [];
  debug = (m: string) => void this.lines.push(`debug: ${m}`);
  info = (m: string) => void this.lines.push(`info: ${m}`);
  warn = (m: string) => void this.lines.push(`warn: ${m}`);
  error = (m: string) => void this.lines.push(`error: ${m}`);
}

/** Everything a unit test needs, wired. */
export function harness(
  yaml: string,
  opts: { cgroups?: Record<number, string>; seed?: Parameters<FakeHost['seed']>[0]; sink?: AccountingSink; io?: FakeIO } = {},
) {
  const clock = new Clock();
  // An accounting log unless the test says otherwise; its records land in `records`.
  const cfg = config(yaml.includes('accounting:') ? yaml : `${yaml}\naccounting:\n  log: { path: /var/log/forkwatch-test.log }\n`);
  const host = new FakeHost(cfg, clock, opts.cgroups);
  if (opts.seed) host.seed(opts.seed);
  const io = opts.io ?? new FakeIO();
  const hooks = new FakeHooks();
  const events: AgentEvent[] = [];
  const records: unknown[] = [];
  const log = new RecordingLog();
  const service = new BeancounterService({
    host,
    config: cfg,
    bus: { publish: (e) => void events.push(e) },
    hooks,
    io,
    log,
    now: clock.now,
    openLog: () => opts.sink ?? { append: (r) => void records.push(r) },
    defer: (fn) => fn(),
  });
  host.service = service;
  const row = (group: string, resource: string) => service.apiRows().find((r) => r.group === group && r.resource === resource);
  const tick = (ms = 1000) => {
    clock.advance(ms);
    service.onTick(clock.now());
  };
  return { clock, host, io, hooks, events, records, log, service, row, tick };
}
