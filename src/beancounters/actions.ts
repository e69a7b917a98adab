/**
 * What a crossing or a release does: the event on the bus and in the accounting log, `exec`
 * hooks, `kill` above a tasks limit, `freeze` / `thaw`. Every action goes through the adapters
 * the service was given (bus, hooks, cgroup actions, freezer), so it runs in tests without root.
 */
import type { ResourceName } from '../config/types.js';
import type { RawEvent } from '../events/decode.js';
import { EventType, Flags } from '../events/layout.js';
import { OVERFLOW_GROUP } from '../groups/registry.js';
import type { Logger } from '../log.js';
import type { ProcessInfo } from '../process/table.js';
import type { BeancounterIO } from './cgroup-actions.js';
import type { Freezer } from './freezer.js';
import { isOverflow, type GroupCgroups, type GroupState } from './group-state.js';
import type { HookRequest } from './hooks.js';
import { hookEvent, type LedgerCrossing } from './model/ledger.js';
import type { ReleaseRecord } from './model/release.js';
import type { AccountingRecords } from './records.js';
import type { BeancounterDeps, BeancounterHost, CrossingEvent, Hooks } from './types.js';

export interface ActionDeps {
  host: Pick<BeancounterHost, 'table' | 'source' | 'processesOf'>;
  bus: BeancounterDeps['bus'];
  hooks: Hooks;
  io: BeancounterIO;
  log: Logger;
  now: () => number;
  defer: (fn: () => void) => void;
  freezer: Freezer;
  records: AccountingRecords;
  cgroups: GroupCgroups;
  /** Counts one refusal in a group's tasks failcnt (each process the `kill` action kills). */
  countKill: (group: string) => void;
}

export class Actions {
  constructor(private readonly d: ActionDeps) {}

  actAll(st: GroupState | undefined, crossings: readonly LedgerCrossing[], cause: RawEvent | undefined): void {
    for (let i = 0; i < crossings.length; i++) this.act(st, crossings[i], cause);
  }

