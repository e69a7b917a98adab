import { describe, expect, it } from 'vitest';
import { CpuRate, SlidingRate } from '../../../src/beancounters/model/rate.js';

describe('SlidingRate (1 s window, 10 ms buckets)', () => {
  // Each case: events as [time ms, count], then the rate read at `at`.
  const cases: Array<{ name: string; events: Array<[number, number]>; at: number; perSecond: number }> = [
    { name: 'nothing yet', events: [], at: 0, perSecond: 0 },
    { name: '100 forks in one bucket', events: [[5, 100]], at: 5, perSecond: 100 },
    { name: 'spread over the window', events: Array.from({ length: 50 }, (_, i): [number, number] => [i * 20, 1]), at: 995, perSecond: 50 },
    { name: 'still inside at the last bucket', events: [[0, 10]], at: 999, perSecond: 10 },
    { name: 'gone when its bucket leaves the window', events: [[0, 10]], at: 1000, perSecond: 0 },
    {
      name: 'partly gone',
      events: [
        [0, 10],
        [500, 5],
      ],
      at: 1200,
      perSecond: 5,
    },
    {
      name: 'a long pause clears everything',
      events: [
        [0, 10],
        [10, 10],
      ],
      at: 1e9,
      perSecond: 0,
    },
    {
      name: 'a late event goes to its own bucket',
      events: [
        [900, 1],
        [100, 1],
      ],
      at: 1150,
      perSecond: 1,
    },
    {
      name: 'and counts while its bucket is inside',
      events: [
        [900, 1],
        [100, 1],
      ],
      at: 1050,
      perSecond: 2,
    },
    {
      name: 'an event older than the window is dropped',
      events: [
        [2000, 1],
        [500, 1],
      ],
      at: 2000,
      perSecond: 1,
    },
  ];

  it.each(cases)('$name', ({ events, at, perSecond }) => {
    const r = new SlidingRate();
    for (const [t, n] of events) r.add(t, n);
    expect(r.perSecond(at)).toBeCloseTo(perSecond, 9);
  });

  it('follows a steady stream of events at 1 kHz', () => {
    const r = new SlidingRate();
    let t = 0;
    for (; t < 5000; t++) r.add(t);
    expect(r.perSecond(t - 1)).toBe(1000);
    expect(r.count(t - 1 + 500)).toBe(500);
  });

  it('counts per second over other windows', () => {
    const r = new SlidingRate({ window_ms: 250, bucket_ms: 50 });
    expect(r.window_ms).toBe(250);
    r.add(0, 10);
    expect(r.perSecond(0)).toBe(40);
    expect(r.perSecond(250)).toBe(0);
    // A window that is not a whole number of buckets is rounded up.
    expect(new SlidingRate({ window_ms: 1005 }).window_ms).toBe(1010);
  });

  it('keeps the events still inside when the window changes', () => {
    const r = new SlidingRate();
    r.add(100, 3);
    r.add(800, 4);
    r.setWindow(500);
    expect(r.count(800)).toBe(4);
    r.setWindow(2000);
    expect(r.count(800)).toBe(4);
    r.add(1500, 1);
    expect(r.count(1500)).toBe(5);
    expect(r.perSecond(1500)).toBe(2.5);
  });

  it('ignores a clock stepping back', () => {
    const r = new SlidingRate();
    r.add(1000, 2);
    expect(r.count(900)).toBe(2);
  });

  it('rejects a window of zero', () => {
    expect(() => new SlidingRate({ window_ms: 0 })).toThrow(RangeError);
    expect(() => new SlidingRate({ bucket_ms: Number.NaN })).toThrow(RangeError);
  });
});

describe('CpuRate', () => {
  // Samples [time ms, cumulative CPU seconds] and the cores expected after the last one.
  const cases: Array<{ name: string; window_ms?: number; samples: Array<[number, number]>; cores: number | null }> = [
    { name: 'one sample says nothing', samples: [[0, 5]], cores: null },
    {
      name: 'two samples at one instant say nothing',
      samples: [
        [0, 5],
        [0, 6],
      ],
      cores: null,
    },
    {
      name: 'one core busy',
      samples: [
        [0, 100],
        [1000, 101],
        [2000, 102],
      ],
      cores: 1,
    },
    {
      name: 'two and a half cores',
      samples: [
        [0, 0],
        [2000, 5],
      ],
      cores: 2.5,
    },
    {
      name: 'the window forgets an old burst',
      window_ms: 2000,
      samples: [
        [0, 0],
        [1000, 8],
        [2000, 8],
        [3000, 8],
        [4000, 9],
      ],
      cores: 0.5,
    },
    {
      name: 'a counter reset does not go negative',
      window_ms: 3000,
      samples: [
        [0, 50],
        [1000, 51],
        [2000, 0.5],
        [3000, 1.5],
      ],
      cores: (1 + 0.5 + 1) / 3,
    },
  ];

  it.each(cases)('$name', ({ window_ms, samples, cores }) => {
    const r = new CpuRate({ window_ms });
    for (const [t, s] of samples) r.sample(t, s);
    if (cores === null) expect(r.cores()).toBeNull();
    else expect(r.cores()).toBeCloseTo(cores, 9);
  });

  it('keeps a bounded history over a long run', () => {
    const r = new CpuRate({ window_ms: 10_000 });
    for (let t = 0; t <= 3_600_000; t += 1000) r.sample(t, t / 1000 / 4);
    expect(r.cores()).toBeCloseTo(0.25, 9);
  });

  it('applies a changed window from the next sample', () => {
    const r = new CpuRate({ window_ms: 10_000 });
    r.sample(0, 0);
    r.sample(5000, 5);
    r.setWindow(1000);
    r.sample(6000, 5);
    expect(r.window_ms).toBe(1000);
    expect(r.cores()).toBe(0);
  });
});
