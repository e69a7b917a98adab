/**
 * Kernel timestamps are CLOCK_BOOTTIME nanoseconds; people read wall-clock time. The offset
 * between the two is sampled at start and refreshed now and then (it moves with NTP steps and
 * suspend, never within a batch).
 */
export class WallClock {
  private offsetNs = 0;
  private readonly isoCache = new IsoCache();
  private sampledAt = -Infinity;

  /** @param clocks returns [CLOCK_REALTIME ns, CLOCK_BOOTTIME ns] read back to back */
  constructor(
    private readonly clocks: () => [bigint, bigint],
    private readonly now: () => number = () => performance.now(),
    private readonly refreshMs = 10_000,
  ) {
    this.sample();
  }

  private sample(): void {
    const [rt, bt] = this.clocks();
    this.offsetNs = Number(rt - bt);
    this.sampledAt = this.now();
  }

  /** Wall-clock nanoseconds since the epoch for a boot-clock timestamp. */
  wallNs(bootNs: number): number {
    if (this.now() - this.sampledAt > this.refreshMs) this.sample();
    return bootNs + this.offsetNs;
  }

  /** ISO 8601, UTC, with microseconds: 2026-11-23T15:04:05.123456Z. */
  iso(bootNs: number): string {
    return this.isoCache.iso(this.wallNs(bootNs));
  }

  /** Boot-clock ns now (for lifetimes of processes seen only in procfs). */
  bootNow(): number {
    return Number(this.clocks()[1]);
  }
}

/** ISO 8601 UTC with microsecond precision from epoch nanoseconds. */
export function isoMicros(epochNs: number): string {
  const ms = Math.floor(epochNs / 1e6);
  const micros = Math.floor((epochNs - ms * 1e6) / 1e3);
  const base = new Date(ms).toISOString(); // ...SS.mmmZ
  return `${base.slice(0, -1)}${String(micros).padStart(3, '0')}Z`;
}

/**
 * ISO 8601 UTC with microseconds, as isoMicros writes it, with the part up to the second kept from
 * the previous call: events of one batch nearly always share it (toISOString per event was a fifth
 * of `tail`'s CPU per line).
 */
export class IsoCache {
  private sec = NaN;
  private prefix = '';

  iso(epochNs: number): string {
    const ms = Math.floor(epochNs / 1e6);
    const micros = Math.floor((epochNs - ms * 1e6) / 1e3);
    const sec = Math.floor(ms / 1000);
    if (sec !== this.sec) {
      this.sec = sec;
      this.prefix = new Date(sec * 1000).toISOString().slice(0, -4); // ...SS. (also for 6-digit years)
    }
    return `${this.prefix}${pad3(ms - sec * 1000)}${pad3(micros)}Z`;
  }
}

function pad3(n: number): string {
  return n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`;
}
