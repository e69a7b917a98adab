/**
 * GroupTracker: live tasks and threads per group from records (after the process table has
 * applied them), counts from events, exit outcomes and lifetimes, moves between groups, and the
 * recount after a rescan. The real table and registry; records made up field by field.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { RawEvent } from '../../src/events/decode.js';
import { EventType, Flags } from '../../src/events/layout.js';
import { GroupRegistry, type Group } from '../../src/groups/registry.js';
import { GroupTracker, type GroupNotice } from '../../src/groups/tracker.js';
import { ProcessTable, type ProcessInfo } from '../../src/process/table.js';

const PATHS: Record<number, string> = { 1: '/', 10: '/system.slice/web.service', 11: '/system.slice/db.service', 12: '/batch/job' };

function setup(groupsYaml: string[] = []) {
  let now = 1000;
  const config = parseConfig(groupsYaml.length ? ['groups:', ...groupsYaml].join('\n') : '', 'test.yaml', { hostname: 'test' });
  const registry = new GroupRegistry({
    rules: config.groups.rules,
    defaults: {},
    maxGroups: 100,
    evictAfterS: 60,
    cgroupPath: (id) => PATHS[id] ?? `cgroup:${id}`,
    now: () => now,
  });
  const tracker = new GroupTracker(registry, () => now);
  const table = new ProcessTable();
  let ts = 5e9;
  const feed = (fields: Partial<RawEvent> & { type: number; pid: number }): GroupNotice[] => {
    const e = Object.assign(new RawEvent(), { tid: fields.pid, ts: (ts += 1e6) }, fields);
    return tracker.apply(e, table.apply(e));
  };
  const startOf = (pid: number) => table.get(pid)?.startNs ?? 0;
  const cg = (pid: number) => table.get(pid)?.cgroupId ?? 0;
  const ops = {
    /** Lets kernel time pass (a pid is one process while its start time is in the same 10 ms tick). */
    wait: (ns: number) => void (ts += ns),
    fork: (pid: number, cgroupId: number, ppid = 1, comm = 'sh') => feed({ type: EventType.FORK, pid, ppid, cgroupId, comm, startNs: ts + 1e6 }),
    thread: (pid: number, tid: number) => feed({ type: EventType.FORK, pid, tid, flags: Flags.THREAD, cgroupId: cg(pid), startNs: startOf(pid) }),
    threadExit: (pid: number, tid: number) => feed({ type: EventType.EXIT, pid, tid, flags: Flags.THREAD, cgroupId: cg(pid), startNs: startOf(pid) }),
    exec: (pid: number, comm: string, filename = `/usr/bin/${comm}`) =>
      feed({ type: EventType.EXEC, pid, comm, filename, cgroupId: cg(pid), startNs: startOf(pid) }),
    /** `status` as wait(2) has it: code << 8, or the signal number. */
    exit: (pid: number, status = 0, cpuNs = 0) => feed({ type: EventType.EXIT, pid, status, cpuNs, cgroupId: cg(pid), startNs: startOf(pid) }),
    move: (pid: number, cgroupId: number) => feed({ type: EventType.MIGRATE, pid, flags: Flags.THREADGROUP, cgroupId, startNs: startOf(pid) }),
  };
  const group = (name: string): Group => registry.get(name)!;
  return {
    registry,
    tracker,
    table,
    ...ops,
    group,
    setNow: (ms: number) => (now = ms),
    get ts() {
      return ts;
    },
  };
}

const counts = (g: Group) => ({ tasks: g.tasks, threads: g.threads });

