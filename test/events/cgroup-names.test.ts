/**
 * cgroup names from mkdir / rmdir records: a removed cgroup stays named for a while (its last
 * records may be read after its rmdir), and that memory is bounded in age and in size.
 */
import { describe, expect, it } from 'vitest';
import { CgroupNames } from '../../src/events/cgroup-names.js';

function names(opts: { max?: number; keepMs?: number; scan?: Map<number, string>; find?: (id: number, under: string) => string | undefined } = {}) {
  let now = 0;
  let scans = 0;
  const n = new CgroupNames(
    () => {
      scans++;
      return opts.scan ?? new Map([[1, '/']]);
    },
    { now: () => now, maxRemoved: opts.max, rescanEveryMs: 200, keepRemovedMs: opts.keepMs, find: opts.find },
  );
  return { n, advance: (ms: number) => (now += ms), scans: () => scans };
}

describe('CgroupNames', () => {
  it('names cgroups made after the start, and keeps the name of one just removed', () => {
    const { n } = names();
    n.made(10, '/a');
    expect(n.path(10)).toBe('/a');
    expect(n.idOf('/a')).toBe(10);
    n.gone(10, '/a');
    expect(n.path(10)).toBe('/a');
    expect(n.idOf('/a')).toBeUndefined();
    expect(n.isGone(10)).toBe(true);
    expect([...n.entries()]).toEqual([[1, '/']]);
  });

  it('forgets removed names after a minute, so a steady churn does not grow it', () => {
    const { n, advance } = names();
    for (let i = 0; i < 1000; i++) {
      n.made(100 + i, `/churn-${i}`);
      n.gone(100 + i, `/churn-${i}`);
      advance(100); // ten cgroups a second
    }
    // The last minute's 600 are still named; the ones before have gone.
    expect(n.path(100 + 999)).toBe('/churn-999');
    expect(n.path(100 + 400)).toBe('/churn-400');
    advance(1000); // past the rescan pause: an unknown id is looked up in cgroupfs, then numbered
    expect(n.path(100 + 300)).toBe('cgroup:400');
    expect(n.isGone(100 + 300)).toBe(false);
  });

  it('caps the removed names by count as well', () => {
    const { n } = names({ max: 3 });
    for (let i = 0; i < 5; i++) n.gone(10 + i, `/x${i}`);
    expect([10, 11, 12, 13, 14].map((id) => n.isGone(id))).toEqual([false, false, true, true, true]);
  });

  it('a cgroup made again under an id once removed is live again', () => {
    const { n } = names();
    n.made(7, '/old');
    n.gone(7, '/old');
    n.made(7, '/new');
    expect(n.path(7)).toBe('/new');
    expect(n.isGone(7)).toBe(false);
  });

  describe('a path the kernel cut (longer than its 1 KiB buffer)', () => {
    // The cut path of /a/bb...b/c is /a/bb...b: the parent's own path.
    const ancestor = '/a/' + 'b'.repeat(1020);
    const real = `${ancestor}/c`;

    it("never names the cgroup after the cut path: it is looked up by id below the cut path's parent", () => {
      const asked: [number, string][] = [];
      const { n } = names({
        scan: new Map([
          [1, '/'],
          [5, ancestor],
        ]),
        find: (id, under) => (asked.push([id, under]), id === 9 ? real : undefined),
      });
      n.made(9, ancestor, true);
      expect(asked).toEqual([[9, '/a']]);
      expect(n.path(9)).toBe(real);
      expect(n.idOf(ancestor)).toBe(5);
      expect(n.path(5)).toBe(ancestor);
      expect(n.idOf(real)).toBe(9);
    });

    it('leaves a cgroup it cannot find unnamed rather than name it after an ancestor', () => {
      const { n, advance } = names({ scan: new Map([[5, ancestor]]), find: () => undefined });
      n.made(9, ancestor, true);
      advance(1000);
      expect(n.path(9)).toBe('cgroup:9');
      expect(n.idOf(ancestor)).toBe(5);
    });

    it("keeps the name it had when the rmdir record's path is cut", () => {
      const { n } = names({ find: () => real });
      n.made(9, ancestor, true);
      n.made(5, ancestor);
      n.gone(9, ancestor, true);
      expect(n.path(9)).toBe(real);
      expect(n.idOf(ancestor)).toBe(5);
      n.gone(11, ancestor, true);
      expect(n.path(11)).toBe('cgroup:11');
    });
  });
});
