import { describe, expect, it } from 'vitest';
import { Beancounter, type Crossing } from '../../../src/beancounters/model/beancounter.js';
import { CumulativeCounter } from '../../../src/beancounters/model/counter.js';

const short = (cs: readonly Crossing[]) => cs.map((c) => `${c.kind}:${c.direction}`);

describe('Beancounter on scripted held sequences', () => {
  const cases: Array<{
    name: string;
    barrier?: number;
    limit?: number;
    held: number[];
    barrierHits: number;
    failcnt: number;
    maxheld: number;
    minheld: number;
    crossings: string[];
  }> = [
    {
      name: 'rise, fall, rise with barrier 20 / limit 40',
      barrier: 20,
      limit: 40,
      held: [10, 25, 30, 45, 50, 35, 15, 25, 45, 10],
      barrierHits: 2,
      failcnt: 2,
      maxheld: 50,
      minheld: 10,
      crossings: [
        'barrier:up', // 10 -> 25
        'limit:up', // 30 -> 45
        'limit:down', // 50 -> 35
        'barrier:down', // 35 -> 15
        'barrier:up', // 15 -> 25
        'limit:up', // 25 -> 45
        'limit:down', // 45 -> 10
        'barrier:down',
      ],
    },
    {
      name: 'held equal to the barrier is not a hit',
      barrier: 20,
      limit: 40,
      held: [20, 20, 19, 20],
      barrierHits: 0,
      failcnt: 0,
      maxheld: 20,
      minheld: 19,
      crossings: [],
    },
    {
      name: 'held equal to the limit is not a failure',
      barrier: 20,
      limit: 40,
      held: [40, 40, 41, 40, 41],
      barrierHits: 1,
      failcnt: 2,
      maxheld: 41,
      minheld: 40,
      crossings: ['barrier:up', 'limit:up', 'limit:down', 'limit:up'],
    },
    {
      name: 'staying above counts once, not per event',
      barrier: 20,
      limit: 40,
      held: [21, 22, 23, 41, 42, 43, 44],
      barrierHits: 1,
      failcnt: 1,
      maxheld: 44,
      minheld: 21,
      crossings: ['barrier:up', 'limit:up'],
    },
    {
      name: 'one jump crosses both, barrier first; the fall undoes limit first',
      barrier: 20,
      limit: 40,
      held: [0, 100, 0],
      barrierHits: 1,
      failcnt: 1,
      maxheld: 100,
      minheld: 0,
      crossings: ['barrier:up', 'limit:up', 'limit:down', 'barrier:down'],
    },
    {
      name: 'a first reading above the barrier is a hit (the counter starts empty)',
      barrier: 20,
      held: [30],
      barrierHits: 1,
      failcnt: 0,
      maxheld: 30,
      minheld: 30,
      crossings: ['barrier:up'],
    },
    {
      name: 'no thresholds: extremes only',
      held: [5, 1e12, 3],
      barrierHits: 0,
      failcnt: 0,
      maxheld: 1e12,
      minheld: 3,
      crossings: [],
    },
    {
      name: 'limit only',
      limit: 2,
      held: [1, 3, 2, 3],
      barrierHits: 0,
      failcnt: 2,
      maxheld: 3,
      minheld: 1,
      crossings: ['limit:up', 'limit:down', 'limit:up'],
    },
  ];

  it.each(cases)('$name', (tc) => {
    const bc = new Beancounter({ barrier: tc.barrier, limit: tc.limit, clock: () => 0 });
    const seen: string[] = [];
    tc.held.forEach((h, i) => seen.push(...short(bc.update(h, i))));
    expect(seen).toEqual(tc.crossings);
    expect(bc.barrierHits).toBe(tc.barrierHits);
    expect(bc.failcnt).toBe(tc.failcnt);
    expect(bc.maxheld).toBe(tc.maxheld);
    expect(bc.minheld).toBe(tc.minheld);
    expect(bc.held).toBe(tc.held.at(-1));
  });

  it('reports held and the thresholds in each crossing', () => {
    const bc = new Beancounter({ barrier: 20, limit: 40, clock: () => 0 });
    expect(bc.update(45, 1)).toEqual([
      { kind: 'barrier', direction: 'up', held: 45, barrier: 20, limit: 40 },
      { kind: 'limit', direction: 'up', held: 45, barrier: 20, limit: 40 },
    ]);
  });

  it('rejects a held that is not a number', () => {
    const bc = new Beancounter({ clock: () => 0 });
    expect(() => bc.update(Number.NaN, 0)).toThrow(RangeError);
  });
});

