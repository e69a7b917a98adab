/**
 * The CPU-per-cgroup computation on v2 (src/agent/cgroup-cpu.ts) over an in-memory cgroup tree:
 * usage_usec is hierarchical, so own = usage − live children's − removed children's last-read.
 */
import { describe, expect, it } from 'vitest';
import { CgroupCpu } from '../../src/agent/cgroup-cpu.js';

interface G {
  name: string;
}

/** A cgroup tree whose usage the test sets (µs, hierarchical as the kernel keeps it). */
function tree() {
  const live = new Map<number, string>();
  const usage = new Map<string, number>();
  const reads: string[] = [];
  const groups = new Map<number, G>();
  const active = new Set<number>();
  const cpu = () =>
    new CgroupCpu<G>({
      cgroups: () => live.entries(),
      usageUs: (p) => (reads.push(p), usage.get(p)),
      active: () => active,
      groupOf: (id) => groups.get(id),
    });
  return { live, usage, reads, groups, active, cpu };
}

/** Fills a totals map for the given groups and returns their CPU in µs. */
function read(c: CgroupCpu<G>, gs: G[]): number[] {
  const totals = new Map(gs.map((g) => [g, { cpuNs: -1 }]));
  c.fill(totals);
  return gs.map((g) => totals.get(g)!.cpuNs / 1000);
}

describe('CgroupCpu', () => {
  it('counts from the start for cgroups that existed then, from zero for later ones', () => {
    const t = tree();
    const a: G = { name: 'a' };
    const b: G = { name: 'b' };
    t.live.set(1, '/a');
    t.usage.set('/a', 5000);
    t.groups.set(1, a);
    const c = t.cpu();
    t.live.set(2, '/b');
    t.usage.set('/b', 300);
    t.groups.set(2, b);
    t.active.add(1).add(2);
    t.usage.set('/a', 5400);
    expect(read(c, [a, b])).toEqual([400, 300]);
  });

  it("takes live children's usage out of their parent, reading parents first", () => {
    const t = tree();
    const p: G = { name: 'p' };
    const k: G = { name: 'k' };
    const c = t.cpu();
    t.live.set(2, '/p/k').set(1, '/p');
    t.usage.set('/p', 1000).set('/p/k', 700);
    t.groups.set(1, p).set(2, k);
    t.active.add(2).add(1);
    expect(read(c, [p, k])).toEqual([300, 700]);
    expect(t.reads.indexOf('/p')).toBeLessThan(t.reads.indexOf('/p/k'));
  });

  it("keeps a removed child's CPU out of its parent and in the child's group", () => {
    const t = tree();
    const p: G = { name: 'p' };
    const k: G = { name: 'k' };
    const c = t.cpu();
    t.live.set(1, '/p').set(2, '/p/k');
    t.usage.set('/p', 1000).set('/p/k', 700);
    t.groups.set(1, p).set(2, k);
    t.active.add(1).add(2);
    expect(read(c, [p, k])).toEqual([300, 700]);
    t.live.delete(2);
    t.usage.delete('/p/k');
    t.usage.set('/p', 1050); // the parent's own loop went on: 50 µs more
    expect(read(c, [p, k])).toEqual([350, 700]);
  });

  it('never gives a group less than before, and leaves groups it does not know alone', () => {
    const t = tree();
    const p: G = { name: 'p' };
    const other: G = { name: 'rule group' };
    const c = t.cpu();
    t.live.set(1, '/p').set(2, '/p/k');
    t.usage.set('/p', 1000).set('/p/k', 100);
    t.groups.set(1, p);
    t.active.add(1);
    expect(read(c, [p, other])).toEqual([900, -0.001]);
    // The child grew between the two reads of a pass: the parent's own computes lower; it holds.
    t.usage.set('/p/k', 400);
    expect(read(c, [p, other])[0]).toBe(900);
    t.usage.set('/p', 1500);
    expect(read(c, [p, other])[0]).toBe(1100);
  });

  it('keeps showing a cgroup once shown, while it lives, with nothing running in it', () => {
    const t = tree();
    const g: G = { name: 'g' };
    const c = t.cpu();
    t.live.set(1, '/g');
    t.usage.set('/g', 250);
    t.groups.set(1, g);
    t.active.add(1);
    expect(read(c, [g])).toEqual([250]);
    t.active.clear();
    t.usage.set('/g', 260);
    expect(read(c, [g])).toEqual([260]);
  });
});
