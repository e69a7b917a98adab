/**
 * Small pieces shared by the accounting modules: the clock they are given and the reading of
 * kernel counters that only ever grow (until their cgroup is recreated).
 */

/**
 * Milliseconds; every `now` in src/beancounters is on this scale. The ledger and the beancounters
 * only compare times, so a monotonic clock fits; GroupLife prints its times, so it wants the wall
 * clock.
 */
export type Clock = () => number;

/** How a cumulative counter's first reading is treated. */
export interface CumulativeOptions {
  /**
   * Count the first reading in full. Right when the counter was born after accounting began (a
   * cgroup created while the agent watched); wrong for one that ran before, whose history would
   * land in our period. Default false: the first reading is only a baseline.
   */
  countExisting?: boolean;
}

/**
 * Turns successive readings of a kernel cumulative counter (pids.events max, cpu.stat usage)
 * into increases, so they can be added to our own counters.
 */
export class CumulativeCounter {
  private last: number | undefined;

  /** Feeds one reading and returns how much it adds since the previous one. */
  feed(value: number, opts: CumulativeOptions = {}): number {
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`cumulative counter reading must be a finite number >= 0, got ${value}`);
    }
    const last = this.last;
    this.last = value;
    if (last === undefined) return opts.countExisting ? value : 0;
    // A smaller reading means the counter started again from zero (its cgroup was removed and
    // made again), so all of it is new. A reset whose new count already passed the old one cannot
    // be told apart from growth; the kernel gives us nothing to detect it with.
    return value >= last ? value - last : value;
  }
}

/**
 * Several cumulative counters feeding one sum, one per source (a group spans several cgroups,
 * each with its own counter).
 */
export class CumulativeCounters {
  private readonly bySource = new Map<string, CumulativeCounter>();

  /** Feeds the reading of one source and returns the increase it brings. */
  feed(value: number, source = '', opts: CumulativeOptions = {}): number {
    let counter = this.bySource.get(source);
    if (counter === undefined) {
      counter = new CumulativeCounter();
      this.bySource.set(source, counter);
    }
    return counter.feed(value, opts);
  }

  /** Drops a source that is gone (its cgroup was removed), so its memory does not stay behind. */
  forget(source: string): void {
    this.bySource.delete(source);
  }
}
