/**
 * One beancounter: the use of one resource by one group, after OpenVZ's user beancounters.
 * Pure: the caller brings every reading and the time.
 */
import { CumulativeCounters, type Clock, type CumulativeOptions } from './counter.js';

/** Which threshold was crossed. */
export type CrossingKind = 'barrier' | 'limit';
/** `up`: held went from at-or-below the threshold to above it; `down`: back again. */
export type CrossingDirection = 'up' | 'down';

/** A threshold crossed by one update (or by a reload that moved the threshold). */
export interface Crossing {
  kind: CrossingKind;
  direction: CrossingDirection;
  held: number;
  barrier: number | undefined;
  limit: number | undefined;
}

/**
 * What failcnt counts besides the kernel's refusals:
 * - `crossings`: each rise above the limit (rates and sizes: forks_per_second, cpu_cores,
 *   memory_bytes, where no single unit is "the one too many");
 * - `units`: each unit held above the limit, i.e. every fork (or thread) that took the group past
 *   it (tasks, threads), so a burst of 30 forks against limit 10 counts 21 whatever the timing;
 * - `refusals`: only what the caller reports through addRefusals (tasks with `kill`: one per
 *   process killed, which held still counts until its exit is seen).
 */
export type FailMode = 'crossings' | 'units' | 'refusals';

/** How a beancounter starts. */
export interface BeancounterOptions {
  /** What failcnt counts; default `crossings`. */
  failMode?: FailMode;
  barrier?: number;
  limit?: number;
  /** Gives `now` when a call leaves it out, and the start of the first period. Default Date.now. */
  clock?: Clock;
  /** Length of the maxheld/minheld period in ms; null or absent: the beancounter's whole life. */
  period_ms?: number | null;
  /**
   * Where periods are counted from (clock ms); default: the beancounter's creation. The ledger
   * passes its own start so the periods of all its beancounters end together.
   */
  period_start?: number;
}

// Most updates cross nothing; handing out one frozen empty array keeps the per-event path free of
// allocations.
const NONE: readonly Crossing[] = Object.freeze([]);

/**
 * Held, its extremes over the accounting period, a soft barrier and a hard limit for one
 * (group, resource).
 *
 * A crossing is a change of side, not a reading on the far side: held going 19, 25, 30, 19, 25
 * against barrier 20 is two barrier hits. Held equal to a threshold is on the near side. A missing
 * threshold is never crossed. The counter starts empty (held 0, below every threshold), so a first
 * reading above the barrier is a hit; the first reading also sets maxheld and minheld, so a group
 * first seen at 500 MB does not show a minheld of 0.
 */
export class Beancounter {
  #held = 0;
  #maxheld = 0;
  #minheld = 0;
  #seen = false;
  #barrierHits = 0;
  #crossFails = 0;
  #kernelFails = 0;
  #failMode: FailMode;
  #barrier: number | undefined;
  #limit: number | undefined;
  #period: number | null;
  #periodStart: number;
  readonly #clock: Clock;
  readonly #kernel = new CumulativeCounters();

  constructor(opts: BeancounterOptions = {}) {
    this.#clock = opts.clock ?? Date.now;
    this.#failMode = opts.failMode ?? 'crossings';
    this.#barrier = checkThreshold('barrier', opts.barrier);
    this.#limit = checkThreshold('limit', opts.limit);
    this.#period = checkPeriod(opts.period_ms ?? null);
    this.#periodStart = opts.period_start ?? this.#clock();
  }

  /** The last reading. */
  get held(): number {
    return this.#held;
  }
  /** Highest held in the current period. */
  get maxheld(): number {
    return this.#maxheld;
  }
  /** Lowest held in the current period. */
  get minheld(): number {
    return this.#minheld;
  }
  /** Times held rose above the barrier. */
  get barrierHits(): number {
    return this.#barrierHits;
  }
  /** Refusals: what the fail mode counts (see FailMode), plus the kernel's own (see addKernelFailures). */
  get failcnt(): number {
    return this.#crossFails + this.#kernelFails;
  }
  /** The part of failcnt that came from the kernel. */
  get kernelFailures(): number {
    return this.#kernelFails;
  }
  /** The soft threshold; undefined: none. */
  get barrier(): number | undefined {
    return this.#barrier;
  }
  /** The hard threshold; undefined: none. */
  get limit(): number | undefined {
    return this.#limit;
  }
  /** When the current maxheld/minheld period began (clock ms). */
  get periodStart(): number {
    return this.#periodStart;
  }

