/**
 * Beancounters in the running agent: feeds the GroupLedger (src/accounting) from what the agent
 * sees, runs the actions the ledger plans, and writes a release record when a group's last process
 * exits.
 *
 * Where each reading comes from:
 * - tasks, threads: the kernel record that changed them, in onEvent, so a fork that crosses a
 *   barrier is acted on in the same wake-up that delivered it (milliseconds, not the next tick);
 * - forks_per_second: every fork record; the once-a-second tick lets the rate fall when forks stop;
 * - cpu_cores: the agent's per-group CPU totals, once a second;
 * - memory_bytes and the kernel's own refusals (pids.events / memory.events `max`, added to
 *   failcnt): cgroupfs, once a second, for groups of whole cgroups only. Refusals are read for the
 *   groups that have thresholds on that resource or a rule of their own; reading every cgroup on
 *   the host each second would cost more than the counters are worth.
 *
 * Nothing here blocks on a child process: hooks start after the batch of records (the agent runs
 * them from a worker thread, hook-thread.ts), and kill and freeze are single syscalls.
 *
 * I/O goes through BeancounterIO (cgroupfs.ts), hooks through a runner, events onto a bus:
 * everything is passed in, so tests drive this with fakes and made-up kernel records.
 */
import { GroupLedger, hookEvent, type BeancounterRow, type LedgerCrossing } from '../accounting/ledger.js';
import type { HookRequest } from '../accounting/hooks.js';
import { exitOutcome, GroupLife, type ReleaseRecord } from '../accounting/release.js';
import type { Config, ResourceLimits, ResourceName, ResourceSpec } from '../config/types.js';
import type { RawEvent } from '../events/decode.js';
import { decodeWaitStatus } from '../events/exit-status.js';
import { EventType, Flags } from '../events/layout.js';
import { OVERFLOW_GROUP, type Group, type KernelTotals } from '../groups/registry.js';
import type { GroupNotice } from '../groups/tracker.js';
import type { Logger } from '../log.js';
import type { BeancounterSample } from '../metrics/registry.js';
import type { ProcessInfo } from '../process/table.js';
import type { AgentEvent } from '../stream/bus.js';
import type { BeancounterIO, RefusalKind } from './cgroupfs.js';
import { Freezer } from './freezer.js';

/** What the service reads from the agent; src/agent.ts's Agent fits it. */
export interface BeancounterHost {
  readonly registry: { all(): Iterable<Group>; get(name: string): Group | undefined };
  readonly tracker: { groupOf(pid: number): Group | undefined };
  readonly table: { values(): Iterable<ProcessInfo>; get(pid: number): ProcessInfo | undefined };
  readonly source: {
    readonly names: { path(id: number): string; idOf(path: string): number | undefined; entries(): Iterable<[number, string]> };
    readonly clock: { iso(bootNs: number): string };
  };
  totals(): Map<Group, KernelTotals>;
  processesOf(group: Group): ProcessInfo[];
}

/** Where crossing and release records are appended (NdjsonLog fits). */
export interface AccountingSink {
  append(record: unknown): void;
  /** Writes records that wait for a failing log (called once a second). */
  flush?(): void;
}

/** The hook runner as the service uses it (HookRunner and ThreadedHooks fit). */
export interface Hooks {
  run(request: HookRequest): unknown;
  close(): Promise<void>;
}

/** A crossing as published on the bus and written to the accounting log. */
export interface CrossingEvent extends AgentEvent {
  type: 'barrier' | 'limit';
  time: string;
  group: string;
  resource: ResourceName;
  held: number;
  barrier: number | null;
  limit: number | null;
  direction: 'up' | 'down';
  /** The process whose fork, exit or move caused it, and the kernel's time of that record. */
  pid?: number;
  kernel_time?: string;
}

