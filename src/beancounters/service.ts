/**
 * Beancounters in the running agent: feeds the GroupLedger (model/) from what the agent sees, runs
 * the actions the ledger plans (actions.ts), and writes a release record when a group's last
 * process exits.
 *
 * Where each reading comes from:
 * - tasks, threads: the kernel record that changed them, in onEvent, so a fork that crosses a
 *   barrier is acted on in the same wake-up that delivered it (milliseconds, not the next tick);
 * - forks_per_second: every fork record; the once-a-second tick lets the rate fall when forks stop;
 * - cpu_cores, memory_bytes and the kernel's own refusals: once a second (readings.ts).
 *
 * Nothing here blocks on a child process: hooks start after the batch of records (the agent runs
 * them from a worker thread, hook-thread.ts), and kill and freeze are single syscalls.
 *
 * I/O goes through BeancounterIO (cgroup-actions.ts), hooks through a runner, events onto a bus:
 * everything is passed in, so tests drive this with fakes and made-up kernel records.
 */
import type { Config } from '../config/types.js';
import type { RawEvent } from '../events/decode.js';
import { decodeWaitStatus } from '../events/exit-status.js';
import { EventType, Flags } from '../events/layout.js';
import type { Group } from '../groups/registry.js';
import type { GroupNotice } from '../groups/tracker.js';
import type { Logger } from '../log.js';
import { Actions } from './actions.js';
import { Enforcer, limitsOf, type LimitTarget } from './enforcer.js';
import { Freezer } from './freezer.js';
import { GroupCgroups, isOverflow, newState, outermost, type GroupState } from './group-state.js';
import { GroupLedger, type BeancounterRow } from './model/ledger.js';
import { exitOutcome } from './model/release.js';
import { Readings } from './readings.js';
import { AccountingRecords } from './records.js';
import type { BeancounterDeps, BeancounterHost, BeancounterSample } from './types.js';

export type { AccountingSink, BeancounterDeps, BeancounterHost, BeancounterSample, CrossingEvent, Hooks, ReleaseEvent } from './types.js';
export { outermost } from './group-state.js';

/** Beancounters of the agent's groups; an AgentListener. */
export class BeancounterService {
  readonly #host: BeancounterHost;
  readonly #hooks: BeancounterDeps['hooks'];
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #ledger: GroupLedger;
  readonly #freezer: Freezer;
  readonly #enforcer: Enforcer;
  /** Whether any rule asks for `enforce` (a cgroup made needs a look only then). */
  #enforcing = false;
  readonly #records: AccountingRecords;
  readonly #cgroups: GroupCgroups;
  readonly #actions: Actions;
  readonly #readings: Readings;
  readonly #states = new Map<string, GroupState>();
  #config: Config;
  #lastBugAt = -Infinity;
  #bugsUnlogged = 0;