  /** Records a new held and returns the thresholds it crossed, rising ones barrier first, falling ones limit first. */
  update(held: number, now: number = this.#clock()): readonly Crossing[] {
    if (!Number.isFinite(held)) throw new RangeError(`held must be a finite number, got ${held}`);
    this.rollover(now);
    const prev = this.#held;
    this.#held = held;
    if (!this.#seen) {
      this.#seen = true;
      this.#maxheld = held;
      this.#minheld = held;
    } else {
      if (held > this.#maxheld) this.#maxheld = held;
      if (held < this.#minheld) this.#minheld = held;
    }
    const b = this.#barrier ?? Infinity;
    const l = this.#limit ?? Infinity;
    if (held > l && held > prev && this.#failMode === 'units') this.#crossFails += held - Math.max(prev, l);
    // The common case, checked first so a fork storm below every threshold costs two comparisons.
    if (prev > b === held > b && prev > l === held > l) return NONE;
    return this.#crossings(prev > b, held > b, prev > l, held > l);
  }

  /** Changes what failcnt counts from now on (a reload that adds or drops `kill`); counted ones stay. */
  setFailMode(mode: FailMode): void {
    this.#failMode = mode;
  }

  /** Adds `n` refusals the caller made (the `kill` action's kills) to failcnt. */
  addRefusals(n: number): void {
    this.#crossFails += n;
  }

  /**
   * Moves the thresholds (config reload). Counters keep their values. Held is judged again
   * against the new thresholds: lowering the limit under held is a limit crossing (counted in
   * failcnt, so its actions run), raising it above held is a `down` crossing (so a freeze is
   * thawed), exactly as if held had moved instead.
   */
  setLimits(barrier: number | undefined, limit: number | undefined): readonly Crossing[] {
    const nb = checkThreshold('barrier', barrier);
    const nl = checkThreshold('limit', limit);
    const held = this.#held;
    const wasAboveB = held > (this.#barrier ?? Infinity);
    const wasAboveL = held > (this.#limit ?? Infinity);
    // A limit lowered under held puts the units above it past the limit, as forks would have.
    const overBefore = Math.max(0, held - (this.#limit ?? Infinity));
    const overAfter = Math.max(0, held - (nl ?? Infinity));
    if (this.#failMode === 'units' && overAfter > overBefore) this.#crossFails += overAfter - overBefore;
    this.#barrier = nb;
    this.#limit = nl;
    const isAboveB = held > (nb ?? Infinity);
    const isAboveL = held > (nl ?? Infinity);
    if (wasAboveB === isAboveB && wasAboveL === isAboveL) return NONE;
    return this.#crossings(wasAboveB, isAboveB, wasAboveL, isAboveL);
  }

  /**
   * Sets the maxheld/minheld period (ms; null: the whole life). The current period restarts now,
   * from the current held.
   */
  setPeriod(period_ms: number | null, now: number = this.#clock()): void {
    this.#period = checkPeriod(period_ms);
    this.#restart(now);
  }

  /**
   * Starts a new period if one is due: maxheld and minheld begin again from held as it stands at
   * the boundary. Periods stay aligned to the first one's start, so a quiet spell skips whole
   * periods instead of shifting them. Returns whether a period ended. update() calls this itself;
   * call it before reading maxheld/minheld at other times (a scrape).
   */
  rollover(now: number = this.#clock()): boolean {
    const period = this.#period;
    if (period === null || now < this.#periodStart + period) return false;
    const elapsed = Math.floor((now - this.#periodStart) / period);
    this.#periodStart += elapsed * period;
    this.#maxheld = this.#held;
    this.#minheld = this.#held;
    return true;
  }

  /**
   * Adds the kernel's own refusals (pids.events or memory.events `max`) to failcnt. Takes the
   * kernel's cumulative reading and adds only its increase; a reading lower than the last one is a
   * reset (cgroup recreated) and counts in full. `source` tells apart the cgroups of a group, each
   * with its own counter. The first reading of a source is a baseline unless `countExisting`.
   * Returns the amount added.
   */
  addKernelFailures(cumulative: number, source = '', opts: CumulativeOptions = {}): number {
    const added = this.#kernel.feed(cumulative, source, opts);
    this.#kernelFails += added;
    return added;
  }

  /** Forgets a kernel counter source whose cgroup is gone. */
  forgetKernelSource(source: string): void {
    this.#kernel.forget(source);
  }

  #restart(now: number): void {
    this.#periodStart = now;
    this.#maxheld = this.#held;
    this.#minheld = this.#held;
  }

  #crossings(wasAboveB: boolean, isAboveB: boolean, wasAboveL: boolean, isAboveL: boolean): Crossing[] {
    const out: Crossing[] = [];
    const c = (kind: CrossingKind, direction: CrossingDirection): Crossing => ({
      kind,
      direction,
      held: this.#held,
      barrier: this.#barrier,
      limit: this.#limit,
    });
    // Rising: the barrier comes first, as the soft warning before the hard one; falling: the
    // reverse, so whoever undoes the actions undoes them in the reverse order they were done.
    if (!wasAboveB && isAboveB) {
      this.#barrierHits++;
      out.push(c('barrier', 'up'));
    }
    if (!wasAboveL && isAboveL) {
      if (this.#failMode === 'crossings') this.#crossFails++;
      out.push(c('limit', 'up'));
    }
    if (wasAboveL && !isAboveL) out.push(c('limit', 'down'));
    if (wasAboveB && !isAboveB) out.push(c('barrier', 'down'));
    return out;
  }
}

function checkThreshold(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (Number.isNaN(value)) throw new RangeError(`${name} must be a number, got NaN`);
  // Infinity is accepted and means the same as no threshold.
  return value === Infinity ? undefined : value;
}

function checkPeriod(period: number | null): number | null {
  if (period === null) return null;
  if (!(period > 0) || !Number.isFinite(period)) {
    throw new RangeError(`accounting period must be a finite number of ms > 0 or null, got ${period}`);
  }
  return period;
}
