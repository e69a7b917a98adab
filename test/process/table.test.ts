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

const KEYS = ['pid', 'ppid', 'comm', 'uid', 'cgroupId', 'startNs', 'threads', 'exe'];

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
    t.seed([{ comm: 'a', pid: 40, ppid: 1, uid: 0, threads: 2, cgroupId: 1, startNs: 0 } as ProcessInfo]);
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
});
