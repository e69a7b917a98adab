/** Boot clock to wall clock, and ISO times with the second kept across calls. */
import { describe, expect, it } from 'vitest';
import { IsoCache, isoMicros, WallClock } from '../../src/events/clock.js';

describe('IsoCache and WallClock.iso', () => {
  it('writes isoMicros exactly, across seconds, days and back in time', () => {
    const cache = new IsoCache();
    const start = 1_764_000_000_000_000_000;
    // Steps that stay within a second, cross one, cross midnight, go back, and land on boundaries.
    const steps = [0, 1, 999, 1_000, 999_999, 1_000_000, 999_999_999, 1e9, 86_399e9, 86_400e9, -5e9, 123_456_789_012, -1];
    let t = start;
    for (let round = 0; round < 200; round++) {
      t += steps[round % steps.length] + round * 7_919;
      expect(cache.iso(t)).toBe(isoMicros(t));
    }
    for (const ns of [0, 999, 1_000_000, 253_402_300_799 * 1e9 + 999_999_000]) expect(new IsoCache().iso(ns)).toBe(isoMicros(ns));
  });

  it('WallClock.iso is isoMicros of the wall-clock time, event after event', () => {
    const offset = 1_764_000_000n * 1_000_000_000n + 123_456_789n;
    const clock = new WallClock(() => [offset + 5n, 5n]);
    for (let ns = 1e9; ns < 4e9; ns += 37_123_457) expect(clock.iso(ns)).toBe(isoMicros(ns + Number(offset)));
  });
});