  /** Runs the planned actions of one crossing; an action that fails is logged and the rest still run. */
  act(st: GroupState | undefined, c: LedgerCrossing, cause: RawEvent | undefined): void {
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
              cgroup: st === undefined ? undefined : this.d.cgroups.of(st),
              command: a.command,
              timeout_s: a.timeout_s,
            });
            break;
          case 'kill':
            // A fork that crossed the limit names the newest process itself.
            if (st !== undefined) this.enforceKill(st, cause?.type === EventType.FORK && (cause.flags & Flags.THREAD) === 0 ? cause.pid : undefined);
            break;
          case 'enforce':
            break; // a standing kernel limit (enforcer.ts), set with the config: nothing to do at a crossing
          case 'freeze':
          case 'thaw':
            if (st !== undefined) this.#freeze(st, a.kind === 'freeze');
            break;
        }
      } catch (err) {
        this.d.log.warn(`group ${c.group}: ${c.resource} ${c.kind} ${c.direction}: ${a.kind} failed: ${(err as Error).message}`);
      }
    }
    if (withheld !== undefined && c.direction === 'up') {
      this.d.log.warn(
        `group ${c.group}: ${withheld.join(', ')} not run: "${OVERFLOW_GROUP}" is the overflow of every group beyond group_settings.max_groups (anyone who can make cgroups can fill it), so actions never apply to it`,
      );
    }
  }

  /**
   * The kernel refused `n` forks or memory charges in one of a group's cgroups since the last
   * reading: a `limit` event (with `refused`, not a crossing) on the bus and in the accounting log.
   */
  refused(c: { group: string; resource: ResourceName; held: number; barrier: number | undefined; limit: number | undefined }, n: number, cgroup: string): void {
    const event = this.#event({ ...c, kind: 'limit', direction: 'up' });
    event.refused = n;
    event.cgroup = cgroup;
    this.d.bus.publish(event);
    this.d.log.warn(`group ${c.group}: the kernel refused ${n} ${c.resource === 'tasks' ? 'forks (pids.max)' : 'memory charges (memory max)'} in ${cgroup}`);
    this.d.records.append(event);
  }

  /** The group's last process exited: its life's record goes out, and its on_release hook runs. */
  release(st: GroupState, now: number): void {
    const life = st.life ?? this.d.cgroups.startLife(st, undefined, now);
    st.life = undefined;
    const record = life.finish(now);
    const log = this.d.log;
    // Every short-lived unit and session releases its group; only configured ones are news.
    const line = `release: group ${record.group}: ${record.processes} processes, exits ${record.exits.success} ok / ${record.exits.failure} failed / ${record.exits.signaled} signaled, ${record.cpu_s} s CPU, at most ${record.max_tasks} tasks`;
    if (st.group.configured) log.info(line);
    else log.debug(line);
    this.d.bus.publish({ ...record, time: record.end });
    this.d.records.append(record);
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

  /**
   * Keeps a group with `kill` at or below its tasks limit: SIGKILLs the newest processes above it.
   * Runs on the limit crossing and then on every process that enters while the group is still
   * full, since tasks stay above the limit (and so cross nothing) until the exits are seen.
   */
  enforceKill(st: GroupState, newcomer: number | undefined): void {
    const limit = st.killLimit;
    if (limit === undefined) return;
    let excess = st.group.tasks - st.killed.size - limit;
    if (excess <= 0) return;
    // The common case under a fork storm: the fork that just arrived is the newest process.
    const fresh = newcomer === undefined ? undefined : this.d.host.table.get(newcomer);
    if (fresh !== undefined && excess === 1 && killable(fresh.pid)) {
      this.#kill(st, fresh);
      return;
    }
    const victims = this.d.host.processesOf(st.group).filter((p) => !st.killed.has(p.pid) && killable(p.pid));
    for (let i = victims.length - 1; i >= 0 && excess > 0; i--, excess--) this.#kill(st, victims[i]);
  }

  #runHook(request: HookRequest): void {
    // HookRunner never throws and logs its own trouble.
    this.d.defer(() => void this.d.hooks.run(request));
  }

  /** The event of a crossing (or of the kernel's refusals), timed now. */
  #event(c: Pick<LedgerCrossing, 'kind' | 'direction' | 'group' | 'resource' | 'held' | 'barrier' | 'limit'>): CrossingEvent {
    return {
      type: c.kind,
      time: new Date(this.d.now()).toISOString(),
      group: c.group,
      resource: c.resource,
      held: c.held,
      barrier: c.barrier ?? null,
      limit: c.limit ?? null,
      direction: c.direction,
    };
  }

  #announce(c: LedgerCrossing, cause: RawEvent | undefined): void {
    const event = this.#event(c);
    if (cause !== undefined) {
      event.pid = cause.pid;
      event.kernel_time = this.d.host.source.clock.iso(cause.ts);
    }
    this.d.bus.publish(event);
    const threshold = c.kind === 'barrier' ? c.barrier : c.limit;
    const msg = `group ${c.group}: ${c.resource} ${c.direction === 'up' ? 'above' : 'back at or below'} its ${c.kind} ${threshold} (held ${round(c.held)})`;
    if (c.kind === 'limit' && c.direction === 'up') this.d.log.warn(msg);
    else this.d.log.info(msg);
    this.d.records.append(event);
  }

  /**
   * SIGKILLs the process the table names (by pid and start time: never one that reused the pid).
   * It counts as refused, and as on its way out, even when it was gone already: its exit is still
   * to be read (the table has it), so held still counts it, and the next newcomer must not be
   * taken for the one too many in its place. That keeps failcnt one per process past the limit,
   * however the exits and the agent's reading interleave.
   */
  #kill(st: GroupState, p: ProcessInfo): void {
    const sent = this.d.io.kill(p.pid, p.startNs); // a kill that throws took no one: nothing counted
    st.killed.add(p.pid);
    this.d.countKill(st.group.name);
    if (sent) st.killedSinceTick++;
  }

  /** Freezes the group's cgroups, or thaws those this agent froze (see freezer.ts). */
  #freeze(st: GroupState, frozen: boolean): void {
    const name = st.group.name;
    if (frozen) {
      const cgroups = this.d.cgroups.now(st);
      if (cgroups.length === 0) throw new Error('the group has no cgroup to freeze');
      const done = this.d.freezer.freeze(name, cgroups);
      if (done.length > 0) this.d.log.warn(`group ${name}: froze ${done.join(', ')}`);
    } else {
      const done = this.d.freezer.thaw(name);
      if (done.length > 0) this.d.log.warn(`group ${name}: thawed ${done.join(', ')}`);
    }
  }
}

/** Never init, never the agent itself. */
function killable(pid: number): boolean {
  return pid > 1 && pid !== process.pid;
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