export interface BeancounterDeps {
  host: BeancounterHost;
  config: Config;
  bus: { publish(e: AgentEvent): void };
  hooks: Hooks;
  io: BeancounterIO;
  log: Logger;
  /** Wall-clock ms; default Date.now. */
  now?: () => number;
  /** Opens the accounting log of the config (default: NdjsonLog, given by run-agent). */
  openLog?: (opts: NonNullable<Config['accounting']['log']>) => AccountingSink;
  /**
   * Runs hook starts after the current batch of records (default setImmediate): spawning a child
   * costs the agent milliseconds, and the crossings later in the batch must not wait for it.
   */
  defer?: (fn: () => void) => void;
  /**
   * Freezes and thaws for the `freeze` action, with the record that outlives the agent (run-agent
   * gives one that has already thawed what a crashed agent left). Default: one without a record.
   */
  freezer?: Freezer;
  /** Passed to the ledger; tests shorten them. */
  forksWindowMs?: number;
  cpuWindowMs?: number;
}

interface GroupState {
  group: Group;
  /** The resources object last given to the ledger (the registry replaces it on reload). */
  resources: ResourceLimits | undefined;
  /** The tasks limit, when reaching it calls for `kill`. */
  killLimit: number | undefined;
  /** Processes SIGKILLed whose exit has not been seen yet: they still count in tasks. */
  killed: Set<number>;
  killedSinceTick: number;
  life: GroupLife | undefined;
  /** The group's outermost cgroups, as of the last tick that looked (kept while it has no process). */
  cgroups: string[];
}

const hasThreshold = (spec: ResourceSpec | undefined): boolean => spec !== undefined && (spec.barrier !== undefined || spec.limit !== undefined);
const literalPath = (p: string): boolean => p.startsWith('/') && !/[*?]/.test(p);

/** Keeps only the outermost of a set of cgroup paths (memory and freeze are hierarchical). */
export function outermost(paths: Iterable<string>): string[] {
  const sorted = [...new Set(paths)].sort((a, b) => a.length - b.length || a.localeCompare(b));
  const out: string[] = [];
  for (const p of sorted) if (!out.some((a) => a === '/' || p === a || p.startsWith(a + '/'))) out.push(p);
  return out;
}

/** Beancounters of the agent's groups; an AgentListener. */
export class BeancounterService {
  readonly #host: BeancounterHost;
  readonly #bus: BeancounterDeps['bus'];
  readonly #hooks: Hooks;
  readonly #io: BeancounterIO;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #openLog: BeancounterDeps['openLog'];
  readonly #defer: (fn: () => void) => void;
  readonly #ledger: GroupLedger;
  readonly #freezer: Freezer;
  readonly #states = new Map<string, GroupState>();
  /** cgroups that existed when the agent started: their kernel counters' history is not ours. */
  readonly #preexisting: Set<number>;
  #config: Config;
  #sink: AccountingSink | undefined;
  #sinkKey = '';
  #lastBugAt = -Infinity;
  #bugsUnlogged = 0;

