/**
 * The life of a group, from first sight to release (its last process gone), summed up in one
 * record for the accounting log. Pure: the caller brings every event and the time.
 */
import { CumulativeCounters, type CumulativeOptions } from './counter.js';

/** How a process ended. */
export type ExitOutcome = 'success' | 'failure' | 'signaled';

/** The record written when a group is released. Times are ISO 8601 (UTC), from wall-clock ms. */
export interface ReleaseRecord {
  type: 'release';
  group: string;
  cgroup?: string;
  start: string;
  end: string;
  duration_s: number;
  /** Processes created in the group while we watched (threads not included). */
  processes: number;
  max_tasks: number;
  exits: Record<ExitOutcome, number>;
  cpu_s: number;
}

/**
 * Classifies an exit: a terminating signal is `signaled` (even a SIGTERM the program asked for,
 * since nothing tells us it was asked for), exit status 0 is `success`, any other is `failure`.
 */
export function exitOutcome(code: number | null, signal: number | string | null): ExitOutcome {
  if (signal !== null && signal !== 0 && signal !== '') return 'signaled';
  return code === 0 ? 'success' : 'failure';
}

/**
 * Accumulates one group's life. Processes that were already running when the group was first seen
 * are not in `processes`; they still count towards `max_tasks` and their exits are counted.
 */
export class GroupLife {
  readonly group: string;
  readonly cgroup: string | undefined;
  /** Wall-clock ms when the group was first seen. */
  readonly start: number;
  #processes = 0;
  #maxTasks = 0;
  readonly #exits: Record<ExitOutcome, number> = { success: 0, failure: 0, signaled: 0 };
  #cpu = 0;
  readonly #cpuSources = new CumulativeCounters();

  constructor(group: string, start: number, opts: { cgroup?: string } = {}) {
    this.group = group;
    this.start = start;
    this.cgroup = opts.cgroup;
  }

  /** Counts processes created in the group (forks that made a process, not a thread). */
  created(n = 1): void {
    this.#processes += n;
  }

  /** Counts one process exit. */
  exited(outcome: ExitOutcome): void {
    this.#exits[outcome]++;
  }

  /** Notes the group's live task count, for max_tasks. */
  tasks(live: number): void {
    if (live > this.#maxTasks) this.#maxTasks = live;
  }

  /** Adds CPU seconds (an exited process's own time, say). */
  addCpuSeconds(seconds: number): void {
    if (Number.isFinite(seconds) && seconds > 0) this.#cpu += seconds;
  }

  /**
   * Feeds a cumulative CPU reading of one of the group's cgroups (cpu.stat usage); only increases
   * are added, a reset counts in full. The first reading of a source is a baseline unless
   * `countExisting` (a cgroup made after the group was first seen). Use this or addCpuSeconds for
   * a group, not both, or CPU is counted twice.
   */
  sampleCpuSeconds(cumulative: number, source = '', opts: CumulativeOptions = {}): void {
    this.#cpu += this.#cpuSources.feed(cumulative, source, opts);
  }

  /** The release record, as of `now` (wall-clock ms). Can be called more than once. */
  finish(now: number): ReleaseRecord {
    const record: ReleaseRecord = {
      type: 'release',
      group: this.group,
      start: new Date(this.start).toISOString(),
      end: new Date(now).toISOString(),
      duration_s: Math.max(0, Math.round(now - this.start)) / 1000,
      processes: this.#processes,
      max_tasks: this.#maxTasks,
      exits: { ...this.#exits },
      // Microseconds are what cgroupfs reports; anything finer is float noise from the sums.
      cpu_s: Math.round(this.#cpu * 1e6) / 1e6,
    };
    if (this.cgroup !== undefined) record.cgroup = this.cgroup;
    return record;
  }
}
