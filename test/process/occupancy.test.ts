/**
 * Which cgroup a record emptied, including after lost records: a reused pid, a process the table
 * never had, a move into the same cgroup, and a recount after a rescan.
 */
import { describe, expect, it } from 'vitest';
import { RawEvent } from '../../src/events/decode.js';
import { EventType, Flags } from '../../src/events/layout.js';
import { CgroupOccupancy } from '../../src/process/occupancy.js';
import { ProcessTable } from '../../src/process/table.js';

function record(type: number, pid: number, fields: Partial<RawEvent> = {}): RawEvent {
  const e = new RawEvent();
  Object.assign(e, { type, pid, tid: pid, comm: 'sh', startNs: pid * 1e8, ...fields });
  return e;
}

/** Table and occupancy fed as the agent feeds them. */
function pipeline() {
  const table = new ProcessTable();
  const occ = new CgroupOccupancy();
  return { table, occ, apply: (e: RawEvent) => occ.apply(e, table.apply(e)) };
}

describe('CgroupOccupancy', () => {
  it('reports the exit that empties a cgroup, with its status', () => {
    const { occ, apply } = pipeline();
    apply(record(EventType.FORK, 10, { cgroupId: 5 }));
    apply(record(EventType.FORK, 11, { cgroupId: 5 }));
    expect(apply(record(EventType.EXIT, 10, { cgroupId: 5, status: 0 }))).toBeUndefined();
    expect(apply(record(EventType.FORK, 11, { cgroupId: 5, tid: 12, flags: Flags.THREAD }))).toBeUndefined();
    expect(apply(record(EventType.EXIT, 11, { cgroupId: 5, status: 256 }))).toEqual({ cgroupId: 5, status: 256 });
    expect(occ.count(5)).toBe(0);
  });

  it('counts a process the rescan already counted once, when its fork record comes after', () => {
    const { table, occ, apply } = pipeline();
    table.reconcile([{ pid: 20, ppid: 1, comm: 'sh', uid: 0, cgroupId: 5, startNs: 20e8, threads: 1, exe: undefined }]);
    expect(occ.rebuild(table.values())).toEqual([]);
    apply(record(EventType.FORK, 20, { cgroupId: 5, startNs: 20e8 + 5 }));
    expect(occ.count(5)).toBe(1);
    expect(apply(record(EventType.EXIT, 20, { cgroupId: 5, status: 0 }))).toEqual({ cgroupId: 5, status: 0 });
  });

  it('takes a reused pid as the exit of the process it replaces (status unknown)', () => {
    const { occ, apply } = pipeline();
    apply(record(EventType.FORK, 30, { cgroupId: 5, startNs: 1e8 }));
    // Its exit was lost; the pid comes back as another process elsewhere.
    expect(apply(record(EventType.FORK, 30, { cgroupId: 6, startNs: 9e8 }))).toEqual({ cgroupId: 5, status: null });
    expect(occ.count(6)).toBe(1);
  });

  it('counts a process first seen by its exec, and reports the exit of one never seen in a cgroup believed empty (status unknown)', () => {
    const { occ, apply } = pipeline();
    apply(record(EventType.EXEC, 40, { cgroupId: 7, filename: '/bin/x' }));
    expect(occ.count(7)).toBe(1);
    expect(apply(record(EventType.EXIT, 40, { cgroupId: 7, status: 0 }))).toEqual({ cgroupId: 7, status: 0 });
    // Fork lost, exit seen: the cgroup was believed empty, so this may have been its last process;
    // whose status that is nobody knows.
    expect(apply(record(EventType.EXIT, 41, { cgroupId: 7, status: 9 }))).toEqual({ cgroupId: 7, status: null });
    // In a cgroup that still has processes it reports nothing.
    apply(record(EventType.FORK, 42, { cgroupId: 8 }));
    expect(apply(record(EventType.EXIT, 43, { cgroupId: 8, status: 0 }))).toBeUndefined();
    expect(occ.count(8)).toBe(1);
  });

  it('does not count a move into the cgroup the process is already in', () => {
    const { occ, apply } = pipeline();
    apply(record(EventType.FORK, 50, { cgroupId: 5 }));
    expect(apply(record(EventType.MIGRATE, 50, { cgroupId: 5 }))).toBeUndefined();
    expect(occ.count(5)).toBe(1);
    expect(apply(record(EventType.MIGRATE, 50, { cgroupId: 6 }))).toEqual({ cgroupId: 5, status: null });
    expect(occ.count(6)).toBe(1);
  });

  it('recounts from a reconciled table and names the cgroups that emptied unseen', () => {
    const { table, occ, apply } = pipeline();
    for (let pid = 60; pid < 63; pid++) apply(record(EventType.FORK, pid, { cgroupId: 5 }));
    apply(record(EventType.FORK, 63, { cgroupId: 6 }));
    table.reconcile([{ pid: 63, ppid: 1, comm: 'sh', uid: 0, cgroupId: 6, startNs: 63e8, threads: 1, exe: undefined }]);
    expect(occ.rebuild(table.values())).toEqual([5]);
    expect(occ.count(5)).toBe(0);
    expect(occ.count(6)).toBe(1);
    // The exit records the rescan overtook come late: a child's 0 is not how the cgroup ended.
    expect(apply(record(EventType.EXIT, 61, { cgroupId: 5, status: 0 }))).toEqual({ cgroupId: 5, status: null });
    expect(apply(record(EventType.EXIT, 60, { cgroupId: 5, status: 3 << 8 }))).toEqual({ cgroupId: 5, status: null });
  });
});
