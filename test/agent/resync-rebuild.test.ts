/**
 * Resync after lost records, without root: the real process table, group registry, tracker and
 * occupancy, fed made-up kernel records as src/agent.ts feeds them, rebuilt from a fake /proc.
 * Phantoms go, missing processes come, emptied cgroups are reported with an unknown status, no
 * exit or release is invented, records still in flight are not counted twice, and rescans are
 * rate-limited while losses go on.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { RawEvent } from '../../src/events/decode.js';
import { EventType } from '../../src/events/layout.js';
import { GroupRegistry, type Group } from '../../src/groups/registry.js';
import { GroupTracker } from '../../src/groups/tracker.js';
import { scanProcesses } from '../../src/host/procfs.js';
import { CgroupOccupancy } from '../../src/process/occupancy.js';
import { toEntries } from '../../src/process/scan.js';
import { ProcessTable } from '../../src/process/table.js';
import { describeResync, Resync } from '../../src/agent/resync.js';
import { FakeProc, type FakeProcess } from '../helpers/fakeproc.js';

const PATHS: Record<number, string> = { 1: '/', 5: '/a', 6: '/b', 7: '/prog', 8: '/unseen' };
const TICK = 1e7; // ns per procfs clock tick

/** The agent's state stages over a fake /proc, and what reached "the supervisor". */
class Harness {
  readonly proc = new FakeProc();
  readonly table = new ProcessTable();
  readonly registry: GroupRegistry;
  readonly tracker: GroupTracker;
  readonly occupancy = new CgroupOccupancy();
  readonly resync: Resync;
  /** Records still in the ring: the resync drains them before it scans. */
  ring: RawEvent[] = [];
  exits = new Map<number, number>();
  gone = new Set<number>();
  /** onCgroupEmpty calls, as [cgroup id, status]. */
  emptied: [number, number | null][] = [];
  clockMs = 0;
  scans = 0;
  /** How long a scan takes on the fake clock. */
  scanMs = 0;

  constructor(yaml = '') {
    const config = parseConfig(yaml, 'test.yaml', { hostname: 'test' });
    this.registry = new GroupRegistry({
      rules: config.groups.rules,
      defaults: config.resources,
      maxGroups: 100,
      evictAfterS: 300,
      cgroupPath: (id) => PATHS[id] ?? `cgroup:${id}`,
      now: () => this.clockMs,
    });
    this.tracker = new GroupTracker(this.registry, () => this.clockMs);
    const ids = Object.fromEntries(Object.entries(PATHS).map(([id, p]) => [p, Number(id)]));
    this.resync = new Resync(
      {
        table: this.table,
        tracker: this.tracker,
        occupancy: this.occupancy,
        drain: () => {
          const pending = this.ring;
          this.ring = [];
          for (const e of pending) this.apply(e);
        },
        scan: () => {
          this.scans++;
          this.clockMs += this.scanMs;
          return toEntries(scanProcesses(this.proc.root, undefined), { hierarchyId: 0, cgroupId: (p) => ids[p], bootNow: 1e15 });
        },
        exits: () => new Map(this.exits),
        exists: (id) => id in PATHS && !this.gone.has(id),
        clock: () => this.clockMs,
      },
      { minGapMs: 2000, costFactor: 50 },
    );
  }

  /** As Agent.onBatch: table, groups, releases, occupancy. */
  apply(e: RawEvent): void {
    const change = this.table.apply(e);
    const notices = this.tracker.apply(e, change);
    for (const n of notices) if (n.kind === 'left' && n.status !== null && n.group.tasks === 0) n.group.releases++;
    const emptied = this.occupancy.apply(e, change);
    if (emptied) this.emptied.push([emptied.cgroupId, emptied.status]);
  }

  fork(pid: number, cgroupId: number, startTicks: number, comm = 'sh'): RawEvent {
    return record(EventType.FORK, pid, { ppid: 1, cgroupId, comm, startNs: startTicks * TICK + 1234 });
  }

