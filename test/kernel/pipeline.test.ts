/**
 * The real kernel path: BPF programs loaded as root, real processes in a cgroup this test makes.
 * Events and the kernel's counter maps must agree exactly with what the workload did.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectHierarchy } from '../../src/host/cgroupfs.js';
import type { RawEvent } from '../../src/events/decode.js';
import { EventType, Flags } from '../../src/events/layout.js';
import { decodeStatus } from '../../src/events/model.js';
import { EventSource } from '../../src/events/source.js';
import { createLogger } from '../../src/log.js';
import { loadBinding } from '../../src/host/binding.js';
import { bpfProgIds, loadedProgIds, requireRoot, TestCgroup, until } from '../helpers/cgroup.js';

describe('kernel pipeline', () => {
  let source: EventSource;
  const events: RawEvent[] = [];
  let progIds: number[] = [];

  beforeAll(() => {
    requireRoot();
    source = new EventSource(loadBinding(), {
      hierarchy: detectHierarchy('v2'),
      log: createLogger({ quiet: true }),
      probe: { threadEvents: false, cpuAccounting: true },
    });
    source.start((batch) => events.push(...batch));
    progIds = bpfProgIds();
  });

  afterAll(() => source?.close());

  it('sees exactly the forks and exits of 500 processes with every exit code, and the counters agree', async () => {
    const cg = TestCgroup.create('codes');
    try {
      const script = [
        'ulimit -c 0',
        'for ((i = 0; i < 500; i++)); do ( exit $((i % 256)) ); done',
        '( kill -KILL $BASHPID )',
        '( kill -TERM $BASHPID )',
        '( kill -SEGV $BASHPID )',
        'exit 0',
      ].join('\n');
      const run = await cg.exec(script);
      expect(run.code).toBe(0);
      const id = cg.id;
      await until(() => events.some((e) => e.type === EventType.EXIT && e.pid === run.pid), 'the script exit');

      const mine = events.filter((e) => e.cgroupId === id);
      const forks = mine.filter((e) => e.type === EventType.FORK);
      const exits = mine.filter((e) => e.type === EventType.EXIT);
      expect(forks).toHaveLength(503);
      expect(forks.every((e) => e.ppid === run.pid && e.comm === 'bash')).toBe(true);
      expect(new Set(forks.map((e) => e.pid)).size).toBe(503);

      const childExits = exits.filter((e) => e.pid !== run.pid);
      expect(childExits).toHaveLength(503);
      expect(childExits.every((e) => e.ppid === run.pid && e.comm === 'bash')).toBe(true);
      // Every fork has its exit, and the exit codes are exactly 0..255 cycled, then three signals.
      expect(new Set(childExits.map((e) => e.pid))).toEqual(new Set(forks.map((e) => e.pid)));
      // A fork is stamped with the child's birth (no clock read of its own), before its exit.
      const exitOf = new Map(childExits.map((e) => [e.pid, e]));
      expect(forks.filter((e) => e.ts !== e.startNs || !(e.ts < exitOf.get(e.pid)!.ts))).toEqual([]);
      const outcomes = childExits.map((e) => decodeStatus(e.status));
      const codes = outcomes.filter((o) => o.signal === null).map((o) => o.exit_code!);
      expect(codes.sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i % 256).sort((a, b) => a - b));
      expect(
        outcomes
          .filter((o) => o.signal)
          .map((o) => o.signal)
          .sort(),
      ).toEqual(['SIGKILL', 'SIGSEGV', 'SIGTERM']);
      expect(outcomes.every((o) => !o.core_dumped)).toBe(true);
      const main = exits.find((e) => e.pid === run.pid)!;
      expect(decodeStatus(main.status)).toEqual({ exit_code: 0, signal: null, core_dumped: false });

      const c = source.counters().find((r) => r.cgroupId === id)!;
      expect(c).toBeDefined();
      expect(c.forks).toBe(503);
      expect(c.threads).toBe(0);
      expect(c.execs).toBe(1); // sh exec'd bash inside the cgroup
      expect(c.exitsSuccess).toBe(codes.filter((x) => x === 0).length + 1);
      expect(c.exitsFailure).toBe(codes.filter((x) => x !== 0).length);
      expect(c.exitsSignaled).toBe(3);
      expect(source.stats().lostTotal).toBe(0);
    } finally {
      await cg.remove();
    }
  });

  it('delivers a lone record after a burst: the reader drains by timer while busy, then waits on the ring again', async () => {
    const cg = TestCgroup.create('lone');
    try {
      const burst = await cg.exec('for ((i = 0; i < 300; i++)); do ( exit 0 ); done');
      await until(() => events.some((e) => e.type === EventType.EXIT && e.pid === burst.pid), 'the burst');
      // Several drain periods with nothing new: the timer finds the ring empty and stops.
      await new Promise((r) => setTimeout(r, 50));
      const lone = await cg.exec('exit 7');
      await until(() => events.some((e) => e.type === EventType.EXIT && e.pid === lone.pid), 'the lone exit');
      const exit = events.find((e) => e.type === EventType.EXIT && e.pid === lone.pid)!;
      expect(decodeStatus(exit.status)).toEqual({ exit_code: 7, signal: null, core_dumped: false });
      expect(events.filter((e) => e.cgroupId === cg.id && e.type === EventType.FORK)).toHaveLength(300);
    } finally {
      await cg.remove();
    }
  });

  it('names a cgroup created and removed before its events are read', async () => {
    const cg = TestCgroup.create('shortlived');
    const run = await cg.exec('( exit 7 )');
    const id = cg.id;
    await cg.remove();
    await until(() => events.some((e) => e.type === EventType.CGROUP_RMDIR && e.cgroupId === id), 'the rmdir record');
    expect(source.names.path(id)).toBe(cg.path);
    expect(events.some((e) => e.type === EventType.EXIT && e.ppid === run.pid && decodeStatus(e.status).exit_code === 7)).toBe(true);
  });

  it('reports the exec filename and argv, and truncates a very long argv within its budget', async () => {
    const cg = TestCgroup.create('exec');
    try {
      const long = Array.from({ length: 100 }, (_, i) => `arg${i}-${'x'.repeat(60)}`);
      const run = await cg.exec(`/bin/echo hello world; /bin/true ${long.join(' ')}`);
      await until(() => events.some((e) => e.type === EventType.EXIT && e.pid === run.pid), 'the script exit');
      const execs = events.filter((e) => e.type === EventType.EXEC && e.cgroupId === cg.id);
      const echo = execs.find((e) => e.filename === '/bin/echo')!;
      expect(echo.argv).toEqual(['/bin/echo', 'hello', 'world']);
      expect(echo.flags & Flags.ARGV_TRUNC).toBe(0);
      const t = execs.find((e) => e.filename === '/bin/true')!;
      expect(t.flags & Flags.ARGV_TRUNC).toBe(Flags.ARGV_TRUNC);
      expect(t.argv!.join('\0').length).toBeLessThanOrEqual(2048);
      expect(t.argv!.slice(0, 3)).toEqual(['/bin/true', long[0], long[1]]);
    } finally {
      await cg.remove();
    }
  });

  it('reports a migrate when a pid is written into another cgroup', async () => {
    const from = TestCgroup.create('from');
    const to = TestCgroup.create('to');
    try {
      const child = from.run('exec sleep 30');
      await until(() => from.pids().length === 1 && events.some((e) => e.type === EventType.EXEC && e.pid === child.pid), 'sleep in place');
      to.adopt(child.pid!);
      await until(() => events.some((e) => e.type === EventType.MIGRATE && e.pid === child.pid && e.cgroupId === to.id), 'the migrate record');
      const m = events.find((e) => e.type === EventType.MIGRATE && e.pid === child.pid && e.cgroupId === to.id)!;
      expect(m.flags & Flags.THREADGROUP).toBe(Flags.THREADGROUP);
      expect(source.names.path(m.cgroupId)).toBe(to.path);
    } finally {
      await from.remove();
      await to.remove();
    }
  });

  it('detaches every program on close', async () => {
    expect(new Set(progIds).size).toBeGreaterThanOrEqual(6);
    const before = loadedProgIds();
    expect(progIds.every((id) => before.has(id))).toBe(true);
    source.close();
    expect(bpfProgIds()).toEqual([]);
    // The kernel frees a program after an RCU grace period once its last reference is gone.
    await until(
      () => {
        const after = loadedProgIds();
        return progIds.every((id) => !after.has(id));
      },
      'bpftool prog list to drop our programs',
      5000,
    );
  });
});
