/**
 * The direct-mapped counter rows (bpf/proc.bpf.c cg_fast): a fork, exec or exit counts in its
 * CPU's copy of the slot at the low bits of its cgroup id when that copy is the cgroup's or free,
 * else in the cgroup's hash row; a cgroup's rmdir folds its copies into its hash row and frees
 * them; a read adds the copies to the rows, never counting a fold's counts twice or not at all.
 * takeCounters() reads the hash row alone, which tells the two paths apart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeOptions } from '../../src/config/default.js';
import { decodeCounters, type CounterRow } from '../../src/events/decode.js';
import { loadBinding, type NativeProbe } from '../../src/host/binding.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { workload } from '../helpers/workloads.js';

const rowOf = (rows: CounterRow[], id: number) => rows.find((r) => r.cgroupId === id);

/** A cgroup whose id is even: with two slots, the slot the root cgroup (id 1) never takes. */
async function evenCgroup(label: string): Promise<TestCgroup> {
  for (let i = 0; i < 16; i++) {
    const cg = TestCgroup.create(label);
    if (cg.id % 2 === 0) return cg;
    await cg.remove();
  }
  throw new Error('no cgroup with an even id in 16 tries');
}

describe('direct-mapped counter rows: two slots, cgroups sharing one', () => {
  let probe: NativeProbe;
  const made: TestCgroup[] = [];

  beforeAll(() => {
    requireRoot();
    // Nothing reads the ring: records are lost, counts are not.
    probe = new (loadBinding().Probe)(probeOptions({ ringBytes: 4096, fastRows: 2, cpuAccounting: false }));
  });

  afterAll(async () => {
    probe?.close();
    for (const cg of made) await cg.remove();
  });

  it("counts in the slot's owner's copy, a colliding cgroup in its hash row, folds the owner's copy at its rmdir, and frees the slot for the next", async () => {
    expect(probe.fastRows).toBe(2);
    expect(probe.attached).toEqual(expect.arrayContaining(['handle_rmdir_fold', 'handle_populated_fold']));
    expect(probe.attached).not.toContain('handle_rmdir');
    const a = await evenCgroup('fast-a');
    const b = await evenCgroup('fast-b');
    made.push(a, b);
    const [idA, idB] = [a.id, b.id];
    // Pinned to CPU 0 (taskset): the forks and exits all meet CPU 0's copy of slot 0. a runs first
    // and claims it; b's then find it a's.
    expect((await a.exec(`exec taskset -c 0 ${workload('forkn')} 300`)).code).toBe(0);
    expect((await b.exec(`exec taskset -c 0 ${workload('forkn')} 200`)).code).toBe(0);

    // Both exact as read (bash, taskset and forkn exec'd; forkn's children and forkn exited 0).
    const rows = decodeCounters(probe.readCounters());
    expect(rowOf(rows, idA)).toMatchObject({ forks: 300, execs: 3, exitsSuccess: 301, removed: false });
    expect(rowOf(rows, idB)).toMatchObject({ forks: 200, execs: 3, exitsSuccess: 201, removed: false });

    // The hash rows: none of a's CPU-0 counts, all of b's.
    const hashA = rowOf(decodeCounters(probe.takeCounters(BigUint64Array.of(BigInt(idA)))), idA);
    const hashB = rowOf(decodeCounters(probe.takeCounters(BigUint64Array.of(BigInt(idB)))), idB);
    expect(hashA).toMatchObject({ forks: 0 });
    expect(hashA!.exitsSuccess).toBe(0);
    expect(hashB).toMatchObject({ forks: 200, exitsSuccess: 201 });

    // a's rmdir moves its copies into a row of its own, marked removed; what was taken before plus
    // that row is every count a had.
    await a.remove();
    const afterRmdir = decodeCounters(probe.readCounters());
    const foldedA = rowOf(afterRmdir, idA);
    expect(foldedA).toMatchObject({ forks: 300, exitsSuccess: 301, removed: true });
    expect(hashA!.execs + foldedA!.execs).toBe(3);
    const takenA = decodeCounters(probe.takeCounters(BigUint64Array.of(BigInt(idA))));
    expect(takenA).toEqual([foldedA]);
    expect(rowOf(decodeCounters(probe.readCounters()), idA)).toBeUndefined();

    // The freed slot goes to the next cgroup that counts on CPU 0.
    const c = await evenCgroup('fast-c');
    made.push(c);
    expect((await c.exec(`exec taskset -c 0 ${workload('forkn')} 100`)).code).toBe(0);
    expect(rowOf(decodeCounters(probe.readCounters()), c.id)).toMatchObject({ forks: 100, execs: 3, exitsSuccess: 101 });
    expect(rowOf(decodeCounters(probe.takeCounters(BigUint64Array.of(BigInt(c.id)))), c.id)).toMatchObject({ forks: 0, exitsSuccess: 0 });
  });
});

