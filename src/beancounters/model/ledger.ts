/**
 * The beancounters of every group, and the plan of what to do when one crosses a threshold.
 * Pure: it decides which actions a crossing calls for; running them (hooks, kill, freeze) is the
 * caller's business.
 *
 * Which beancounters exist (and so which rows `forkwatch beancounters` and the metrics show):
 * `tasks` and `threads` for every known group, since they cost nothing and are what a reader looks
 * for first; any other resource only where a barrier or a limit applies to that group (its own
 * rule or the defaults). An unlimited memory_bytes or cpu_cores beancounter would only repeat the
 * plain per-group metrics while multiplying series and the reads behind them; observations of
 * untracked resources are ignored.
 */
import { RESOURCE_NAMES, type Action, type ResourceLimits, type ResourceName, type ResourceSpec } from '../../config/types.js';
import { Beancounter, type Crossing, type FailMode } from './beancounter.js';
import type { Clock, CumulativeOptions } from './counter.js';
import { CpuRate, SlidingRate } from './rate.js';

/** Resources with a beancounter in every group, configured or not. */
export const ALWAYS_TRACKED: readonly ResourceName[] = Object.freeze(['tasks', 'threads'] as const);

/**
 * An action to run for a crossing: one from the config, or `thaw`, the undoing of a `freeze`.
 * `thaw` is defined here because config/types.ts's Action lists only what a user can write.
 */
export type PlannedAction = Action | { kind: 'thaw' };

/** A crossing, where it happened, and what to do about it. `actions` always starts with `event`. */
export interface LedgerCrossing extends Crossing {
  group: string;
  resource: ResourceName;
  actions: PlannedAction[];
}

/** One line of `forkwatch beancounters` and of the beancounter metrics; null: no such threshold. */
export interface BeancounterRow {
  group: string;
  resource: ResourceName;
  held: number;
  maxheld: number;
  minheld: number;
  barrier: number | null;
  limit: number | null;
  barrierHits: number;
  failcnt: number;
}

/** Settings of a GroupLedger. */
export interface LedgerOptions {
  /** Limits for every group; a group's own configure() replaces them resource by resource. */
  defaults?: ResourceLimits;
  /** Default Date.now; any ms clock that does not jump back will do. */
  clock?: Clock;
  /** maxheld/minheld period in ms; null or absent: the ledger's life. */
  period_ms?: number | null;
  /** Window of forks_per_second; default 1000 ms. */
  forks_window_ms?: number;
  /** Window of cpu_cores; default 10 000 ms. */
  cpu_window_ms?: number;
}

/**
 * What failcnt counts for a resource (see FailMode): counts of processes and threads count every
 * one past the limit, and with `kill` the kills; rates and sizes count crossings.
 */
export function failMode(resource: ResourceName, spec: ResourceSpec | undefined, killsWithheld = false): FailMode {
  if (resource === 'tasks') return !killsWithheld && spec?.on_limit.some((a) => a.kind === 'kill') ? 'refusals' : 'units';
  return resource === 'threads' ? 'units' : 'crossings';
}

/** The FORKWATCH_EVENT a hook gets for a crossing: `release` when held falls back. */
export function hookEvent(c: Pick<Crossing, 'kind' | 'direction'>): 'barrier' | 'limit' | 'release' {
  return c.direction === 'down' ? 'release' : c.kind;
}

interface Entry {
  bc: Beancounter;
  spec: ResourceSpec | undefined;
  /** A freeze was planned and no thaw since: the thaw is planned only for what was frozen. */
  frozen: boolean;
}

interface GroupState {
  overrides: ResourceLimits | undefined;
  /** The group's actions never run (the overflow group): a `kill` it names kills nothing to count. */
  killsWithheld: boolean;
  entries: Map<ResourceName, Entry>;
  forks?: SlidingRate;
  cpu?: CpuRate;
}

const NONE: readonly LedgerCrossing[] = Object.freeze([]);

/** Beancounters of all groups, keyed by group name and resource. */
export class GroupLedger {
  #defaults: ResourceLimits;
  #period: number | null;
  #periodStart: number;
  readonly #clock: Clock;
  readonly #forksWindow: number | undefined;
  readonly #cpuWindow: number | undefined;
  readonly #groups = new Map<string, GroupState>();

  constructor(opts: LedgerOptions = {}) {
    this.#defaults = opts.defaults ?? {};
    this.#clock = opts.clock ?? Date.now;
    this.#period = opts.period_ms ?? null;
    this.#periodStart = this.#clock();
    this.#forksWindow = opts.forks_window_ms;
    this.#cpuWindow = opts.cpu_window_ms;
  }

