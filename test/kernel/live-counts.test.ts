/**
 * What the kernel gives per cgroup without any record (bpf/proc.bpf.c): live tasks and threads
 * (the census, read with the counters) through forks, threads, a whole-process move, a non-leader
 * exec and exits, for processes that ran before the programs were loaded too; the lifetime
 * histogram; releases. Thread records are off (the probe's default), so nothing here comes from a
 * record.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CounterRow } from '../../src/events/decode.js';
import { EventSource } from '../../src/events/source.js';
import { loadBinding } from '../../src/host/binding.js';
import { detectHierarchy } from '../../src/host/cgroupfs.js';
import { createLogger } from '../../src/log.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { workload } from '../helpers/workloads.js';

/** Starts `command` inside cg (the shell execs it) and resolves once it printed "ready". */
async function ready(cg: TestCgroup, command: string): Promise<ChildProcess> {
  const child = cg.run(`exec ${command}`);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await until(() => out.includes('ready'), `${command} to be ready`);
  return child;
}

/** Waits until the process's leader has ended (a zombie) while its other threads run on. */
async function leaderGone(pid: number): Promise<void> {
  await until(() => / Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')), `the leader of ${pid} to end`);
}

/** The kernel's own view: processes and threads in the cgroup (not below it). */
function truth(cg: TestCgroup): { tasks: number; threads: number } {
  const count = (file: string) => fs.readFileSync(path.join(cg.dir, file), 'utf8').split('\n').filter(Boolean).length;
  return { tasks: count('cgroup.procs'), threads: count('cgroup.threads') };
}

// exitClaim: the exit decided by a claim, as on kernels before v6.16 (proc.bpf.c handle_exit_claim).
describe.each([{ exitClaim: false }, { exitClaim: true }])('live counts, lifetimes and releases kept by the kernel (%o)', ({ exitClaim }) => {
  let source: EventSource;
  const seeded = TestCgroup.create('live-seed');
  const a = TestCgroup.create('live-a');
  const b = TestCgroup.create('live-b');
  const hist = TestCgroup.create('live-hist');
  const rel = TestCgroup.create('live-rel');
  const early: ChildProcess[] = [];

  const row = (cg: TestCgroup): CounterRow | undefined => source.counters().find((r) => r.cgroupId === cg.id);
  const live = (cg: TestCgroup) => {
    const r = row(cg);
    return { tasks: r?.liveTasks ?? 0, threads: r?.liveThreads ?? 0 };
  };
  /** Waits until the kernel's row says `want` (the exit tracepoints run before the parent's wait returns, but a kill's does not). */
  async function liveIs(cg: TestCgroup, want: { tasks: number; threads: number }, what: string): Promise<void> {
    try {
      await until(() => {
        const l = live(cg);
        return l.tasks === want.tasks && l.threads === want.threads;
      }, what);
    } catch {
      expect(live(cg), what).toEqual(want);
    }
  }

  beforeAll(async () => {
    requireRoot();
    // Running before the programs load: only the seed can count them.
    early.push(await ready(seeded, `${workload('idle-threads')} 3`), await ready(seeded, `${workload('idle-threads')} 5`));
    // A process whose leader ended while its 3 other threads run on: one process, 3 threads.
    early.push(await ready(seeded, `${workload('leader-exit')} 4`));
    await leaderGone(early[2].pid!);
    source = new EventSource(loadBinding(), {
      hierarchy: detectHierarchy('v2'),
      log: createLogger({ quiet: true }),
      probe: { ringBytes: 4096, counterEntries: 1024, cpuAccounting: false, exitClaim },
    });
  });

  afterAll(async () => {
    source?.close();
    for (const cg of [seeded, a, b, hist, rel]) await cg.remove();
  });

  it('seeds the processes that ran before the programs were loaded, and takes them out at their exit', async () => {
    expect(live(seeded)).toEqual({ tasks: 3, threads: 11 });
    expect(live(seeded).tasks).toEqual(truth(seeded).tasks);
    for (const c of early) c.kill('SIGKILL');
    await liveIs(seeded, { tasks: 0, threads: 0 }, 'the seeded processes gone');
  });

  it('keeps tasks and threads exact through forks, threads, a whole-process move, a non-leader exec and exits', async () => {
    const N = 3;
    const M = 4;
    const procs: ChildProcess[] = [];
    for (let i = 0; i < N; i++) procs.push(await ready(a, `${workload('idle-threads')} ${M}`));
    // Threads that came and went: a process that made 8 and joined them, and exited.
    expect((await a.exec(`${workload('threads')} 8`)).code).toBe(0);
    expect(live(a)).toEqual({ tasks: N, threads: N * M });
    expect(live(a)).toEqual(truth(a));

    // The whole process, with its threads, to b.
    b.adopt(procs[0].pid!);
    expect(live(a)).toEqual({ tasks: N - 1, threads: (N - 1) * M });
    expect(live(b)).toEqual({ tasks: 1, threads: M });
    expect(live(b)).toEqual(truth(b));

    // A non-leader thread execs: same process (pid, start time), one thread left.
    const te = await ready(a, `${workload('thread-exec')} 5`);
    const comm = () => fs.readFileSync(`/proc/${te.pid!}/comm`, 'utf8').trim();
    await until(() => comm() === 'sleep' && truth(a).threads === (N - 1) * M + 1, 'the exec to finish');
    await liveIs(a, { tasks: N, threads: (N - 1) * M + 1 }, 'after the non-leader exec');
    expect(live(a)).toEqual(truth(a));

    // A leader ends while its threads run on: a thread exit, the process stays.
    const le = await ready(a, `${workload('leader-exit')} 4`);
    await leaderGone(le.pid!);
    await liveIs(a, { tasks: N + 1, threads: (N - 1) * M + 1 + 3 }, 'after the leader ended');

    for (const c of [...procs, te, le]) c.kill('SIGKILL');
    await liveIs(a, { tasks: 0, threads: 0 }, 'a emptied');
    await liveIs(b, { tasks: 0, threads: 0 }, 'b emptied');
  });

  it('counts each exit in its log2 lifetime bucket, with the sum', async () => {
    const binding = loadBinding();
    const sleeps = [0.045, 0.15, 0.6];
    // Each lifetime is at least its sleep and at most the wall time from spawn to the reaped exit
    // (a loaded machine stretches it): its slot is between those two bounds' slots.
    const walls = await Promise.all(
      sleeps.map(
        (s) =>
          new Promise<number>((resolve) => {
            const t0 = performance.now();
            binding.spawnInCgroup({ file: '/bin/sleep', argv: ['sleep', String(s)], envp: [], cgroupDir: hist.dir }, () => resolve(performance.now() - t0));
          }),
      ),
    );
    const r = row(hist)!;
    // Slot i counts lifetimes under 2^i ms (the number of bits of the whole ms): 45 ms in slot 6
    // (32-64), 150 ms in 8, 600 ms in 10, unless the machine stretched one past a bound.
    const slot = (ms: number) => Math.min(Math.floor(ms).toString(2).length - (ms < 1 ? 1 : 0), r.lifetime.length - 1);
    expect(r.lifetime.reduce((a, b) => a + b, 0)).toBe(3);
    sleeps.forEach((s, i) => {
      const [lo, hi] = [slot(s * 1000), slot(walls[i])];
      expect(
        r.lifetime.slice(lo, hi + 1).reduce((a, b) => a + b, 0),
        `${s} s lived ${walls[i].toFixed(1)} ms at most`,
      ).toBeGreaterThanOrEqual(1);
    });
    expect(r.lifetimeSumNs).toBeGreaterThanOrEqual(0.795e9);
    expect(r.lifetimeSumNs).toBeLessThanOrEqual(walls.reduce((a, b) => a + b, 0) * 1e6);
    expect(r.exitsSuccess).toBe(3);
  });

  it('counts a release each time the cgroup becomes empty', async () => {
    expect(row(rel)?.releases ?? 0).toBe(0);
    for (let i = 1; i <= 3; i++) {
      expect((await rel.exec('/bin/true')).code).toBe(0);
      await until(() => (row(rel)?.releases ?? 0) === i && truth(rel).tasks === 0, `release ${i}`);
    }
    expect(row(rel)!.releases).toBe(3);
  });
});
