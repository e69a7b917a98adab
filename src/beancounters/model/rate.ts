/**
 * Rates over sliding windows, for the beancounters whose held is a rate: forks_per_second (fed
 * one fork event at a time) and cpu_cores (fed cumulative CPU seconds). Pure: the caller brings
 * the time, in ms.
 */
import { CumulativeCounter } from './counter.js';

/** Window and resolution of a SlidingRate. */
export interface SlidingRateOptions {
  /** Default 1000 ms. */
  window_ms?: number;
  /** Default 10 ms. The window is rounded up to a whole number of buckets. */
  bucket_ms?: number;
}

/**
 * Events per second over the last window, cheap enough to ask on every fork: a ring of
 * fixed-width buckets and a running sum, so add() and perSecond() cost O(1) amortised (moving
 * forward clears at most one ring's worth of buckets, however long the pause was).
 *
 * The window is the bucket `now` falls in plus the ones before it, so it spans between
 * window - bucket and window of real time; 10 ms buckets make that edge invisible in a 1 s window.
 */
export class SlidingRate {
  #bucketMs: number;
  #buckets: Float64Array;
  #sum = 0;
  /** Absolute number (floor(t / bucket)) of the newest bucket; undefined before the first event. */
  #head: number | undefined;

  constructor(opts: SlidingRateOptions = {}) {
    this.#bucketMs = positive('bucket_ms', opts.bucket_ms ?? 10);
    this.#buckets = new Float64Array(bucketCount(positive('window_ms', opts.window_ms ?? 1000), this.#bucketMs));
  }

  /** The window actually used, in ms (a whole number of buckets). */
  get window_ms(): number {
    return this.#buckets.length * this.#bucketMs;
  }

  /**
   * Counts `n` events at `now`. An event older than the newest one (events from several CPUs
   * arrive slightly out of order) still goes to its own bucket; one older than the window is
   * dropped, since it no longer belongs to the rate.
   */
  add(now: number, n = 1): void {
    const b = Math.floor(now / this.#bucketMs);
    this.#advance(b);
    const head = this.#head as number;
    if (b <= head - this.#buckets.length) return;
    const s = slot(b, this.#buckets.length);
    this.#buckets[s] = this.#buckets[s] + n;
    this.#sum += n;
  }

  /** Events counted in the window that ends at `now`. */
  count(now: number): number {
    this.#advance(Math.floor(now / this.#bucketMs));
    return this.#sum;
  }

  /** Events per second over the window that ends at `now`. */
  perSecond(now: number): number {
    return (this.count(now) * 1000) / this.window_ms;
  }

  /** Changes the window; the events still inside the new window are kept. */
  setWindow(window_ms: number): void {
    const n = bucketCount(positive('window_ms', window_ms), this.#bucketMs);
    const old = this.#buckets;
    const next = new Float64Array(n);
    let sum = 0;
    if (this.#head !== undefined) {
      const keep = Math.min(n, old.length);
      for (let b = this.#head - keep + 1; b <= this.#head; b++) {
        const v = old[slot(b, old.length)];
        next[slot(b, n)] = v;
        sum += v;
      }
    }
    this.#buckets = next;
    this.#sum = sum;
  }

  #advance(b: number): void {
    const head = this.#head;
    if (head === undefined) {
      this.#head = b;
      return;
    }
    // A clock stepping back leaves the ring where it is rather than rewriting history.
    if (b <= head) return;
    const n = this.#buckets.length;
    if (b - head >= n) {
      this.#buckets.fill(0);
      this.#sum = 0;
    } else {
      for (let i = head + 1; i <= b; i++) {
        const s = slot(i, n);
        this.#sum -= this.#buckets[s];
        this.#buckets[s] = 0;
      }
      // Fractional increments can leave rounding dust when everything has left the window.
      if (this.#sum < 1e-9) this.#sum = 0;
    }
    this.#head = b;
  }
}

/** Window of a CpuRate. */
export interface CpuRateOptions {
  /** Default 10 000 ms: long enough to smooth a once-a-second cgroup read. */
  window_ms?: number;
}

/**
 * CPU cores in use, from samples of cumulative CPU seconds (cpu.stat usage_usec, or the sum over
 * the group's cgroups): the CPU time added over the window divided by the wall time it took.
 *
 * The window is measured back from the newest sample, not from the reader's clock: with no new
 * sample there is nothing new to say, and the last rate stands.
 */
export class CpuRate {
  #window: number;
  // Parallel arrays from #start on: sample times and a total that only grows (resets of the
  // kernel counter are folded in by #counter), so a reset does not open a hole in the window.
  #times: number[] = [];
  #totals: number[] = [];
  #start = 0;
  #total = 0;
  readonly #counter = new CumulativeCounter();

  constructor(opts: CpuRateOptions = {}) {
    this.#window = positive('window_ms', opts.window_ms ?? 10_000);
  }

  /** The window in ms. */
  get window_ms(): number {
    return this.#window;
  }

  /** Changes the window; applies from the next sample on. */
  setWindow(window_ms: number): void {
    this.#window = positive('window_ms', window_ms);
  }

  /** Records the cumulative CPU seconds read at `now`. The first sample is only a baseline. */
  sample(now: number, cumulativeSeconds: number): void {
    this.#total += this.#counter.feed(cumulativeSeconds);
    const last = this.#times.length - 1;
    if (last >= this.#start && now <= this.#times[last]) {
      // Same instant (or a clock step back): the newer reading replaces the total, not the time.
      this.#totals[last] = this.#total;
      return;
    }
    this.#times.push(now);
    this.#totals.push(this.#total);
    // Keep one sample at or before the window's start, so the rate spans the whole window.
    const edge = now - this.#window;
    while (this.#times.length - this.#start >= 2 && this.#times[this.#start + 1] <= edge) this.#start++;
    if (this.#start > 32 && this.#start * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#start);
      this.#totals = this.#totals.slice(this.#start);
      this.#start = 0;
    }
  }

  /** Cores used over the window; null until two samples at different times exist. */
  cores(): number | null {
    const last = this.#times.length - 1;
    if (last <= this.#start) return null;
    const dt = this.#times[last] - this.#times[this.#start];
    if (dt <= 0) return null;
    return ((this.#totals[last] - this.#totals[this.#start]) * 1000) / dt;
  }
}

function slot(b: number, n: number): number {
  return ((b % n) + n) % n;
}

function bucketCount(window: number, bucket: number): number {
  return Math.max(1, Math.ceil(window / bucket));
}

function positive(name: string, v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be a finite number > 0, got ${v}`);
  return v;
}