  /**
   * Gives a group its own limits (its rule's resources; each one given replaces the default for
   * that resource) and makes its beancounters exist, so a configured group has rows before it
   * acts. Calling it again is a reload: counters keep their values, and held is judged against the
   * new thresholds (see Beancounter.setLimits); the crossings that causes are returned.
   */
  configure(group: string, limits: ResourceLimits, opts: { killsWithheld?: boolean } = {}): readonly LedgerCrossing[] {
    const state = this.#group(group);
    state.overrides = limits;
    state.killsWithheld = opts.killsWithheld ?? false;
    return this.#sync(group, state);
  }

  /** Replaces the defaults (config reload) and returns the crossings that causes in every group. */
  setDefaults(defaults: ResourceLimits): readonly LedgerCrossing[] {
    this.#defaults = defaults;
    const out: LedgerCrossing[] = [];
    for (const [group, state] of this.#groups) out.push(...this.#sync(group, state));
    return out.length === 0 ? NONE : out;
  }

  /** Changes the maxheld/minheld period (ms; null: the ledger's life); every period restarts now. */
  setPeriod(period_ms: number | null, now: number = this.#clock()): void {
    for (const state of this.#groups.values()) for (const e of state.entries.values()) e.bc.setPeriod(period_ms, now);
    this.#period = period_ms;
    this.#periodStart = now;
  }

  /**
   * Records a reading of one resource of one group (a group not seen before gets the defaults) and
   * returns the crossings with their actions. Untracked resources return nothing.
   */
  observe(group: string, resource: ResourceName, held: number, now: number = this.#clock()): readonly LedgerCrossing[] {
    const state = this.#group(group);
    const entry = state.entries.get(resource);
    if (entry === undefined) return NONE;
    return this.#plan(group, resource, entry, entry.bc.update(held, now));
  }

  /** Counts `n` forks in a group and re-evaluates its forks_per_second, if that is tracked. */
  recordForks(group: string, now: number = this.#clock(), n = 1): readonly LedgerCrossing[] {
    const state = this.#group(group);
    const entry = state.entries.get('forks_per_second');
    if (entry === undefined) return NONE;
    state.forks ??= new SlidingRate({ window_ms: this.#forksWindow });
    state.forks.add(now, n);
    return this.#plan(group, 'forks_per_second', entry, entry.bc.update(state.forks.perSecond(now), now));
  }

  /**
   * Feeds a group's cumulative CPU seconds (the sum over its cgroups) and re-evaluates its
   * cpu_cores, if that is tracked. Nothing is decided until two samples exist.
   */
  recordCpu(group: string, cumulativeSeconds: number, now: number = this.#clock()): readonly LedgerCrossing[] {
    const state = this.#group(group);
    const entry = state.entries.get('cpu_cores');
    if (entry === undefined) return NONE;
    state.cpu ??= new CpuRate({ window_ms: this.#cpuWindow });
    state.cpu.sample(now, cumulativeSeconds);
    const cores = state.cpu.cores();
    if (cores === null) return NONE;
    return this.#plan(group, 'cpu_cores', entry, entry.bc.update(cores, now));
  }

  /**
   * Re-evaluates forks_per_second everywhere. A fork rate falls when forks stop, and no fork event
   * comes to say so; call this periodically (a second or so) so the release is seen.
   */
  tick(now: number = this.#clock()): readonly LedgerCrossing[] {
    let out: LedgerCrossing[] | undefined;
    for (const [group, state] of this.#groups) {
      const entry = state.entries.get('forks_per_second');
      if (entry === undefined || state.forks === undefined) continue;
      const cs = this.#plan(group, 'forks_per_second', entry, entry.bc.update(state.forks.perSecond(now), now));
      if (cs.length > 0) (out ??= []).push(...cs);
    }
    return out ?? NONE;
  }

  /**
   * Adds the kernel's refusals for one resource of a group (see Beancounter.addKernelFailures);
   * `source` is the cgroup the reading came from. Ignored for an untracked resource. Returns the
   * amount added.
   */
  addKernelFailures(group: string, resource: ResourceName, cumulative: number, source = '', opts: CumulativeOptions = {}): number {
    const entry = this.#group(group).entries.get(resource);
    return entry === undefined ? 0 : entry.bc.addKernelFailures(cumulative, source, opts);
  }

  /** Adds refusals the caller made (the `kill` action's kills) to a resource's failcnt. */
  addRefusals(group: string, resource: ResourceName, n: number): void {
    this.#group(group).entries.get(resource)?.bc.addRefusals(n);
  }

  /** Held and the thresholds of one beancounter, undefined when it is not tracked. */
  current(group: string, resource: ResourceName): { held: number; barrier: number | undefined; limit: number | undefined } | undefined {
    const bc = this.#groups.get(group)?.entries.get(resource)?.bc;
    return bc === undefined ? undefined : { held: bc.held, barrier: bc.barrier, limit: bc.limit };
  }

  /**
   * Every beancounter, sorted by group then in RESOURCE_NAMES order. Periods due by `now` are
   * closed first, so maxheld/minheld describe the current period even between readings.
   */
  rows(now: number = this.#clock()): BeancounterRow[] {
    const out: BeancounterRow[] = [];
    const names = [...this.#groups.keys()].sort();
    for (const group of names) {
      const state = this.#groups.get(group) as GroupState;
      for (const resource of RESOURCE_NAMES) {
        const e = state.entries.get(resource);
        if (e === undefined) continue;
        const bc = e.bc;
        bc.rollover(now);
        out.push({
          group,
          resource,
          held: bc.held,
          maxheld: bc.maxheld,
          minheld: bc.minheld,
          barrier: bc.barrier ?? null,
          limit: bc.limit ?? null,
          barrierHits: bc.barrierHits,
          failcnt: bc.failcnt,
        });
      }
    }
    return out;
  }

  /** Groups the ledger knows, in no particular order. */
  groups(): string[] {
    return [...this.#groups.keys()];
  }

  /**
   * Drops a group: its counters and its own limits. A group that comes back starts from zero with
   * the defaults until configured again. Returns whether the group was known.
   */
  forget(group: string): boolean {
    return this.#groups.delete(group);
  }

  #group(group: string): GroupState {
    let state = this.#groups.get(group);
    if (state === undefined) {
      state = { overrides: undefined, killsWithheld: false, entries: new Map() };
      this.#groups.set(group, state);
      this.#sync(group, state);
    }
    return state;
  }

  /** Brings a group's beancounters in line with its effective limits. */
  #sync(group: string, state: GroupState): readonly LedgerCrossing[] {
    let out: LedgerCrossing[] | undefined;
    for (const resource of RESOURCE_NAMES) {
      const spec = state.overrides?.[resource] ?? this.#defaults[resource];
      const tracked = ALWAYS_TRACKED.includes(resource) || spec?.barrier !== undefined || spec?.limit !== undefined;
      const entry = state.entries.get(resource);
      let cs: readonly LedgerCrossing[] = NONE;
      if (tracked && entry === undefined) {
        const bc = new Beancounter({
          barrier: spec?.barrier,
          limit: spec?.limit,
          clock: this.#clock,
          period_ms: this.#period,
          period_start: this.#periodStart,
          failMode: failMode(resource, spec, state.killsWithheld),
        });
        state.entries.set(resource, { bc, spec, frozen: false });
      } else if (entry !== undefined) {
        entry.spec = tracked ? spec : undefined;
        entry.bc.setFailMode(failMode(resource, spec, state.killsWithheld));
        cs = this.#plan(group, resource, entry, entry.bc.setLimits(spec?.barrier, spec?.limit));
        if (!tracked) {
          // Losing its thresholds releases whatever was held above them (a frozen group thaws);
          // then the beancounter goes, with the rate state that fed it.
          state.entries.delete(resource);
          if (resource === 'forks_per_second') delete state.forks;
          if (resource === 'cpu_cores') delete state.cpu;
        }
      }
      if (cs.length > 0) (out ??= []).push(...cs);
    }
    return out ?? NONE;
  }

  #plan(group: string, resource: ResourceName, entry: Entry, crossings: readonly Crossing[]): readonly LedgerCrossing[] {
    if (crossings.length === 0) return NONE;
    return crossings.map((c) => {
      const actions: PlannedAction[] = [{ kind: 'event' }];
      const configured = (c.kind === 'barrier' ? entry.spec?.on_barrier : entry.spec?.on_limit) ?? [];
      if (c.direction === 'up') {
        for (const a of configured) {
          // enforce is a standing kernel limit, set with the config, not a step run at a crossing.
          if (a.kind === 'event' || a.kind === 'enforce') continue;
          if (a.kind === 'freeze') entry.frozen = true;
          actions.push(a);
        }
      } else {
        // Hooks hear about the release (FORKWATCH_EVENT=release); kill has nothing to undo.
        for (const a of configured) if (a.kind === 'exec') actions.push(a);
        // A freeze lasts until held is back at the barrier, not merely under the limit; with no
        // barrier, the limit is the only line to fall back to.
        if (entry.frozen && (c.kind === 'barrier' || c.barrier === undefined)) {
          entry.frozen = false;
          actions.push({ kind: 'thaw' });
        }
      }
      return { ...c, group, resource, actions };
    });
  }
}
