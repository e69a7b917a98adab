/**
 * Why processes die, on the real kernel path: the exit record of a process a signal ended says who
 * sent the signal (a process, or the kernel for a fault and the OOM killer), an OOM kill is marked
 * with the memory cgroup whose limit was hit, and the cgroup's counter row counts OOM kills and
 * exits by signal exactly (without records too).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawEvent } from '../../src/events/decode.js';
import { EventType, Flags } from '../../src/events/layout.js';
import { toProcessEvent } from '../../src/events/model.js';
import { EventSource } from '../../src/events/source.js';
import { detectHierarchy } from '../../src/host/cgroupfs.js';
import { loadBinding } from '../../src/host/binding.js';
import { createLogger } from '../../src/log.js';
import { memoryLimit, requireRoot, TestCgroup, until } from '../helpers/cgroup.js';

describe('fatal signals and OOM kills', () => {
  let source: EventSource;
  const events: RawEvent[] = [];
  const exitOf = (pid: number) => events.find((e) => e.type === EventType.EXIT && e.pid === pid && !(e.flags & Flags.THREAD));
  const publicExit = (pid: number) => toProcessEvent(exitOf(pid)!, { iso: (ns) => source.clock.iso(ns), cgroupPath: (id) => source.names.path(id) })!;
  const row = (id: number) => source.counters().find((r) => r.cgroupId === id)!;

  beforeAll(() => {
    requireRoot();
    source = new EventSource(loadBinding(), {
      hierarchy: detectHierarchy('v2'),
      log: createLogger({ quiet: true }),
      probe: { threadEvents: false, cpuAccounting: false },
    });
    source.start((batch) => events.push(...batch));
  });

  afterAll(() => source?.close());

  it('names the process that sent a SIGTERM and a SIGKILL: pid, comm and cgroup', async () => {
    const victims = TestCgroup.create('victims');
    const killers = TestCgroup.create('killers');
    try {
      const term = victims.run('exec sleep 30');
      const kill = victims.run('exec sleep 30');
      const sleeping = (pid: number) => events.some((e) => e.type === EventType.EXEC && e.pid === pid && e.comm === 'sleep');
      await until(() => sleeping(term.pid!) && sleeping(kill.pid!), 'two sleeps');
      const killer = await killers.exec(`kill -TERM ${term.pid}; kill -KILL ${kill.pid}`);
      expect(killer.code).toBe(0);
      await until(() => exitOf(term.pid!) !== undefined && exitOf(kill.pid!) !== undefined, 'both exits');

      const t = publicExit(term.pid!);
      expect(t.signal).toBe('SIGTERM');
      expect(t.signal_sender).toEqual({ pid: killer.pid, comm: 'bash', cgroup: killers.path });
      expect(t.oom_killed).toBeUndefined();
      const k = publicExit(kill.pid!);
      expect(k.signal).toBe('SIGKILL');
      expect(k.signal_sender).toEqual({ pid: killer.pid, comm: 'bash', cgroup: killers.path });
      expect(exitOf(kill.pid!)!.senderStartNs).toBe(exitOf(killer.pid)!.startNs);

      const c = row(victims.id);
      expect(c.exitsSignaled).toBe(2);
      expect(c.signals[15]).toBe(1);
      expect(c.signals[9]).toBe(1);
      expect(c.signals.reduce((a, b) => a + b, 0)).toBe(2);
      expect(c.oomKills).toBe(0);
    } finally {
      await victims.remove();
      await killers.remove();
    }
  });

  it('says "kernel" for a segfault, and no sender for a signal the process handled first', async () => {
    const cg = TestCgroup.create('segv');
    try {
      // A real fault (a NULL read), then a SIGTERM the shell traps and exits from with SIGTERM itself.
      const segv = await cg.exec(`ulimit -c 0; exec /usr/bin/python3 -c 'import ctypes; ctypes.string_at(0)'`);
      expect(segv.signal).toBe('SIGSEGV');
      const trapped = await cg.exec(`trap 'trap - TERM; kill -TERM $$' TERM; kill -TERM $$; sleep 5`);
      expect(trapped.signal).toBe('SIGTERM');
      await until(() => exitOf(segv.pid) !== undefined && exitOf(trapped.pid) !== undefined, 'both exits');

      const s = publicExit(segv.pid);
      expect(s.signal).toBe('SIGSEGV');
      expect(s.signal_sender).toBe('kernel');
      // The first SIGTERM met a handler (not kept); the second, sent by the process to itself, ended it.
      const t = publicExit(trapped.pid);
      expect(t.signal_sender).toEqual({ pid: trapped.pid, comm: 'bash', cgroup: cg.path });
      expect(row(cg.id).signals[11]).toBe(1);
      expect(row(cg.id).signals[15]).toBe(1);
    } finally {
      await cg.remove();
    }
  });

  it('marks an OOM kill: flag, kernel sender, the memory cgroup at its limit, and counts it', async () => {
    const cg = TestCgroup.create('oom');
    const limit = memoryLimit(cg, 32 << 20);
    try {
      // Writes 256 MiB, far past the 32 MiB limit (no swap to go to: the OOM killer ends it).
      const run = await cg.exec(`${limit.enter}; exec /usr/bin/python3 -c 'b = b"x" * (256 << 20); print(len(b))'`);
      expect(run.signal).toBe('SIGKILL');
      await until(() => exitOf(run.pid) !== undefined, 'the exit');
      const raw = exitOf(run.pid)!;
      expect(raw.flags & Flags.OOM).toBe(Flags.OOM);
      const e = publicExit(run.pid);
      expect(e.oom_killed).toBe(true);
      expect(e.signal_sender).toBe('kernel');
      expect(e.oom_scope).toBe('cgroup');
      expect(e.oom_cgroup_id).toBe(limit.id);
      const c = row(cg.id);
      expect(c.oomKills).toBe(1);
      expect(c.signals[9]).toBe(1);
    } finally {
      await cg.remove();
      await limit.remove();
    }
  });

  it('counts exits by signal and OOM kills in the row when no record flows', async () => {
    const cg = TestCgroup.create('norecords');
    const limit = memoryLimit(cg, 32 << 20);
    source.setInterest(false, false);
    try {
      const run = await cg.exec(
        `( kill -KILL $BASHPID ); ( kill -TERM $BASHPID ); ( kill -HUP $BASHPID ); ( ${limit.enter}; exec /usr/bin/python3 -c 'b = b"x" * (256 << 20)' ); exit 0`,
      );
      expect(run.code).toBe(0);
      await until(
        () => (row(cg.id)?.exitsSuccess ?? 0) === 1,
        () => `the script exit in the row: ${JSON.stringify(row(cg.id))}`,
      );
      expect(events.some((e) => e.cgroupId === cg.id && e.type === EventType.EXIT)).toBe(false);
      const c = row(cg.id);
      expect(c.exitsSignaled).toBe(4);
      expect([c.signals[9], c.signals[15], c.signals[1]]).toEqual([2, 1, 1]);
      expect(c.oomKills).toBe(1);
    } finally {
      source.setInterest(true, false);
      await cg.remove();
      await limit.remove();
    }
  });
});
