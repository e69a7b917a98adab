/**
 * The process table from records alone: what each record does to an entry, what it reports as
 * changed, and that every entry has the same fields in the same order (one V8 hidden class, which
 * is what keeps the per-record path monomorphic).
 */
import { describe, expect, it } from 'vitest';
import { RawEvent } from '../../src/events/decode.js';
import { EventType, Flags } from '../../src/events/layout.js';
import { ProcessTable, type ProcessInfo } from '../../src/process/table.js';

function record(type: number, pid: number, fields: Partial<RawEvent> = {}): RawEvent {
  const e = new RawEvent();
  Object.assign(e, { type, pid, tid: pid, comm: 'sh', startNs: pid * 1000, ...fields });
  return e;
}

const KEYS = ['pid', 'ppid', 'comm', 'uid', 'cgroupId', 'startNs', 'threads', 'exe', 'argv', 'argvTruncated', 'cwd'];

describe('ProcessTable', () => {
  it('keeps an entry from fork to exit, with the parent exe inherited and exec replacing it', () => {
    const t = new ProcessTable();
    t.seed([{ pid: 10, ppid: 1, comm: 'init', uid: 0, cgroupId: 5, startNs: 1, threads: 1, exe: '/sbin/init' }]);

    const fork = t.apply(record(EventType.FORK, 11, { ppid: 10, cgroupId: 5, uid: 1000 }));
    expect(fork.before).toBeUndefined();
    expect(fork.after).toMatchObject({ pid: 11, ppid: 10, cgroupId: 5, uid: 1000, threads: 1, exe: '/sbin/init' });

    const exec = t.apply(record(EventType.EXEC, 11, { comm: 'nginx', filename: '/usr/sbin/nginx', uid: 33 }));
    expect(exec.before).toMatchObject({ comm: 'sh', exe: '/sbin/init', uid: 1000 });
    expect(exec.after).toBe(t.get(11));
    expect(t.get(11)).toMatchObject({ comm: 'nginx', exe: '/usr/sbin/nginx', uid: 33 });

    const exit = t.apply(record(EventType.EXIT, 11));
    expect(exit.before).toMatchObject({ pid: 11, comm: 'nginx' });
    expect(exit.after).toBeUndefined();
    expect(t.get(11)).toBeUndefined();
    expect(t.size).toBe(1);
  });

  it('counts threads and resets them on exec', () => {
    const t = new ProcessTable();
    t.apply(record(EventType.FORK, 20, { ppid: 1 }));
    t.apply(record(EventType.FORK, 20, { tid: 21, flags: Flags.THREAD }));
    t.apply(record(EventType.FORK, 20, { tid: 22, flags: Flags.THREAD }));
    expect(t.get(20)?.threads).toBe(3);
    t.apply(record(EventType.EXIT, 20, { tid: 22, flags: Flags.THREAD }));
    expect(t.get(20)?.threads).toBe(2);
    t.apply(record(EventType.EXEC, 20, { filename: '/bin/true' }));
    expect(t.get(20)?.threads).toBe(1);
  });

  it('reports the previous cgroup on migrate, and adopts a process it never saw', () => {
    const t = new ProcessTable();
    t.apply(record(EventType.FORK, 30, { ppid: 1, cgroupId: 7 }));
    const moved = t.apply(record(EventType.MIGRATE, 30, { cgroupId: 8 }));
    expect(moved.before?.cgroupId).toBe(7);
    expect(moved.after?.cgroupId).toBe(8);

    const stranger = t.apply(record(EventType.MIGRATE, 31, { ppid: 1, cgroupId: 9 }));
    expect(stranger.before).toBeUndefined();
    expect(stranger.after).toMatchObject({ pid: 31, cgroupId: 9, threads: 1 });
  });

  it('gives every entry and every change the same fields in the same order', () => {
    const t = new ProcessTable();
    // A seeded entry without `exe` and with its fields in another order still becomes the one shape.
    t.seed([{ comm: 'a', pid: 40, ppid: 1, uid: 0, threads: 2, cgroupId: 1, startNs: 0 }]);
    const changes = [
      t.apply(record(EventType.FORK, 41, { ppid: 40 })),
      t.apply(record(EventType.EXEC, 41, { filename: '/bin/x' })),
      t.apply(record(EventType.MIGRATE, 41, { cgroupId: 3 })),
      t.apply(record(EventType.EXEC, 42, { filename: '/bin/y' })), // exec of a process never seen
      t.apply(record(EventType.FORK, 40, { tid: 43, flags: Flags.THREAD })),
      t.apply(record(EventType.EXIT, 41)),
      t.apply(record(EventType.CGROUP_MKDIR, 0)),
    ];
    for (const p of t.values()) expect(Object.keys(p)).toEqual(KEYS);
    for (const c of changes) {
      expect(Object.keys(c)).toEqual(['before', 'after']);
      for (const p of [c.before, c.after]) if (p) expect(Object.keys(p)).toEqual(KEYS);
    }
  });

  it('knows a fork it already has from a rescan (same pid and start tick), and a reused pid', () => {
    const t = new ProcessTable();
    // procfs has start times rounded down to the 10 ms tick; the record has the exact time.
    t.seed([{ pid: 50, ppid: 1, comm: 'sh', uid: 0, cgroupId: 5, startNs: 3_120_000_000, threads: 1, exe: '/bin/sh' }]);
    const known = t.apply(record(EventType.FORK, 50, { ppid: 1, cgroupId: 5, startNs: 3_127_654_321 }));
    expect(known.before).toBe(known.after);
    expect(known.after).toBe(t.get(50));
    expect(t.get(50)?.startNs).toBe(3_120_000_000);

    // The same pid 20 ms later is another process: the entry it replaces exited unseen.
    const reused = t.apply(record(EventType.FORK, 50, { ppid: 1, cgroupId: 6, startNs: 3_147_000_000 }));
    expect(reused.before).toMatchObject({ pid: 50, cgroupId: 5, startNs: 3_120_000_000 });
    expect(reused.after).toMatchObject({ pid: 50, cgroupId: 6, startNs: 3_147_000_000 });
    expect(reused.before).not.toBe(reused.after);
    expect(t.size).toBe(1);
  });

  it("keeps the working directory read at an exec only when the pid is still the process that exec'd (same start tick)", () => {
    // What procfs shows for each pid when the exec record is read: 40 is the same process, 41's
    // pid was reused by a process started 20 ms after the one that exec'd, 42 is gone.
    const procfs = new Map([
      [40, { cwd: '/srv/a', startNs: 40_000_000 }],
      [41, { cwd: '/home/other', startNs: 41_000_000 + 20_000_000 }],
      [44, { cwd: '/home/other', startNs: 44_000_000 + 20_000_000 }],
    ]);
    const t = new ProcessTable((pid) => procfs.get(pid));
    for (const pid of [40, 41, 42]) t.apply(record(EventType.FORK, pid, { ppid: 1, startNs: pid * 1_000_000 + 3 }));
    for (const pid of [40, 41, 42]) t.apply(record(EventType.EXEC, pid, { startNs: pid * 1_000_000 + 3, filename: '/bin/x' }));
    expect(t.get(40)?.cwd).toBe('/srv/a');
    expect(t.get(41)?.cwd).toBeUndefined();
    expect(t.get(42)?.cwd).toBeUndefined();
    // An exec whose fork the table missed is checked the same way.
    const adopted = t.apply(record(EventType.EXEC, 44, { startNs: 44_000_000 + 3 }));
    expect(adopted.before).toBeUndefined();
    expect(adopted.after?.cwd).toBeUndefined();
    // A fork inherits what its parent has.
    t.apply(record(EventType.FORK, 43, { ppid: 40, startNs: 43_000_000 }));
    expect(t.get(43)?.cwd).toBe('/srv/a');
  });

  it('reports an exec of a process it never saw as its arrival (no before)', () => {
    const t = new ProcessTable();
    const c = t.apply(record(EventType.EXEC, 60, { ppid: 1, cgroupId: 4, comm: 'nginx', filename: '/usr/sbin/nginx' }));
    expect(c.before).toBeUndefined();
    expect(c.after).toMatchObject({ pid: 60, comm: 'nginx', exe: '/usr/sbin/nginx', cgroupId: 4, threads: 1 });
  });

  describe('reconcile with procfs', () => {
    const live = (pid: number, fields: Partial<ProcessInfo> = {}): ProcessInfo => ({
      pid,
      ppid: 1,
      comm: 'sh',
      uid: 0,
      cgroupId: 5,
      startNs: pid * 1e7,
      threads: 1,
      exe: '/bin/sh',
      ...fields,
    });

    // Each row: the table after records, what procfs shows, the table expected after, the counts.
    const cases: {
      name: string;
      records: RawEvent[];
      procfs: ProcessInfo[];
      expect: Partial<ProcessInfo>[];
      counts: { removed: number; added: number; updated: number };
    }[] = [
      {
        name: 'drops processes whose exit was lost',
        records: [1, 2, 3].map((pid) => record(EventType.FORK, pid, { ppid: 1, cgroupId: 5, startNs: pid * 1e7 })),
        procfs: [live(2)],
        expect: [{ pid: 2 }],
        counts: { removed: 2, added: 0, updated: 0 },
      },
      {
        name: 'adds processes whose fork was lost',
        records: [],
        procfs: [live(7, { comm: 'sleep', exe: '/usr/bin/sleep' })],
        expect: [{ pid: 7, comm: 'sleep', exe: '/usr/bin/sleep' }],
        counts: { removed: 0, added: 1, updated: 0 },
      },
      {
        name: 'replaces an entry whose pid is another process now (start differs)',
        records: [record(EventType.FORK, 9, { ppid: 1, cgroupId: 5, startNs: 9e7 })],
        procfs: [live(9, { startNs: 19e7, cgroupId: 6 })],
        expect: [{ pid: 9, startNs: 19e7, cgroupId: 6 }],
        counts: { removed: 1, added: 1, updated: 0 },
      },
      {
        name: 'takes a lost move, lost threads and a lost exec from procfs, keeping the exact start',
        records: [record(EventType.FORK, 4, { ppid: 1, cgroupId: 5, startNs: 4e7 + 123 }), record(EventType.EXEC, 4, { comm: 'sh', filename: 'sh' })],
        procfs: [live(4, { cgroupId: 8, threads: 3, comm: 'nginx', exe: '/usr/sbin/nginx', ppid: 77 })],
        expect: [{ pid: 4, cgroupId: 8, threads: 3, comm: 'nginx', exe: '/usr/sbin/nginx', ppid: 77, startNs: 4e7 + 123 }],
        counts: { removed: 0, added: 0, updated: 1 },
      },
      {
        name: 'keeps the exe a record gave while the name agrees (procfs resolves symlinks), and counts a new parent as no correction',
        records: [record(EventType.FORK, 3, { ppid: 2, cgroupId: 5, startNs: 3e7 }), record(EventType.EXEC, 3, { comm: 'sh', filename: '/bin/sh' })],
        procfs: [live(3, { exe: '/usr/bin/dash', ppid: 1 })],
        expect: [{ pid: 3, exe: '/bin/sh', ppid: 1 }],
        counts: { removed: 0, added: 0, updated: 0 },
      },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const t = new ProcessTable();
        for (const e of c.records) t.apply(e);
        expect(t.reconcile(c.procfs)).toEqual(c.counts);
        const got = [...t.values()].sort((a, b) => a.pid - b.pid);
        expect(got).toHaveLength(c.expect.length);
        c.expect.forEach((want, i) => expect(got[i]).toMatchObject(want));
        for (const p of got) expect(Object.keys(p)).toEqual(KEYS);
      });
    }
  });
});