  constructor(deps: BeancounterDeps) {
    this.#host = deps.host;
    this.#bus = deps.bus;
    this.#hooks = deps.hooks;
    this.#io = deps.io;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    this.#openLog = deps.openLog;
    this.#defer = deps.defer ?? ((fn) => void setImmediate(fn));
    this.#config = deps.config;
    this.#freezer = deps.freezer ?? new Freezer(deps.io, undefined, deps.log);
    this.#ledger = new GroupLedger({
      // Each group is configured with its effective resources (defaults already merged in by the
      // registry, cleared ones removed), so the ledger needs no defaults of its own.
      defaults: {},
      clock: this.#now,
      period_ms: periodMs(deps.config),
      forks_window_ms: deps.forksWindowMs,
      cpu_window_ms: deps.cpuWindowMs,
    });
    this.#preexisting = new Set([...this.#host.source.names.entries()].map(([id]) => id));
    this.#openSink();
    const now = this.#now();
    for (const g of this.#host.registry.all()) {
      const st = this.#state(g);
      if (g.tasks > 0) this.#startLife(st, undefined, now);
      this.#observeCounts(st, now, undefined);
    }
    // The kernel's refusal counters of the cgroups there now: what they hold is from before us.
    this.#readCgroups(new Set(this.#states.values()), now);
  }

  /** Every kernel record, right after the agent updated its groups. */
  onEvent(e: RawEvent, notices: GroupNotice[]): void {
    // A throw would reach the ring buffer's callback and end the agent; a bug here costs only
    // the beancounters of this record.
    try {
      this.#onEvent(e, notices);
    } catch (err) {
      this.#bug('a kernel record', err);
    }
  }

  #onEvent(e: RawEvent, notices: GroupNotice[]): void {
    if (notices.length === 0) {
      // Threads come and go without group notices; their group is their process's.
      if ((e.flags & Flags.THREAD) !== 0 && (e.type === EventType.FORK || e.type === EventType.EXIT)) {
        const g = this.#host.tracker.groupOf(e.pid);
        if (g !== undefined) {
          const now = this.#now();
          const st = this.#state(g);
          this.#actAll(st, this.#ledger.observe(g.name, 'threads', g.threads, now), e);
        }
      }
      return;
    }
    const now = this.#now();
    for (const n of notices) {
      const g = n.group;
      const st = this.#state(g);
      if (n.kind === 'entered') {
        const life = st.life ?? this.#startLife(st, n.process.cgroupId, now);
        const fork = e.type === EventType.FORK;
        if (fork) life.created();
        life.tasks(g.tasks);
        this.#observeCounts(st, now, e);
        if (fork) this.#actAll(st, this.#ledger.recordForks(g.name, now), e);
        if (st.killLimit !== undefined) this.#enforceKill(st, fork ? n.process.pid : undefined);
      } else {
        st.killed.delete(n.process.pid);
        this.#observeCounts(st, now, e);
        if (n.status !== null) {
          const exit = decodeWaitStatus(n.status);
          st.life?.exited(exitOutcome(exit.code, exit.signal));
          st.life?.addCpuSeconds(n.cpuS ?? 0);
          if (g.tasks === 0) this.#release(st, now);
        }
      }
    }
  }

  /** Once a second: rates, CPU, cgroupfs readings, and groups that changed without an event. */
  onTick(now: number = this.#now()): void {
    const live = new Set<GroupState>();
    for (const g of this.#host.registry.all()) {
      const st = this.#state(g);
      live.add(st);
      // Seeded processes and reloads change counts without a notice; this catches them up.
      this.#observeCounts(st, now, undefined);
    }
    for (const [name, st] of this.#states) {
      if (live.has(st)) continue;
      // Evicted by the registry: its counters go with it.
      this.#states.delete(name);
      this.#ledger.forget(name);
    }
    for (const c of this.#ledger.tick(now)) this.#act(this.#states.get(c.group), c, undefined);
    // A throw here would end the agent (this runs in its timer): each stage fails on its own.
    this.#guard('CPU sampling', () => this.#sampleCpu(live, now));
    this.#guard('cgroupfs readings', () => this.#readCgroups(live, now));
    this.#guard('the accounting log', () => this.#sink?.flush?.());
    for (const st of live) {
      for (const pid of st.killed) if (this.#host.table.get(pid) === undefined) st.killed.delete(pid);
      if (st.killedSinceTick > 0) {
        this.#log.warn(`group ${st.group.name}: killed ${st.killedSinceTick} processes above its tasks limit ${st.killLimit ?? ''}`.trim());
        st.killedSinceTick = 0;
      }
    }
  }

  /** Runs one stage of the tick; a bug in it is logged with its stack and the tick goes on. */
  #guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#bug(what, err);
    }
  }

  /** Logs a bug with its stack, at most once a second (one per record would flood the log). */
  #bug(what: string, err: unknown): void {
    const now = this.#now();
    if (now - this.#lastBugAt < 1000) {
      this.#bugsUnlogged++;
      return;
    }
    const more = this.#bugsUnlogged > 0 ? ` (and ${this.#bugsUnlogged} more failures since the last one logged)` : '';
    this.#lastBugAt = now;
    this.#bugsUnlogged = 0;
    this.#log.error(`beancounters: ${what} failed${more}: ${(err as Error)?.stack ?? String(err)}`);
  }

  /** Applies a reloaded config (after the agent's own reload re-placed the groups). */
  reload(config: Config): void {
    const before = periodMs(this.#config);
    this.#config = config;
    const after = periodMs(config);
    if (before !== after) this.#ledger.setPeriod(after, this.#now());
    this.#openSink();
    const now = this.#now();
    // New thresholds are judged against held at once: a limit lowered under it acts now.
    for (const g of this.#host.registry.all()) this.#observeCounts(this.#state(g), now, undefined);
  }

  /** Rows for the metrics snapshot. */
  rows(): BeancounterSample[] {
    return this.#ledger.rows(this.#now()).map((r) => ({
      group: r.group,
      resource: r.resource,
      held: r.held,
      maxheld: r.maxheld,
      minheld: r.minheld,
      barrier: r.barrier ?? undefined,
      limit: r.limit ?? undefined,
      barrierHits: r.barrierHits,
      failcnt: r.failcnt,
    }));
  }

  /** Rows for /api/beancounters (`forkwatch beancounters`): null where a threshold is unset. */
  apiRows(): BeancounterRow[] {
    return this.#ledger.rows(this.#now());
  }

  /** Thaws what the `freeze` action froze, and stops the hooks (running ones are killed). */
  close(): Promise<void> {
    this.#guard('thawing at stop', () => this.#freezer.stop());
    return this.#hooks.close();
  }

  // ---- groups ------------------------------------------------------------------------------

  /** The state of a group, configuring the ledger when the group is new or its resources changed. */
  #state(g: Group): GroupState {
    let st = this.#states.get(g.name);
    if (st === undefined || st.group !== g) {
      if (st !== undefined) this.#ledger.forget(g.name); // same name, new group: start over
      st = { group: g, resources: undefined, killLimit: undefined, killed: new Set(), killedSinceTick: 0, life: undefined, cgroups: [] };
      this.#states.set(g.name, st);
    }
    if (st.resources !== g.resources) {
      st.resources = g.resources;
      const tasks = g.resources.tasks;
      st.killLimit = tasks?.limit !== undefined && tasks.on_limit.some((a) => a.kind === 'kill') && !isOverflow(g) ? tasks.limit : undefined;
      this.#actAll(st, this.#ledger.configure(g.name, g.resources), undefined);
    }
    return st;
  }

  #observeCounts(st: GroupState, now: number, cause: RawEvent | undefined): void {
    const g = st.group;
    this.#actAll(st, this.#ledger.observe(g.name, 'tasks', g.tasks, now), cause);
    this.#actAll(st, this.#ledger.observe(g.name, 'threads', g.threads, now), cause);
  }

  #startLife(st: GroupState, cgroupId: number | undefined, now: number): GroupLife {
    const cgroup = this.#cgroupOf(st, cgroupId);
    st.life = new GroupLife(st.group.name, now, cgroup === undefined ? {} : { cgroup });
    st.life.tasks(st.group.tasks);
    return st.life;
  }

  /** The one cgroup a hook or a record names for a group. */
  #cgroupOf(st: GroupState, cgroupId?: number): string | undefined {
    const g = st.group;
    if (g.byCgroup && literalPath(g.cgroup)) return g.cgroup;
    if (st.cgroups.length > 0) return st.cgroups[0];
    if (cgroupId !== undefined) return this.#host.source.names.path(cgroupId);
    return g.cgroup === '' ? undefined : g.cgroup;
  }

  /** The group's outermost cgroups now: those of its live processes, and its rule's literal path. */
  #cgroupsNow(st: GroupState, ids?: Set<number>): string[] {
    if (ids === undefined) {
      ids = new Set();
      for (const p of this.#host.processesOf(st.group)) ids.add(p.cgroupId);
    }
    const names = [...ids].map((id) => this.#host.source.names.path(id)).filter((p) => p.startsWith('/'));
    if (literalPath(st.group.cgroup)) names.push(st.group.cgroup);
    const tops = outermost(names);
    if (tops.length > 0) st.cgroups = tops;
    return st.cgroups;
  }

  // ---- release -----------------------------------------------------------------------------

  #release(st: GroupState, now: number): void {
    const life = st.life ?? this.#startLife(st, undefined, now);
    st.life = undefined;
    const record = life.finish(now);
    // Every short-lived unit and session releases its group; only configured ones are news.
    (st.group.configured ? this.#log.info : this.#log.debug).call(
      this.#log,
      `release: group ${record.group}: ${record.processes} processes, exits ${record.exits.success} ok / ${record.exits.failure} failed / ${record.exits.signaled} signaled, ${record.cpu_s} s CPU, at most ${record.max_tasks} tasks`,
    );
    this.#bus.publish({ ...record, time: record.end });
    this.#append(record);
    const hook = st.group.rule?.on_release;
    if (hook !== undefined) {
      this.#runHook({
        group: record.group,
        resource: '',
        event: 'release',
        held: 0,
        cgroup: record.cgroup,
        command: hook.command,
        timeout_s: hook.timeout_s,
        env: releaseEnv(record),
      });
    }
  }

  // ---- actions -----------------------------------------------------------------------------

  #actAll(st: GroupState | undefined, crossings: readonly LedgerCrossing[], cause: RawEvent | undefined): void {
    for (let i = 0; i < crossings.length; i++) this.#act(st, crossings[i], cause);
  }

  /** Runs the planned actions of one crossing; an action that fails is logged and the rest still run. */
  #act(st: GroupState | undefined, c: LedgerCrossing, cause: RawEvent | undefined): void {
    // `other` mixes every workload beyond max_groups, whoever made it: acting on it would hit
    // processes that are not the ones the thresholds were written for. Only the event goes out.
    const overflow = st !== undefined && isOverflow(st.group);
    let withheld: string[] | undefined;
    for (const a of c.actions) {
      if (overflow && a.kind !== 'event') {
        if (a.kind !== 'thaw') (withheld ??= []).push(a.kind);
        continue;
      }
      try {
        switch (a.kind) {
          case 'event':
            this.#announce(c, cause);
            break;
          case 'exec':
            this.#runHook({
              group: c.group,
              resource: c.resource,
              event: hookEvent(c),
              held: c.held,
              barrier: c.barrier,
              limit: c.limit,
              cgroup: st === undefined ? undefined : this.#cgroupOf(st),
              command: a.command,
              timeout_s: a.timeout_s,
            });
            break;
          case 'kill':
            // A fork that crossed the limit names the newest process itself.
            if (st !== undefined) this.#enforceKill(st, cause?.type === EventType.FORK && (cause.flags & Flags.THREAD) === 0 ? cause.pid : undefined);
            break;
          case 'freeze':
          case 'thaw':
            if (st !== undefined) this.#freeze(st, a.kind === 'freeze');
            break;
        }
      } catch (err) {
        this.#log.warn(`group ${c.group}: ${c.resource} ${c.kind} ${c.direction}: ${a.kind} failed: ${(err as Error).message}`);
      }
    }
    if (withheld !== undefined && c.direction === 'up') {
      this.#log.warn(
        `group ${c.group}: ${withheld.join(', ')} not run: "${OVERFLOW_GROUP}" is the overflow of every group beyond group_settings.max_groups (anyone who can make cgroups can fill it), so actions never apply to it`,
      );
    }
  }

  #runHook(request: HookRequest): void {
    // HookRunner never throws and logs its own trouble.
    this.#defer(() => void this.#hooks.run(request));
  }

  #announce(c: LedgerCrossing, cause: RawEvent | undefined): void {
    const event: CrossingEvent = {
      type: c.kind,
      time: new Date(this.#now()).toISOString(),
      group: c.group,
      resource: c.resource,
      held: c.held,
      barrier: c.barrier ?? null,
      limit: c.limit ?? null,
      direction: c.direction,
    };
    if (cause !== undefined) {
      event.pid = cause.pid;
      event.kernel_time = this.#host.source.clock.iso(cause.ts);
    }
    this.#bus.publish(event);
    const threshold = c.kind === 'barrier' ? c.barrier : c.limit;
    const msg = `group ${c.group}: ${c.resource} ${c.direction === 'up' ? 'above' : 'back at or below'} its ${c.kind} ${threshold} (held ${round(c.held)})`;
    if (c.kind === 'limit' && c.direction === 'up') this.#log.warn(msg);
    else this.#log.info(msg);
    this.#append(event);
  }

  /**
   * Keeps a group with `kill` at or below its tasks limit: SIGKILLs the newest processes above it.
   * Runs on the limit crossing and then on every process that enters while the group is still
   * full, since tasks stay above the limit (and so cross nothing) until the exits are seen.
   */
  #enforceKill(st: GroupState, newcomer: number | undefined): void {
    const limit = st.killLimit;
    if (limit === undefined) return;
    let excess = st.group.tasks - st.killed.size - limit;
    if (excess <= 0) return;
    // The common case under a fork storm: the fork that just arrived is the newest process.
    const fresh = newcomer === undefined ? undefined : this.#host.table.get(newcomer);
    if (fresh !== undefined && excess === 1 && this.#killable(fresh.pid)) {
      this.#kill(st, fresh);
      return;
    }
    const victims = this.#host.processesOf(st.group).filter((p) => !st.killed.has(p.pid) && this.#killable(p.pid));
    for (let i = victims.length - 1; i >= 0 && excess > 0; i--, excess--) this.#kill(st, victims[i]);
  }

  #killable(pid: number): boolean {
    return pid > 1 && pid !== process.pid;
  }

  /** SIGKILLs the process the table names (by pid and start time: never one that reused the pid). */
  #kill(st: GroupState, p: ProcessInfo): void {
    if (this.#io.kill(p.pid, p.startNs)) {
      st.killed.add(p.pid);
      st.killedSinceTick++;
    }
  }

  /** Freezes the group's cgroups, or thaws those this agent froze (see freezer.ts). */
  #freeze(st: GroupState, frozen: boolean): void {
    const name = st.group.name;
    if (frozen) {
      const cgroups = this.#cgroupsNow(st);
      if (cgroups.length === 0) throw new Error('the group has no cgroup to freeze');
      const done = this.#freezer.freeze(name, cgroups);
      if (done.length > 0) this.#log.warn(`group ${name}: froze ${done.join(', ')}`);
    } else {
      const done = this.#freezer.thaw(name);
      if (done.length > 0) this.#log.warn(`group ${name}: thawed ${done.join(', ')}`);
    }
  }

  // ---- periodic readings -------------------------------------------------------------------

  #sampleCpu(live: Set<GroupState>, now: number): void {
    let any = false;
    for (const st of live) if (hasThreshold(st.group.resources.cpu_cores)) any = true;
    if (!any) return; // totals() reads the kernel's counter map: only when someone needs it
    for (const [g, t] of this.#totals()) {
      if (!hasThreshold(g.resources.cpu_cores)) continue;
      const st = this.#states.get(g.name);
      if (st?.group === g) this.#actAll(st, this.#ledger.recordCpu(g.name, t.cpuNs / 1e9, now), undefined);
    }
  }

  /**
   * host.totals(), tried again when it throws. Agent.totals() (src/agent.ts) fails when a counter
   * row belongs to a group that the call itself creates (a cgroup whose first records are not
   * read yet: under cgroup churn, most seconds); each failed call leaves one such group created,
   * so a few more calls get through. Remove once Agent.totals() counts a group it creates.
   */
  #totals(): Map<Group, KernelTotals> {
    for (let attempt = 1; ; attempt++) {
      try {
        return this.#host.totals();
      } catch (err) {
        if (attempt >= 8) throw err;
      }
    }
  }

  #readCgroups(live: Set<GroupState>, now: number): void {
    const wanted = new Map<Group, { st: GroupState; memory: boolean; pids: boolean; ids: Set<number> }>();
    for (const st of live) {
      const g = st.group;
      if (!g.byCgroup) continue;
      const memory = hasThreshold(g.resources.memory_bytes);
      const pids = g.configured || hasThreshold(g.resources.tasks);
      if (memory || pids) wanted.set(g, { st, memory, pids, ids: new Set() });
    }
    if (wanted.size === 0) return;
    // One pass over the process table finds every wanted group's cgroups.
    for (const p of this.#host.table.values()) {
      const g = this.#host.tracker.groupOf(p.pid);
      if (g !== undefined) wanted.get(g)?.ids.add(p.cgroupId);
    }
    for (const w of wanted.values()) {
      const cgroups = this.#cgroupsNow(w.st, w.ids);
      const name = w.st.group.name;
      if (w.memory) {
        let sum: number | undefined;
        for (const cg of cgroups) {
          const v = this.#io.memoryBytes(cg);
          if (v !== undefined) sum = (sum ?? 0) + v;
        }
        if (sum !== undefined) this.#actAll(w.st, this.#ledger.observe(name, 'memory_bytes', sum, now), undefined);
      }
      if (w.pids) this.#refusals(name, 'tasks', 'pids', cgroups);
      if (w.memory) this.#refusals(name, 'memory_bytes', 'memory', cgroups);
    }
  }

  #refusals(group: string, resource: ResourceName, kind: RefusalKind, cgroups: string[]): void {
    for (const cg of cgroups) {
      const v = this.#io.refusals(cg, kind);
      if (v === undefined) continue;
      // A cgroup made while we watched has no history before us: all of its refusals are ours.
      const id = this.#host.source.names.idOf(cg);
      const countExisting = id !== undefined && !this.#preexisting.has(id);
      const added = this.#ledger.addKernelFailures(group, resource, v, cg, { countExisting });
      if (added > 0) this.#log.warn(`group ${group}: the kernel refused ${added} ${kind === 'pids' ? 'forks (pids.max)' : 'memory charges (memory max)'} in ${cg}`);
    }
  }

  // ---- accounting log ----------------------------------------------------------------------

  #openSink(): void {
    const opts = this.#config.accounting.log;
    const key = opts === undefined ? '' : JSON.stringify(opts);
    if (key === this.#sinkKey) return;
    this.#sinkKey = key;
    this.#sink = opts === undefined || this.#openLog === undefined ? undefined : this.#openLog(opts);
  }

  #append(record: CrossingEvent | ReleaseRecord): void {
    if (this.#sink === undefined) return;
    try {
      this.#sink.append(record);
    } catch (err) {
      this.#log.warn(`accounting log: ${(err as Error).message}`);
    }
  }
}

/** The group that holds what max_groups turned away: never a target of actions. */
function isOverflow(g: Group): boolean {
  return g.name === OVERFLOW_GROUP && !g.configured;
}

function periodMs(config: Config): number | null {
  return config.accounting.period_s === null ? null : config.accounting.period_s * 1000;
}

function round(x: number): number {
  return Number.isInteger(x) ? x : Math.round(x * 1000) / 1000;
}

/** What an on_release hook is told besides the FORKWATCH_ variables every hook gets. */
function releaseEnv(r: ReleaseRecord): Record<string, string> {
  return {
    FORKWATCH_START: r.start,
    FORKWATCH_END: r.end,
    FORKWATCH_DURATION_S: String(r.duration_s),
    FORKWATCH_PROCESSES: String(r.processes),
    FORKWATCH_MAX_TASKS: String(r.max_tasks),
    FORKWATCH_EXITS_SUCCESS: String(r.exits.success),
    FORKWATCH_EXITS_FAILURE: String(r.exits.failure),
    FORKWATCH_EXITS_SIGNALED: String(r.exits.signaled),
    FORKWATCH_CPU_S: String(r.cpu_s),
  };
}
