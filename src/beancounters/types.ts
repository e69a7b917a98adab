/**
 * What the beancounters service is given and what it gives: the agent's view it reads, the hook
 * runner, the accounting log, and the records it publishes (crossings, releases) and exposes
 * (metric samples). Types only; metrics/ and the server import them from here.
 */
import type { Config, GroupRule, ResourceName } from '../config/types.js';
import type { Group, KernelTotals } from '../groups/registry.js';
import type { Logger } from '../log.js';
import type { ProcessInfo } from '../process/table.js';
import type { BeancounterIO } from './cgroup-actions.js';
import type { Enforcer } from './enforcer.js';
import type { Freezer } from './freezer.js';
import type { HookRequest } from './hooks.js';
import type { ReleaseRecord } from './model/release.js';

/** What the service reads from the agent; the Agent fits it. */
export interface BeancounterHost {
  readonly registry: { all(): Iterable<Group>; get(name: string): Group | undefined; ruleOfCgroup(path: string): GroupRule | undefined };
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

/**
 * A crossing as published on the bus and written to the accounting log. A type, not an interface,
 * so that it fits the stream's open-ended event type without this folder importing the stream.
 */
export type CrossingEvent = {
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
  /**
   * A `limit` event for what the kernel refused (not a crossing: held stays at or under the
   * limit): how many forks or charges it refused since the last reading, and in which cgroup.
   */
  refused?: number;
  cgroup?: string;
};

/** A release as published on the bus: the record, timed at its end. */
export type ReleaseEvent = Pick<ReleaseRecord, keyof ReleaseRecord> & { time: string };

/** One beancounter of one group, as /metrics shows it (undefined where a threshold is unset). */
export interface BeancounterSample {
  group: string;
  resource: string;
  held: number;
  maxheld: number;
  minheld: number;
  barrier?: number;
  limit?: number;
  barrierHits: number;
  failcnt: number;
}

export interface BeancounterDeps {
  host: BeancounterHost;
  config: Config;
  bus: { publish(e: CrossingEvent | ReleaseEvent): void };
  hooks: Hooks;
  io: BeancounterIO;
  log: Logger;
  /** Wall-clock ms; default Date.now. */
  now?: () => number;
  /** Opens the accounting log of the config (default: none; the agent's composition gives NdjsonLog). */
  openLog?: (opts: NonNullable<Config['accounting']['log']>) => AccountingSink;
  /**
   * Runs hook starts after the current batch of records (default setImmediate): spawning a child
   * costs the agent milliseconds, and the crossings later in the batch must not wait for it.
   */
  defer?: (fn: () => void) => void;
  /**
   * Freezes and thaws for the `freeze` action, with the record that outlives the agent (the
   * composition gives one that has already thawed what a crashed agent left). Default: one
   * without a record.
   */
  freezer?: Freezer;
  /**
   * Sets and restores the `enforce` action's kernel limits, with the record that outlives the agent
   * (the composition gives one that has recovered what a crashed agent left). Default: one
   * without a record.
   */
  enforcer?: Enforcer;
  /** Passed to the ledger; tests shorten them. */
  forksWindowMs?: number;
  cpuWindowMs?: number;
}
