/**
 * secondsJson, the tail's printing of durations (lifetime_s, cpu_s) without printing a double,
 * against what the event model's JSON has always said: String(round6(ns / 1e9)).
 */
import { describe, expect, it } from 'vitest';
import { round6, secondsJson } from '../../src/events/model.js';
import { seeded } from '../helpers/random.js';

const general = (ns: number) => String(round6(ns / 1e9));

describe('secondsJson', () => {
  it.each([
    0, 1, 499, 500, 501, 999, 1000, 1500, 20_000, 1_065_000, 999_999_499, 999_999_500, 1e9, 1.5e9, 12e9, 86_400e9, 3_000_000_000_123_456,
    // round6 of these lands on .5 in floating point: both must round the same way
    2_500, 1_234_500, 123_456_789_500,
  ])('prints %d ns as round6 does', (ns) => {
    expect(secondsJson(ns)).toBe(general(ns));
  });

  it('agrees with round6 on 200,000 durations from a nanosecond to years', () => {
    const { rand } = seeded(13);
    for (let i = 0; i < 200_000; i++) {
      // Magnitudes spread evenly over 1 ns .. 1e17 ns (3 years), integer nanoseconds as the kernel gives.
      const ns = Math.floor(10 ** (rand() * 17));
      const got = secondsJson(ns);
      if (got !== general(ns)) expect({ ns, got }).toEqual({ ns, got: general(ns) });
    }
  });

  it('goes the general way where its shortcut does not hold', () => {
    for (const ns of [-1, -1e9, 1e25, Number.NaN, Number.POSITIVE_INFINITY]) expect(secondsJson(ns)).toBe(general(ns));
  });
});
