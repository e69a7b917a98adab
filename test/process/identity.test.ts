/**
 * exitIdentity on a table kept by records: what an exit carries of its last exec (argv and
 * whether the kernel cut it), its parent, and ancestors only when asked for.
 */
import { describe, expect, it } from 'vitest';
import { RawEvent } from '../../src/events/decode.js';
import { EventType, Flags } from '../../src/events/layout.js';
import { exitIdentity } from '../../src/process/identity.js';
import { ProcessTable } from '../../src/process/table.js';

function record(type: number, pid: number, fields: Partial<RawEvent> = {}): RawEvent {
  const e = new RawEvent();
  Object.assign(e, { type, pid, tid: pid, comm: 'sh', startNs: pid * 1000, cgroupId: 5, ...fields });
  return e;
}

/** bash (10) -> sh (11, exec'd with a cut argv) -> its fork (12), all in cgroup 5; init (1) outside. */
function table(): ProcessTable {
  const t = new ProcessTable();
  t.seed([{ pid: 1, ppid: 0, comm: 'init', uid: 0, cgroupId: 1, startNs: 1, threads: 1, exe: '/sbin/init' }]);
  t.apply(record(EventType.FORK, 10, { ppid: 1 }));
  t.apply(record(EventType.EXEC, 10, { comm: 'bash', filename: '/bin/bash', argv: ['bash'] }));
  t.apply(record(EventType.FORK, 11, { ppid: 10 }));
  t.apply(record(EventType.EXEC, 11, { comm: 'sh', filename: '/bin/sh', argv: ['sh', '-c', 'x'.repeat(50)], flags: Flags.ARGV_TRUNC }));
  t.apply(record(EventType.FORK, 12, { ppid: 11 }));
  return t;
}

const exitOf = (t: ProcessTable, pid: number, ancestors: boolean) => {
  const before = t.apply(record(EventType.EXIT, pid, { ppid: t.get(pid)!.ppid })).before!;
  return exitIdentity(t, before, before.ppid, ancestors);
};

describe('exitIdentity', () => {
  it('carries argv_truncated with the argv of the last exec, inherited by a fork, false when the argv was whole', () => {
    const t = table();
    expect(exitOf(t, 12, false)).toEqual({
      filename: '/bin/sh',
      argv: ['sh', '-c', 'x'.repeat(50)],
      argv_truncated: true,
      parent_comm: 'sh',
      parent_filename: '/bin/sh',
    });
    expect(exitOf(t, 11, false)).toMatchObject({ argv: ['sh', '-c', 'x'.repeat(50)], argv_truncated: true, parent_comm: 'bash' });
    expect(exitOf(t, 10, false)).toMatchObject({ argv: ['bash'], argv_truncated: false, parent_comm: 'init' });
  });

  it('leaves argv and argv_truncated out for a process whose exec it never saw', () => {
    const t = table();
    expect(exitOf(t, 1, false)).toEqual({ filename: '/sbin/init' });
  });

  it('lists ancestors, parent first, up to the cgroup boundary, only when asked', () => {
    const t = table();
    expect(exitIdentity(t, t.get(12)!, 11, false).ancestors).toBeUndefined();
    expect(exitIdentity(t, t.get(12)!, 11, true).ancestors).toEqual([
      { pid: 11, comm: 'sh', filename: '/bin/sh' },
      { pid: 10, comm: 'bash', filename: '/bin/bash' },
    ]);
  });
});
