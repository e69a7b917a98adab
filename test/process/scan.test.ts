/**
 * Table entries from a procfs listing (the seed at start and the rescan after lost records), read
 * from a fake /proc: zombies that exited are not processes, cgroups are named by id, and start
 * times come in ticks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { scanProcesses } from '../../src/host/procfs.js';
import { hasExited, toEntries } from '../../src/process/scan.js';
import { FakeProc } from '../helpers/fakeproc.js';

const ids: Record<string, number> = { '/': 1, '/web': 20, '/db': 30 };
const ctx = { hierarchyId: 0, cgroupId: (p: string) => ids[p], bootNow: 5e9 };

describe('toEntries', () => {
  let proc: FakeProc | undefined;
  afterEach(() => proc?.remove());

  it('turns a procfs listing into table entries, leaving out zombies that exited', () => {
    proc = new FakeProc([
      { pid: 1, comm: 'init', exe: '/sbin/init', startTicks: 1 },
      { pid: 200, comm: 'nginx', ppid: 1, cgroup: '/web', threads: 4, uid: 33, exe: '/usr/sbin/nginx', startTicks: 250 },
      { pid: 300, comm: 'worker (1)', ppid: 200, cgroup: '/web', state: 'Z', threads: 1 }, // exited, not reaped
      { pid: 301, comm: 'leader', ppid: 1, cgroup: '/db', state: 'Z', threads: 3 }, // leader gone, threads run
      { pid: 400, comm: 'late', cgroup: '/made-just-now', startTicks: 900 }, // a cgroup not known yet
    ]);
    const entries = toEntries(scanProcesses(proc.root, undefined), ctx).sort((a, b) => a.pid - b.pid);
    expect(entries.map((e) => e.pid)).toEqual([1, 200, 301, 400]);
    expect(entries[1]).toEqual({ pid: 200, ppid: 1, comm: 'nginx', uid: 33, cgroupId: 20, startNs: 2.5e9, threads: 4, exe: '/usr/sbin/nginx' });
    expect(entries[2]).toMatchObject({ pid: 301, cgroupId: 30, threads: 3, exe: undefined });
    // Unknown cgroup: id 0; a start after "now" (clock skew between the readings) is clamped.
    expect(entries[3]).toMatchObject({ pid: 400, cgroupId: 0, startNs: 5e9 });
  });

  it('knows an exited zombie from a live one', () => {
    expect(hasExited({ state: 'Z', threads: 1 })).toBe(true);
    expect(hasExited({ state: 'X', threads: 1 })).toBe(true);
    expect(hasExited({ state: 'Z', threads: 2 })).toBe(false);
    expect(hasExited({ state: 'S', threads: 1 })).toBe(false);
    expect(hasExited({ state: 'D', threads: 1 })).toBe(false);
  });
});