describe('GroupTracker', () => {
  it('counts a process once and its threads apart: thread records change threads, never tasks or forks', () => {
    const t = setup();
    t.fork(100, 10);
    t.thread(100, 101);
    t.thread(100, 102);
    const web = t.group('web.service');
    expect(counts(web)).toEqual({ tasks: 1, threads: 3 });
    expect(web.events).toMatchObject({ forks: 1, threads: 2 });
    t.threadExit(100, 101);
    expect(counts(web)).toEqual({ tasks: 1, threads: 2 });
    const left = t.exit(100);
    expect(counts(web)).toEqual({ tasks: 0, threads: 0 });
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({ kind: 'left', group: web, status: 0 });
  });

  it('sorts exits by outcome from the wait status, and keeps lifetime and CPU', () => {
    const t = setup();
    for (const pid of [200, 201, 202, 203]) t.fork(pid, 11);
    const ok = t.exit(200, 0, 2e6);
    t.exit(201, 3 << 8);
    t.exit(202, 9); // SIGKILL
    t.exit(203, 11 | 0x80); // SIGSEGV, core dumped
    const db = t.group('db.service');
    expect(db.events).toMatchObject({ exitsSuccess: 1, exitsFailure: 1, exitsSignaled: 2, cpuNs: 2e6 });
    expect(db.events.lifetime.reduce((a, b) => a + b, 0)).toBe(4);
    expect(ok[0].cpuS).toBeCloseTo(0.002);
    expect(ok[0].lifetimeS).toBeGreaterThan(0);
    expect(db.tasks).toBe(0);
  });

  it('an exit of a process it never saw changes no group', () => {
    const t = setup();
    t.fork(300, 10);
    expect(t.exit(999)).toEqual([]);
    expect(t.group('web.service').tasks).toBe(1);
  });

  it('moves a process and its threads between groups on migrate, telling both; empty-since starts when the last one leaves', () => {
    const t = setup();
    t.fork(400, 10);
    t.thread(400, 401);
    t.setNow(5000);
    const notices = t.move(400, 11);
    const web = t.group('web.service');
    const db = t.group('db.service');
    expect(notices.map((n) => [n.kind, n.group.name, n.status])).toEqual([
      ['left', 'web.service', null],
      ['entered', 'db.service', null],
    ]);
    expect(counts(web)).toEqual({ tasks: 0, threads: 0 });
    expect(counts(db)).toEqual({ tasks: 1, threads: 2 });
    expect(web.emptySince).toBe(5000);
    expect(db.emptySince).toBeNull();
    expect(t.tracker.groupOf(400)).toBe(db);
    // A move within one group's cgroups tells nothing.
    expect(t.move(400, 11)).toEqual([]);
  });

  it('an exec that matches a comm rule moves the process into that group, counting the exec there', () => {
    const t = setup(['  - name: nginx', '    match: { comm: "^nginx$" }']);
    t.fork(500, 10);
    const notices = t.exec(500, 'nginx');
    const nginx = t.group('nginx');
    expect(notices.map((n) => [n.kind, n.group.name])).toEqual([
      ['left', 'web.service'],
      ['entered', 'nginx'],
    ]);
    expect(nginx.events.execs).toBe(1);
    expect(t.group('web.service').events.execs).toBe(0);
    // Its forks are born with the parent's name: they join the rule's group too.
    t.fork(501, 10, 500, 'nginx');
    expect(counts(nginx)).toEqual({ tasks: 2, threads: 2 });
  });

  it('a pid reused after a lost exit: the old process leaves with no status, the new one enters', () => {
    const t = setup();
    t.fork(600, 10);
    t.wait(1e9);
    const notices = t.fork(600, 11);
    expect(notices.map((n) => [n.kind, n.group.name, n.status])).toEqual([
      ['left', 'web.service', null],
      ['entered', 'db.service', null],
    ]);
    expect(t.group('web.service').tasks).toBe(0);
    expect(t.group('db.service').tasks).toBe(1);
    // A fork record of a process a rescan already put in the table counts the fork, not the task.
    const again = t.fork(600, 11);
    expect(again.map((n) => n.kind)).toEqual(['entered']);
    expect(t.group('db.service')).toMatchObject({ tasks: 1, events: { forks: 2 } });
  });

  it('seeds from the table, then recounts after a rescan: phantoms leave, missing ones enter, corrections are listed', () => {
    const t = setup();
    const seeded: ProcessInfo[] = [
      { pid: 1, ppid: 0, comm: 'init', uid: 0, cgroupId: 1, startNs: 1e9, threads: 1 },
      { pid: 700, ppid: 1, comm: 'web', uid: 0, cgroupId: 10, startNs: 2e9, threads: 4 },
    ];
    t.table.seed(seeded);
    t.tracker.seed(t.table.values());
    expect(counts(t.group('web.service'))).toEqual({ tasks: 1, threads: 4 });
    t.fork(701, 10, 700);
    // procfs now: 701 is gone (its exit was lost), 702 runs in db (its fork was lost).
    t.table.reconcile([seeded[0], seeded[1], { pid: 702, ppid: 1, comm: 'db', uid: 0, cgroupId: 11, startNs: 3e9, threads: 1 }]);
    t.setNow(9000);
    const fixed = t.tracker.resync(t.table.values());
    expect(fixed.map((c) => [c.group.name, c.tasks.was, c.tasks.now]).sort()).toEqual([
      ['db.service', 0, 1],
      ['web.service', 2, 1],
    ]);
    expect(counts(t.group('web.service'))).toEqual({ tasks: 1, threads: 4 });
    expect(t.tracker.groupOf(701)).toBeUndefined();
    expect(t.tracker.groupOf(702)!.name).toBe('db.service');
    // No exit was invented.
    expect(t.group('web.service').events.exitsSuccess + t.group('web.service').events.lifetime.reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('re-places every live process after a reload changed the rules', () => {
    const t = setup();
    t.fork(800, 12, 1, 'worker');
    const config = parseConfig('groups:\n  - name: workers\n    match: { comm: "^worker$" }\n', 'test.yaml', { hostname: 'test' });
    t.registry.reconfigure({ rules: config.groups.rules, defaults: {}, maxGroups: 100, evictAfterS: 60, cgroupPath: (id) => PATHS[id], now: () => 1000 });
    const notices = t.tracker.replace(t.table.values());
    expect(notices.map((n) => [n.kind, n.group.name])).toEqual([
      ['left', '/batch/job'],
      ['entered', 'workers'],
    ]);
    expect(t.group('workers').tasks).toBe(1);
  });
});