describe('Beancounter accounting period', () => {
  it('keeps extremes for its whole life without a period', () => {
    const bc = new Beancounter({ clock: () => 0 });
    bc.update(50, 0);
    bc.update(5, 1e9);
    expect([bc.maxheld, bc.minheld]).toEqual([50, 5]);
    expect(bc.rollover(1e12)).toBe(false);
  });

  // period 1000 ms starting at 0: each step is [time, held, maxheld after, minheld after].
  const steps: Array<[number, number, number, number]> = [
    [100, 10, 10, 10],
    [200, 50, 50, 10],
    [900, 30, 50, 10],
    // New period: restarts from 30 (held at the boundary), then takes 20.
    [1100, 20, 30, 20],
    [1500, 25, 30, 20],
    // Two periods skipped; aligned to 3000, restart from 25.
    [3200, 60, 60, 25],
  ];
  it.each(steps.map((s, i) => ({ i, s })))('step $i: t=$s.0 held=$s.1', ({ i }) => {
    const bc = new Beancounter({ clock: () => 0, period_ms: 1000 });
    for (const [t, h] of steps.slice(0, i + 1)) bc.update(h, t);
    const [, , max, min] = steps[i];
    expect([bc.maxheld, bc.minheld]).toEqual([max, min]);
  });

  it('rolls over between readings and keeps periods aligned', () => {
    const bc = new Beancounter({ clock: () => 0, period_ms: 1000 });
    bc.update(10, 100);
    bc.update(90, 200);
    bc.update(40, 300);
    expect(bc.rollover(999)).toBe(false);
    expect(bc.rollover(2500)).toBe(true);
    expect(bc.periodStart).toBe(2000);
    expect([bc.maxheld, bc.minheld]).toEqual([40, 40]);
  });

  it('counts from period_start when given', () => {
    const bc = new Beancounter({ clock: () => 5000, period_ms: 1000, period_start: 0 });
    expect(bc.periodStart).toBe(0);
    bc.update(1, 5500);
    expect(bc.periodStart).toBe(5000);
  });

  it('restarts the period when it is changed', () => {
    const bc = new Beancounter({ clock: () => 0 });
    bc.update(100, 10);
    bc.update(50, 20);
    bc.setPeriod(1000, 30);
    expect([bc.maxheld, bc.minheld, bc.periodStart]).toEqual([50, 50, 30]);
    expect(() => bc.setPeriod(0, 40)).toThrow(RangeError);
  });

  it('does not touch the counters at a period boundary', () => {
    const bc = new Beancounter({ barrier: 20, limit: 40, clock: () => 0, period_ms: 1000 });
    bc.update(45, 100);
    bc.update(10, 1500);
    expect([bc.barrierHits, bc.failcnt]).toEqual([1, 1]);
  });
});

describe('Beancounter.setLimits (config reload)', () => {
  const cases: Array<{
    name: string;
    held: number;
    to: [number | undefined, number | undefined];
    crossings: string[];
    barrierHits: number;
    failcnt: number;
  }> = [
    { name: 'raising both above held releases both', held: 45, to: [100, 200], crossings: ['limit:down', 'barrier:down'], barrierHits: 1, failcnt: 1 },
    { name: 'lowering the limit under held is a limit crossing', held: 30, to: [20, 25], crossings: ['limit:up'], barrierHits: 1, failcnt: 1 },
    { name: 'lowering both under held crosses both', held: 15, to: [5, 10], crossings: ['barrier:up', 'limit:up'], barrierHits: 1, failcnt: 1 },
    { name: 'removing the thresholds releases', held: 45, to: [undefined, undefined], crossings: ['limit:down', 'barrier:down'], barrierHits: 1, failcnt: 1 },
    { name: 'moving a threshold without changing sides crosses nothing', held: 30, to: [25, 50], crossings: [], barrierHits: 1, failcnt: 0 },
    { name: 'a threshold moved to exactly held is released', held: 30, to: [30, 40], crossings: ['barrier:down'], barrierHits: 1, failcnt: 0 },
  ];

  it.each(cases)('$name', (tc) => {
    const bc = new Beancounter({ barrier: 20, limit: 40, clock: () => 0 });
    bc.update(tc.held, 1);
    const before = [bc.barrierHits, bc.failcnt];
    const crossings = bc.setLimits(...tc.to);
    expect(short(crossings)).toEqual(tc.crossings);
    expect([bc.barrier, bc.limit]).toEqual(tc.to);
    // Counters keep what they had; only crossings caused by the move add to them.
    const ups = tc.crossings.filter((c) => c.endsWith(':up'));
    expect(bc.barrierHits).toBe(before[0] + ups.filter((c) => c.startsWith('barrier')).length);
    expect(bc.failcnt).toBe(before[1] + ups.filter((c) => c.startsWith('limit')).length);
    expect([bc.barrierHits, bc.failcnt]).toEqual([tc.barrierHits, tc.failcnt]);
  });

  it('keeps maxheld, minheld and the counters across a reload', () => {
    const bc = new Beancounter({ barrier: 20, limit: 40, clock: () => 0 });
    for (const h of [10, 25, 45, 5]) bc.update(h, 1);
    bc.setLimits(30, 60);
    expect([bc.held, bc.maxheld, bc.minheld, bc.barrierHits, bc.failcnt]).toEqual([5, 45, 5, 1, 1]);
    // The new thresholds apply from now on.
    expect(short(bc.update(35, 2))).toEqual(['barrier:up']);
    expect(short(bc.update(45, 3))).toEqual([]);
  });
});