  exit(pid: number, cgroupId: number, startTicks: number, status = 0): RawEvent {
    return record(EventType.EXIT, pid, { cgroupId, startNs: startTicks * TICK + 1234, status });
  }

  /** As Agent.tick's resync step: the report's emptied cgroups go to the listeners. */
  tick(lostTotal: number) {
    const r = this.resync.maybe(lostTotal);
    for (const id of r?.emptied ?? []) this.emptied.push([id, null]);
    this.clockMs += 1000;
    return r;
  }

  group(path: string): Group {
    const g = this.registry.get(path);
    if (!g) throw new Error(`no group ${path}`);
    return g;
  }

  setProc(list: FakeProcess[]): void {
    this.proc.set(list);
  }
}

function record(type: number, pid: number, fields: Partial<RawEvent>): RawEvent {
  const e = new RawEvent();
  Object.assign(e, { type, pid, tid: pid, comm: 'sh', ...fields });
  return e;
}

describe('Resync', () => {
  let h: Harness;
  beforeEach(() => {
    h = new Harness('groups:\n  - name: web\n    match: { comm: "^nginx$" }\n');
  });
  afterEach(() => h.proc.remove());

  it('removes phantoms and adds missing processes, without inventing exits or releases', () => {
    h.apply(h.fork(10, 6, 10));
    // 300 forks in /a whose exits were all lost (the "303 tasks for an empty cgroup").
    for (let pid = 100; pid < 400; pid++) h.apply(h.fork(pid, 5, pid));
    expect(h.group('/a').tasks).toBe(300);
    const forks = h.group('/a').events.forks;
    // procfs: pid 10 still runs; 500 runs in /a though its fork was lost.
    h.setProc([
      { pid: 10, cgroup: '/b', startTicks: 10 },
      { pid: 500, cgroup: '/a', startTicks: 500, threads: 3 },
    ]);
    const r = h.tick(600)!;
    expect(r).toMatchObject({ lost: 600, removed: 300, added: 1, updated: 0 });
    expect(h.group('/a')).toMatchObject({ tasks: 1, threads: 3, releases: 0, emptySince: null });
    expect(h.group('/b')).toMatchObject({ tasks: 1, threads: 1, releases: 0 });
    expect(h.group('/a').events.forks).toBe(forks); // counters are not touched
    expect(h.group('/a').events.exitsSuccess + h.group('/a').events.exitsFailure + h.group('/a').events.exitsSignaled).toBe(0);
    expect(r.groups.map((g) => [g.group.name, g.tasks.was, g.tasks.now])).toEqual([['/a', 300, 1]]);
    expect(describeResync(r)).toMatch(
      /^records lost: 600 since the last check; rebuilt the process table from \/proc in \d+ ms: 300 gone, 1 missing, 0 changed; live counts corrected in 1 groups \(tasks "\/a" 300->1\)/,
    );
    expect(h.tracker.groupOf(500)).toBe(h.group('/a'));
    expect(h.tracker.groupOf(100)).toBeUndefined();
  });

  it('reports a cgroup that emptied while records were lost, with an unknown status, once', () => {
    h.apply(h.fork(70, 7, 70)); // a supervised program's process
    h.apply(h.fork(71, 5, 71));
    h.setProc([{ pid: 71, cgroup: '/a', startTicks: 71 }]);
    // /unseen had processes the table never saw (forks and exits lost): the kernel counted exits.
    h.exits = new Map([
      [8, 2],
      [9, 1],
    ]);
    h.gone.add(9); // removed since: nobody to tell
    h.tick(5);
    expect(h.emptied).toEqual([
      [7, null],
      [8, null],
    ]);
    expect(h.group('/prog')).toMatchObject({ tasks: 0, releases: 0 });
    expect(h.group('/prog').emptySince).not.toBeNull();
    // Later losses with no new exits there: not reported again.
    h.clockMs += 5000;
    h.tick(9);
    expect(h.emptied).toEqual([
      [7, null],
      [8, null],
    ]);
  });

  it('does not count twice what the ring still held when procfs was read', () => {
    h.apply(h.fork(20, 5, 20));
    h.apply(h.fork(21, 5, 21));
    // In the ring at the time of the resync: drained first, so the rescan is newer.
    h.ring = [h.fork(22, 5, 22), h.exit(20, 5, 20)];
    // procfs, read after the drain: 23 was born meanwhile (its record comes later), 21 has just exited.
    h.setProc([
      { pid: 22, cgroup: '/a', startTicks: 22 },
      { pid: 23, cgroup: '/a', startTicks: 23 },
    ]);
    const r = h.tick(1)!;
    expect(r).toMatchObject({ removed: 1, added: 1 });
    expect(h.group('/a').tasks).toBe(2);
    const forks = h.group('/a').events.forks;
    // Then the records written while procfs was read arrive.
    h.apply(h.fork(23, 5, 23));
    h.apply(h.exit(21, 5, 21));
    expect(h.group('/a').tasks).toBe(2);
    expect(h.group('/a').events.forks).toBe(forks + 1); // the fork is counted, the task is not
    expect(h.occupancy.count(5)).toBe(2);
    h.apply(h.exit(22, 5, 22));
    h.apply(h.exit(23, 5, 23, 256));
    expect(h.group('/a')).toMatchObject({ tasks: 0, releases: 1 });
    expect(h.emptied).toEqual([[5, 256]]);
  });

  it('follows a lost exec and a lost move into the groups they lead to', () => {
    h.apply(h.fork(80, 5, 80));
    h.apply(h.fork(81, 5, 81));
    h.setProc([
      { pid: 80, cgroup: '/b', startTicks: 80, comm: 'nginx', exe: '/usr/sbin/nginx' },
      { pid: 81, cgroup: '/a', startTicks: 81, threads: 5 },
    ]);
    expect(h.tick(2)).toMatchObject({ removed: 0, added: 0, updated: 2 });
    expect(h.group('web').tasks).toBe(1);
    expect(h.group('/a')).toMatchObject({ tasks: 1, threads: 5 });
    expect(h.table.get(80)).toMatchObject({ comm: 'nginx', exe: '/usr/sbin/nginx', cgroupId: 6 });
  });

  it('takes a fork on a pid the table holds with another start as the end of the old process', () => {
    h.apply(h.fork(90, 7, 90));
    h.apply(h.fork(90, 5, 400)); // pid reused: the exit of the first was lost
    expect(h.group('/prog')).toMatchObject({ tasks: 0, releases: 0 });
    expect(h.group('/a').tasks).toBe(1);
    expect(h.emptied).toEqual([[7, null]]);
  });

  it('rescans only after a loss, at most once per gap, and less often when a rescan is slow', () => {
    h.setProc([{ pid: 1, startTicks: 1 }]);
    for (let i = 0; i < 5; i++) h.tick(0);
    expect(h.scans).toBe(0);
    // Losses every second for 20 s: a rescan every 2 s.
    let lost = 0;
    for (let i = 0; i < 20; i++) h.tick((lost += 100));
    expect(h.scans).toBe(10);
    // A rescan that takes 100 ms keeps the next one 5 s (50 x 100 ms) away.
    h.scanMs = 100;
    h.scans = 0;
    for (let i = 0; i < 20; i++) h.tick((lost += 100));
    expect(h.scans).toBeLessThanOrEqual(4);
    expect(h.scans).toBeGreaterThanOrEqual(3);
    // Once losses stop, one more rescan covers them, then none.
    h.scans = 0;
    for (let i = 0; i < 20; i++) h.tick(lost);
    expect(h.scans).toBe(1);
    expect(h.resync.totals.resyncs).toBeGreaterThan(10);
  });
});
