/** Per-group totals from the kernel's rows (groups of whole cgroups) or from events (rule groups). */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { zeroCounterRow, type CounterRow } from '../../src/events/decode.js';
import { LIFETIME_SLOTS } from '../../src/events/layout.js';
import { groupTotals, lifetimeCount } from '../../src/groups/kernel-totals.js';
import { GroupRegistry, LIFETIME_BUCKETS, lifetimeSlot } from '../../src/groups/registry.js';

const config = (...yaml: string[]) => parseConfig(['groups:', ...yaml].join('\n'), 'test.yaml', { hostname: 'test' });

const row = (cgroupId: number, fields: Partial<CounterRow>): CounterRow => ({ ...zeroCounterRow(cgroupId), ...fields });

const slots = (entries: Record<number, number>) => {
  const out = new Array<number>(LIFETIME_SLOTS).fill(0);
  for (const [i, n] of Object.entries(entries)) out[Number(i)] = n;
  return out;
};

describe('lifetime ladder', () => {
  it('is the kernel log2 one: le = 2^i / 1000 s, a slot per bit length of whole ms', () => {
    expect(LIFETIME_BUCKETS.slice(0, 4)).toEqual([0.001, 0.002, 0.004, 0.008]);
    expect(LIFETIME_BUCKETS).toHaveLength(LIFETIME_SLOTS - 1);
    const table: [number, number][] = [
      [0, 0],
      [999_999, 0], // under 1 ms
      [1e6, 1],
      [1.999e6, 1],
      [2e6, 2],
      [45e6, 6], // 32 <= 45 < 64
      [600e6, 10],
      [2 ** 27 * 1e6, LIFETIME_SLOTS - 1], // +Inf
      [1e18, LIFETIME_SLOTS - 1],
    ];
    for (const [ns, slot] of table) expect(lifetimeSlot(ns), `${ns} ns`).toBe(slot);
  });
});

describe('groupTotals', () => {
  const paths: Record<number, string> = { 10: '/a.service', 11: '/a.service/w', 20: '/b.service' };
  const registry = (yaml: string[] = []) =>
    new GroupRegistry({ rules: config(...yaml).groups.rules, defaults: {}, maxGroups: 100, evictAfterS: 60, cgroupPath: (id) => paths[id], now: () => 0 });

  it("sums a group's rows and its retired cgroups: live counts, lifetimes and releases from the kernel", () => {
    const r = registry();
    const a = r.forCgroup(10);
    a.retired.releases = 2;
    a.retired.lifetime[3] = 1;
    a.tasks = 99; // the tracker's count is not what a group of whole cgroups exports
    const rows = [
      row(10, { liveTasks: 2, liveThreads: 5, lifetime: slots({ 3: 1, 6: 2 }), lifetimeSumNs: 100e6, releases: 1, forks: 4 }),
      row(11, { liveTasks: 1, liveThreads: 1, releases: 1 }),
      row(20, { liveTasks: -1, liveThreads: -1 }), // a per-CPU read in between: never below 0
    ];
    const t = groupTotals({ groups: r.all(), rows, forCgroup: (id) => r.forCgroup(id) });
    const ta = t.get(a)!;
    expect(ta).toMatchObject({ liveTasks: 3, liveThreads: 6, lifetimeSumNs: 100e6, releases: 4, forks: 4 });
    expect([...ta.lifetime]).toEqual(slots({ 3: 2, 6: 2 }));
    expect(lifetimeCount(ta)).toBe(4);
    expect(t.get(r.forCgroup(20))).toMatchObject({ liveTasks: 0, liveThreads: 0 });
  });

  it('with a comm rule, live counts, lifetimes and releases come from the tracker for every group', () => {
    const r = registry(['  - name: sh', '    match: { comm: "^sh$" }']);
    const a = r.forCgroup(10);
    a.tasks = 1;
    a.threads = 2;
    a.releases = 1;
    a.observeLifetime(0.045);
    const sh = r.get('sh')!;
    sh.tasks = 3;
    sh.threads = 3;
    const rows = [row(10, { liveTasks: 4, liveThreads: 5, releases: 7, forks: 6 })];
    const t = groupTotals({ groups: r.all(), rows, forCgroup: (id) => r.forCgroup(id), processRules: r.hasProcessRules });
    expect(t.get(a)).toMatchObject({ liveTasks: 1, liveThreads: 2, releases: 1, forks: 6 });
    expect([...t.get(a)!.lifetime]).toEqual(slots({ 6: 1 }));
    expect(t.get(sh)).toMatchObject({ liveTasks: 3, liveThreads: 3 });
  });
});