describe('kernel failures', () => {
  // [reading, added]: the first reading is a baseline, then increases; a drop is a reset.
  const readings: Array<[number, number]> = [
    [7, 0],
    [7, 0],
    [10, 3],
    [2, 2],
    [5, 3],
  ];
  it('adds only increases of the cumulative counter and survives resets', () => {
    const bc = new Beancounter({ limit: 40, clock: () => 0 });
    bc.update(50, 0);
    for (const [reading, added] of readings) expect(bc.addKernelFailures(reading)).toBe(added);
    expect(bc.kernelFailures).toBe(8);
    expect(bc.failcnt).toBe(9);
  });

  it('keeps one counter per source and can count a first reading in full', () => {
    const bc = new Beancounter({ clock: () => 0 });
    expect(bc.addKernelFailures(4, '/a')).toBe(0);
    expect(bc.addKernelFailures(3, '/b', { countExisting: true })).toBe(3);
    expect(bc.addKernelFailures(6, '/a')).toBe(2);
    expect(bc.addKernelFailures(4, '/b')).toBe(1);
    bc.forgetKernelSource('/a');
    expect(bc.addKernelFailures(1, '/a')).toBe(0);
    expect(bc.failcnt).toBe(6);
  });

  it('rejects readings that are not counters', () => {
    const c = new CumulativeCounter();
    expect(() => c.feed(-1)).toThrow(RangeError);
    expect(() => c.feed(Number.NaN)).toThrow(RangeError);
  });
});

describe('what failcnt counts (fail modes)', () => {
  // The same held sequences under each mode; limit 10. A burst of 30 forks from one process
  // (held 1 to 31), seen with exits interleaved in two different orders: in one the group is read
  // straight up, in the other exits of killed processes land between the forks.
  const straight = Array.from({ length: 31 }, (_, i) => i + 1);
  const interleaved = [...Array.from({ length: 11 }, (_, i) => i + 1), 10, 11, 10, 11, 12, 11, 12, 13, 12, 11, 10, 11];
  it.each([
    { mode: 'crossings' as const, held: straight, failcnt: 1 },
    { mode: 'units' as const, held: straight, failcnt: 21 },
    { mode: 'refusals' as const, held: straight, failcnt: 0 },
    // units: every rise of held's excess over the limit (11; 11 after 10, twice; 12; 12 after 11; 13; 11 after 10).
    { mode: 'units' as const, held: interleaved, failcnt: 7 },
    { mode: 'crossings' as const, held: interleaved, failcnt: 4 },
  ])('$mode on $held.length readings: failcnt $failcnt', ({ mode, held, failcnt }) => {
    const bc = new Beancounter({ limit: 10, failMode: mode, clock: () => 0 });
    for (const h of held) bc.update(h, 0);
    expect(bc.failcnt).toBe(failcnt);
  });

  it('a 30-fork burst against limit 10 counts 21 in units mode, whichever way the readings come', () => {
    for (let run = 0; run < 5; run++) {
      const bc = new Beancounter({ limit: 10, failMode: 'units', clock: () => 0 });
      // Forks only ever raise held by one, so any order of the same forks (no exits) reads 1..31.
      let held = 1;
      bc.update(held, 0);
      for (let i = 0; i < 30; i++) bc.update(++held, 0);
      expect(bc.failcnt).toBe(21);
    }
  });

  it('refusals mode counts what addRefusals reports, and the kernel counts on top', () => {
    const bc = new Beancounter({ limit: 10, failMode: 'refusals', clock: () => 0 });
    for (const h of straight) bc.update(h, 0);
    bc.addRefusals(21);
    bc.addKernelFailures(0, '/a');
    bc.addKernelFailures(4, '/a');
    expect([bc.failcnt, bc.kernelFailures, bc.barrierHits]).toEqual([25, 4, 0]);
  });

  it('units mode: a limit lowered under held counts the units it puts past it, a raised one none', () => {
    const bc = new Beancounter({ limit: 20, failMode: 'units', clock: () => 0 });
    bc.update(15, 0);
    expect(short(bc.setLimits(undefined, 10))).toEqual(['limit:up']);
    expect(bc.failcnt).toBe(5);
    bc.setLimits(undefined, 8);
    expect(bc.failcnt).toBe(7);
    bc.setLimits(undefined, 30);
    expect(bc.failcnt).toBe(7);
  });

  it('barrier hits stay once per crossing in every mode', () => {
    for (const mode of ['crossings', 'units', 'refusals'] as const) {
      const bc = new Beancounter({ barrier: 5, limit: 10, failMode: mode, clock: () => 0 });
      for (const h of [...straight, 3, ...straight]) bc.update(h, 0);
      expect(bc.barrierHits).toBe(2);
    }
  });
});