describe('direct-mapped counter rows: reads while cgroups are removed', () => {
  let probe: NativeProbe;
  const parent = TestCgroup.create('fast-churn');

  beforeAll(() => {
    requireRoot();
    probe = new (loadBinding().Probe)(probeOptions({ ringBytes: 4096, cpuAccounting: false }));
  });

  afterAll(async () => {
    probe?.close();
    await parent.remove();
  });

  it('never shows a removed cgroup its folded exit twice, or not at all once shown', async () => {
    const N = 2000;
    // Each cgroup: made, a child moves in and exits 0 (counted in the cgroup's copy), removed (folded)
    // 300 µs later, so that reads catch exits not yet folded even on a loaded machine.
    const churn = parent.exec(`exec ${workload('cgchurn')} ${parent.dir} ${N} 300`);
    let done = false;
    void churn.then(() => (done = true));
    const seen = new Map<number, number[]>();
    const beforeRmdir = new Set<number>();
    let reads = 0;
    while (!done) {
      const rows = decodeCounters(probe.readCounters());
      reads++;
      for (const row of rows) {
        if (!seen.has(row.cgroupId)) seen.set(row.cgroupId, []);
        if (row.exitsSuccess === 1 && !row.removed) beforeRmdir.add(row.cgroupId);
      }
      const now = new Map(rows.map((row) => [row.cgroupId, row.exitsSuccess]));
      for (const [id, history] of seen) history.push(now.get(id) ?? 0);
      await new Promise((r) => setImmediate(r));
    }
    const r = await churn;
    expect(r.code).toBe(0);
    const ids = r.stdout.trim().split('\n').map(Number);
    expect(ids).toHaveLength(N);
    expect(reads).toBeGreaterThan(50);

    // Every churned cgroup ends with its one exit, in its removed row.
    const final = decodeCounters(probe.readCounters());
    for (const id of ids) expect(rowOf(final, id)).toMatchObject({ exitsSuccess: 1, removed: true });
    // Between: never more than one exit, and never back to none once one was seen.
    const wrong = ids.filter((id) => {
      const h = seen.get(id) ?? [];
      return h.some((v, i) => v > 1 || (i > 0 && v < h[i - 1]));
    });
    expect(wrong).toEqual([]);
    // The reads did catch cgroups between their exit and their rmdir (the exit in a copy, not yet
    // folded), so folds ran between reads.
    expect(ids.filter((id) => beforeRmdir.has(id)).length).toBeGreaterThan(5);
  });
});

describe('direct-mapped counter rows: a release counted for a cgroup with no hash row', () => {
  let probe: NativeProbe;
  const cg = TestCgroup.create('fast-release');

  beforeAll(() => {
    requireRoot();
    probe = new (loadBinding().Probe)(probeOptions({ ringBytes: 4096, cpuAccounting: false }));
  });

  afterAll(async () => {
    probe?.close();
    await cg.remove();
  });

  it('makes the row when the cgroup empties, as its counts are all in its direct-mapped rows', async () => {
    const id = cg.id;
    const child = cg.run('exec sleep 0.5');
    const exited = new Promise((r) => child.on('exit', r));
    await until(() => (rowOf(decodeCounters(probe.readCounters()), id)?.execs ?? 0) >= 2, 'the exec of sleep counted');
    // The row the move into the cgroup made, taken: the cgroup now counts in cg_fast alone.
    expect(rowOf(decodeCounters(probe.takeCounters(BigUint64Array.of(BigInt(id)))), id)).toMatchObject({ releases: 0 });
    await exited;
    await until(() => (rowOf(decodeCounters(probe.readCounters()), id)?.releases ?? 0) === 1, 'the release counted');
    expect(rowOf(decodeCounters(probe.readCounters()), id)).toMatchObject({ releases: 1, exitsSuccess: 1, execs: 2 });
  });
});

describe('direct-mapped counter rows off (fastRows 0, as on a kernel before v5.19)', () => {
  let probe: NativeProbe;
  const cg = TestCgroup.create('fast-off');

  beforeAll(() => {
    requireRoot();
    probe = new (loadBinding().Probe)(probeOptions({ ringBytes: 4096, fastRows: 0, cpuAccounting: false }));
  });

  afterAll(async () => {
    probe?.close();
    await cg.remove();
  });

  it('counts every fork, exec and exit in the hash rows, with the rmdir and populated programs that do not fold', async () => {
    expect(probe.fastRows).toBe(0);
    expect(probe.attached).toEqual(expect.arrayContaining(['handle_rmdir', 'handle_populated']));
    expect(probe.attached.filter((n) => n.endsWith('_fold'))).toEqual([]);
    const id = cg.id;
    expect((await cg.exec(`exec ${workload('forkn')} 50`)).code).toBe(0);
    await cg.remove();
    // All of it in the hash row, which the rmdir marked: taken whole.
    expect(rowOf(decodeCounters(probe.takeCounters(BigUint64Array.of(BigInt(id)))), id)).toMatchObject({
      forks: 50,
      execs: 2,
      exitsSuccess: 51,
      releases: 1,
      removed: true,
    });
    expect(rowOf(decodeCounters(probe.readCounters()), id)).toBeUndefined();
  });
});