  constructor(deps: BeancounterDeps) {
    this.#host = deps.host;
    this.#hooks = deps.hooks;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    this.#config = deps.config;
    this.#freezer = deps.freezer ?? new Freezer(deps.io, undefined, deps.log);
    this.#enforcer = deps.enforcer ?? new Enforcer(deps.io, undefined, deps.log);
    this.#ledger = new GroupLedger({
      // Each group is configured with its effective resources (defaults already merged in by the
      // registry, cleared ones removed), so the ledger needs no defaults of its own.
      defaults: {},
      clock: this.#now,
      period_ms: periodMs(deps.config),
      forks_window_ms: deps.forksWindowMs,
      cpu_window_ms: deps.cpuWindowMs,
    });
    this.#records = new AccountingRecords(deps.openLog, deps.log);
    this.#cgroups = new GroupCgroups(deps.host);
    this.#actions = new Actions({
      host: deps.host,
      bus: deps.bus,
      hooks: deps.hooks,
      io: deps.io,
      log: deps.log,
      now: this.#now,
      defer: deps.defer ?? ((fn) => void setImmediate(fn)),
      freezer: this.#freezer,
      records: this.#records,
      cgroups: this.#cgroups,
      countKill: (group) => this.#ledger.addRefusals(group, 'tasks', 1),
    });
    this.#readings = new Readings({
      host: deps.host,
      io: deps.io,
      ledger: this.#ledger,
      log: deps.log,
      actions: this.#actions,
      cgroups: this.#cgroups,
      state: (name) => this.#states.get(name),
      enforced: (group) => (this.#enforcing ? this.#enforcer.cgroupsOf(group) : []),
    });
    this.#records.configure(deps.config.accounting.log);
    const now = this.#now();
    for (const g of this.#host.registry.all()) {
      const st = this.#state(g);
      if (g.tasks > 0) this.#cgroups.startLife(st, undefined, now);
      this.#observeCounts(st, now, undefined);
    }
    this.#guard('setting kernel limits', () => this.#syncLimits(now));
    // The kernel's refusal counters of the cgroups there now: what they hold is from before us.
    this.#readings.readCgroups(new Set(this.#states.values()), now);
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
          this.#actions.actAll(st, this.#ledger.observe(g.name, 'threads', g.threads, now), e);
        }
      }
      return;
    }
    const now = this.#now();
    for (const n of notices) {
      const g = n.group;
      const st = this.#state(g);
      if (n.kind === 'entered') {
        const life = st.life ?? this.#cgroups.startLife(st, n.process.cgroupId, now);
        const fork = e.type === EventType.FORK;
        if (fork) life.created();
        life.tasks(g.tasks);
        this.#observeCounts(st, now, e);
        if (fork) this.#actions.actAll(st, this.#ledger.recordForks(g.name, now), e);
        if (st.killLimit !== undefined) this.#actions.enforceKill(st, fork ? n.process.pid : undefined);
      } else {
        st.killed.delete(n.process.pid);
        this.#observeCounts(st, now, e);
        if (n.status !== null) {
          const exit = decodeWaitStatus(n.status);
          st.life?.exited(exitOutcome(exit.code, exit.signal));
          st.life?.addCpuSeconds(n.cpuS ?? 0);
          if (g.tasks === 0) this.#actions.release(st, now);
        }
      }
    }
  }

  /**
   * A cgroup was made (its mkdir record) or removed. A new cgroup of a group with `enforce` gets
   * its limits now, before its first processes fork much (unless an ancestor of the same group
   * already holds them: the kernel's limits are hierarchical).
   */
  onCgroup(_id: number, path: string, made: boolean): void {
    if (!this.#enforcing && made) return;
    this.#guard('setting kernel limits', () => {
      if (!made) return this.#enforcer.removed(path);
      const now = this.#now();
      for (const t of this.#limitTargets([path])) if (!this.#enforcer.coveredBy(t)) this.#enforcer.apply(t, now);
    });
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
    for (const c of this.#ledger.tick(now)) this.#actions.act(this.#states.get(c.group), c, undefined);
    // A throw here would end the agent (this runs in its timer): each stage fails on its own.
    this.#guard('CPU sampling', () => this.#readings.sampleCpu(live, now));
    this.#guard('cgroupfs readings', () => this.#readings.readCgroups(live, now));
    this.#guard('the accounting log', () => this.#records.flush());
    if (this.#enforcing) this.#guard('setting kernel limits', () => this.#enforcer.retry(now));
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
    this.#records.configure(config.accounting.log);
    const now = this.#now();
    // New thresholds are judged against held at once: a limit lowered under it acts now.
    for (const g of this.#host.registry.all()) this.#observeCounts(this.#state(g), now, undefined);
    this.#guard('setting kernel limits', () => this.#syncLimits(now));
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

  /** Thaws what the `freeze` action froze, restores the limits `enforce` replaced, and stops the hooks (running ones are killed). */
  close(): Promise<void> {
    this.#guard('thawing at stop', () => this.#freezer.stop());
    this.#guard('restoring kernel limits at stop', () => this.#enforcer.stop());
    return this.#hooks.close();
  }

  // ---- groups ------------------------------------------------------------------------------

  /** Every known cgroup's kernel limits made what the config asks (start, reload). */
  #syncLimits(now: number): void {
    this.#enforcing = this.#config.groups.rules.some((r) => limitsOf(r.resources).length > 0);
    const paths: string[] = [];
    if (this.#enforcing) for (const [, p] of this.#host.source.names.entries()) paths.push(p);
    this.#enforcer.sync(this.#limitTargets(paths), now);
  }

  /** The limits `enforce` asks for on these cgroups: per group and limit, on the outermost only. */
  #limitTargets(paths: Iterable<string>): LimitTarget[] {
    const byGroupKnob = new Map<string, { group: string; knob: LimitTarget['knob']; value: number; paths: string[] }>();
    for (const p of paths) {
      if (p === '/' || !p.startsWith('/')) continue; // the root has no limits; unnamed ids are not paths
      const rule = this.#host.registry.ruleOfCgroup(p);
      if (rule === undefined) continue;
      const resources = this.#host.registry.get(rule.name)?.resources ?? rule.resources;
      for (const { knob, value } of limitsOf(resources)) {
        const k = `${rule.name}\0${knob}`;
        let e = byGroupKnob.get(k);
        if (e === undefined) byGroupKnob.set(k, (e = { group: rule.name, knob, value, paths: [] }));
        e.paths.push(p);
      }
    }
    const out: LimitTarget[] = [];
    for (const e of byGroupKnob.values()) for (const cgroup of outermost(e.paths)) out.push({ group: e.group, cgroup, knob: e.knob, value: e.value });
    return out;
  }

  /** The state of a group, configuring the ledger when the group is new or its resources changed. */
  #state(g: Group): GroupState {
    let st = this.#states.get(g.name);
    if (st === undefined || st.group !== g) {
      if (st !== undefined) this.#ledger.forget(g.name); // same name, new group: start over
      st = newState(g);
      this.#states.set(g.name, st);
    }
    if (st.resources !== g.resources) {
      st.resources = g.resources;
      const tasks = g.resources.tasks;
      st.killLimit = tasks?.limit !== undefined && tasks.on_limit.some((a) => a.kind === 'kill') && !isOverflow(g) ? tasks.limit : undefined;
      this.#actions.actAll(st, this.#ledger.configure(g.name, g.resources, { killsWithheld: isOverflow(g) }), undefined);
    }
    return st;
  }

  #observeCounts(st: GroupState, now: number, cause: RawEvent | undefined): void {
    const g = st.group;
    this.#actions.actAll(st, this.#ledger.observe(g.name, 'tasks', g.tasks, now), cause);
    this.#actions.actAll(st, this.#ledger.observe(g.name, 'threads', g.threads, now), cause);
  }
}

function periodMs(config: Config): number | null {
  return config.accounting.period_s === null ? null : config.accounting.period_s * 1000;
}
