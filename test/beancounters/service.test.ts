/** BeancounterService with a fake host, cgroupfs, hooks and bus: every reading, action and record. */
import { describe, expect, it } from 'vitest';
import { outermost } from '../../src/beancounters/service.js';
import { config, harness } from './fakes.js';

const JOB = 10; // cgroup id of /job
const OTHER = 20; // cgroup id of /other

const jobRule = (resources: string, extra = '') => `
groups:
  - name: job
    match: { cgroup: /job }
    resources:
${resources
  .trim()
  .split('\n')
  .map((l) => `      ${l}`)
  .join('\n')}
${extra}`;

/** A shell moved into /job (as a test's `echo $$ > cgroup.procs` does), pid 100. */
function withShell(h: ReturnType<typeof harness>, pid = 100) {
  h.host.seed([{ pid, cgroupId: OTHER }]);
  h.host.migrate(pid, JOB);
}

describe('tasks and threads from kernel records', () => {
  it('counts barrier hits and failcnt exactly over a rise, fall and rise, acting on the record that crossed', () => {
    const h = harness(jobRule('tasks: { barrier: 20, limit: 40 }'), { cgroups: { [JOB]: '/job', [OTHER]: '/other' } });
    withShell(h);
    const rise = (n: number, from: number) => Array.from({ length: n }, (_, i) => (h.host.fork(100, from + i, JOB), from + i));
    const fall = (pids: number[]) => pids.forEach((p) => h.host.exit(p, 9));
    fall(rise(30, 1000)); // 31 tasks: barrier
    fall(rise(50, 2000)); // 51: barrier and limit
    fall(rise(10, 3000)); // 11: nothing
    fall(rise(25, 4000)); // 26: barrier
    // Barrier hits once per crossing; failcnt once per fork past the limit: 41st to 51st task.
    expect(h.row('job', 'tasks')).toMatchObject({ held: 1, maxheld: 51, minheld: 0, barrier: 20, limit: 40, barrierHits: 3, failcnt: 11 });

    const crossings = h.events.filter((e) => e.type !== 'release');
    expect(crossings.map((e) => `${e.type}:${e.direction as string}:${e.held as number}`)).toEqual([
      'barrier:up:21',
      'barrier:down:20',
      'barrier:up:21',
      'limit:up:41',
      'limit:down:40',
      'barrier:down:20',
      'barrier:up:21',
      'barrier:down:20',
    ]);
    // The fork of the 20th child (pid 1019) made it 21 tasks.
    expect(crossings[0]).toMatchObject({ group: 'job', resource: 'tasks', barrier: 20, limit: 40, pid: 1019 });
    expect(crossings[0].kernel_time).toMatch(/^boot:\d+/);
    expect(h.records.filter((r) => (r as { type: string }).type !== 'release')).toEqual(crossings);
    expect(h.log.lines.filter((l) => l.startsWith('warn:'))).toEqual(['warn: group job: tasks above its limit 40 (held 41)']);
  });

  it('follows threads through thread records, which come without group notices', () => {
    const h = harness(jobRule('threads: { barrier: 3 }'), { cgroups: { [JOB]: '/job', [OTHER]: '/other' } });
    withShell(h);
    for (let i = 0; i < 4; i++) h.host.thread(100, 'fork');
    expect(h.row('job', 'threads')).toMatchObject({ held: 5, barrierHits: 1 });
    h.host.thread(100, 'exit');
    h.host.thread(100, 'exit');
    expect(h.row('job', 'threads')).toMatchObject({ held: 3, maxheld: 5 });
    expect(h.events.map((e) => `${e.resource as string}:${e.direction as string}`)).toEqual(['threads:up', 'threads:down']);
  });

  it('has tasks and threads rows for every group, configured or not, and metrics samples without null', () => {
    const h = harness('', { cgroups: { [JOB]: '/job' }, seed: [{ pid: 5, cgroupId: JOB }] });
    expect(h.service.apiRows()).toEqual([
      { group: '/job', resource: 'tasks', held: 1, maxheld: 1, minheld: 1, barrier: null, limit: null, barrierHits: 0, failcnt: 0 },
      { group: '/job', resource: 'threads', held: 1, maxheld: 1, minheld: 1, barrier: null, limit: null, barrierHits: 0, failcnt: 0 },
    ]);
    expect(h.service.rows()[0]).toEqual({
      group: '/job',
      resource: 'tasks',
      held: 1,
      maxheld: 1,
      minheld: 1,
      barrier: undefined,
      limit: undefined,
      barrierHits: 0,
      failcnt: 0,
    });
  });

  it('counts a group already above its barrier at start as one hit', () => {
    const seed = Array.from({ length: 5 }, (_, i) => ({ pid: 50 + i, cgroupId: JOB }));
    const h = harness(jobRule('tasks: { barrier: 3 }'), { cgroups: { [JOB]: '/job' }, seed });
    expect(h.row('job', 'tasks')).toMatchObject({ held: 5, barrierHits: 1 });
    expect(h.events).toHaveLength(1);
    expect(h.events[0]).not.toHaveProperty('pid');
  });
});

describe('rates and cgroupfs readings', () => {
  it('forks_per_second: rises with forks, falls on the tick after they stop', () => {
    const h = harness(jobRule('forks_per_second: { barrier: 5 }'), { cgroups: { [JOB]: '/job', [OTHER]: '/other' } });
    withShell(h);
    for (let i = 0; i < 6; i++) {
      h.host.fork(100, 1000 + i, JOB);
      h.host.exit(1000 + i);
      h.clock.advance(10);
    }
    expect(h.row('job', 'forks_per_second')).toMatchObject({ held: 6, barrierHits: 1 });
    h.tick(2000);
    expect(h.row('job', 'forks_per_second')).toMatchObject({ held: 0, maxheld: 6 });
    expect(h.events.map((e) => `${e.resource as string}:${e.direction as string}`)).toEqual(['forks_per_second:up', 'forks_per_second:down']);
  });

  it('cpu_cores: from the agent totals once a second, only when some group has a cpu threshold', () => {
    const h = harness(jobRule('cpu_cores: { barrier: 0.5, limit: 1.5 }'), { cgroups: { [JOB]: '/job', [OTHER]: '/other' } });
    withShell(h);
    h.tick();
    h.host.cpuNs.set('job', 0.8e9);
    h.tick(); // 0.8 cores
    expect(h.row('job', 'cpu_cores')).toMatchObject({ held: 0.8, barrierHits: 1, failcnt: 0 });
    h.host.cpuNs.set('job', 2.8e9);
    h.tick(); // 2.0 s over the last second; window spans 2 s: 1.4 cores
    expect(h.row('job', 'cpu_cores')?.held).toBeCloseTo(1.4);
  });

  it('memory_bytes: the sum over the outermost cgroups of the group, read once a second', () => {
    const h = harness(`groups:\n  - name: web\n    match: { cgroup: "/web/**" }\n    resources:\n      memory_bytes: { barrier: 100MiB, limit: 200MiB }\n`, {
      cgroups: { 1: '/web', 2: '/web/a', 3: '/web/b', 4: '/web/a/x' },
    });
    h.host.seed([
      { pid: 10, cgroupId: 2 },
      { pid: 11, cgroupId: 3 },
      { pid: 12, cgroupId: 4 },
    ]);
    h.io.memory.set('/web/a', 150 * 2 ** 20);
    h.io.memory.set('/web/b', 60 * 2 ** 20);
    h.io.memory.set('/web/a/x', 999); // inside /web/a: already in its number
    h.tick();
    expect(h.row('web', 'memory_bytes')).toMatchObject({ held: 210 * 2 ** 20, barrierHits: 1, failcnt: 1 });
  });

  it('kernel refusals: pids.events and memory.events max into failcnt; a cgroup made after start counts in full', () => {
    const h = harness(jobRule('tasks: { limit: 100 }\nmemory_bytes: { limit: 1GiB }') + `  - name: old\n    match: { cgroup: /old }\n`, {
      cgroups: { [OTHER]: '/other', 30: '/old' },
      seed: [{ pid: 300, cgroupId: 30 }],
    });
    // /job appears after the agent started.
    h.host.paths.set(JOB, '/job');
    withShell(h);
    h.io.refused.set('pids:/job', 3);
    h.io.refused.set('memory:/job', 2);
    h.io.refused.set('pids:/old', 7);
    h.io.memory.set('/job', 1000);
    h.tick();
    expect(h.row('job', 'tasks')?.failcnt).toBe(3);
    expect(h.row('job', 'memory_bytes')?.failcnt).toBe(2);
    expect(h.row('old', 'tasks')?.failcnt).toBe(0); // history from before the agent: a baseline
    h.io.refused.set('pids:/old', 9);
    h.io.refused.set('pids:/job', 4);
    h.tick();
    expect(h.row('old', 'tasks')?.failcnt).toBe(2);
    expect(h.row('job', 'tasks')?.failcnt).toBe(4);
    expect(h.log.lines).toContain('warn: group job: the kernel refused 3 forks (pids.max) in /job');
  });

  it('skips cgroupfs for groups matched by process and for groups with nothing to read', () => {
    const h = harness(`resources:\n  memory_bytes: { limit: 1GiB }\ngroups:\n  - name: py\n    match: { comm: "^python" }\n`, { cgroups: { [JOB]: '/job' } });
    h.host.seed([{ pid: 5, cgroupId: JOB, comm: 'python3' }]);
    h.io.memory.set('/job', 5);
    h.tick();
    expect(h.row('py', 'memory_bytes')).toMatchObject({ held: 0 });
  });
});

describe('actions', () => {
  it('exec: a hook per crossing with the crossing and the cgroup; a fall back runs it as release', () => {
    const h = harness(jobRule('tasks:\n  barrier: 2\n  on_barrier:\n    - exec: [/bin/hook, a]\n      timeout: 3s'), {
      cgroups: { [JOB]: '/job', [OTHER]: '/other' },
    });
    withShell(h);
    h.host.fork(100, 101, JOB);
    h.host.fork(100, 102, JOB);
    h.host.exit(102);
    expect(h.hooks.runs).toEqual([
      { group: 'job', resource: 'tasks', event: 'barrier', held: 3, barrier: 2, limit: undefined, cgroup: '/job', command: ['/bin/hook', 'a'], timeout_s: 3 },
      { group: 'job', resource: 'tasks', event: 'release', held: 2, barrier: 2, limit: undefined, cgroup: '/job', command: ['/bin/hook', 'a'], timeout_s: 3 },
    ]);
  });

  it('kill: SIGKILLs the newest processes above the limit, and every later newcomer while still full', () => {
    const h = harness(jobRule('tasks:\n  limit: 4\n  on_limit: [kill]'), { cgroups: { [JOB]: '/job', [OTHER]: '/other' } });
    withShell(h);
    for (let i = 1; i <= 6; i++) h.host.fork(100, 100 + i, JOB); // 7 tasks: 105 and 106 over
    expect(h.io.killed).toEqual([104, 105, 106]);
    // The kills are not seen yet: a newcomer is still over the limit and goes too.
    h.host.fork(100, 107, JOB);
    expect(h.io.killed).toEqual([104, 105, 106, 107]);
    for (const pid of [104, 105, 106, 107]) h.host.exit(pid, 9);
    expect(h.host.group('job').tasks).toBe(4);
    // One per process killed, whatever the timing of their exits.
    expect(h.row('job', 'tasks')).toMatchObject({ held: 4, failcnt: 4 });
    h.tick();
    expect(h.log.lines).toContain('warn: group job: killed 4 processes above its tasks limit 4');
  });

  it('kill: picks the newest by start time when the crossing was not a fork, and never the agent or init', () => {
    const h = harness(jobRule('tasks:\n  limit: 2\n  on_limit: [kill]'), { cgroups: { [JOB]: '/job', [OTHER]: '/other' } });
    h.host.seed([
      { pid: 1, cgroupId: JOB, startNs: 1 },
      { pid: 200, cgroupId: JOB, startNs: 5 },
      { pid: process.pid, cgroupId: OTHER, startNs: 9 },
      { pid: 300, cgroupId: OTHER, startNs: 3 },
    ]);
    expect(h.io.killed).toEqual([]);
    h.host.migrate(process.pid, JOB); // 3 tasks, the newest is the agent
    expect(h.io.killed).toEqual([200]);
  });

  it('kill: names each process by pid and start time, so a pid reused since is not killed', () => {
    const h = harness(jobRule('tasks:\n  limit: 2\n  on_limit: [kill]'), { cgroups: { [JOB]: '/job', [OTHER]: '/other' } });
    h.host.seed([
      { pid: 200, cgroupId: JOB, startNs: 5e9 },
      { pid: 201, cgroupId: JOB, startNs: 6e9 },
    ]);
    const fork = h.host.fork(200, 202, JOB); // the newcomer, named by its fork record
    expect(h.io.killed).toEqual([202]);
    expect(h.io.killedStart.get(202)).toBe(fork.startNs);
    h.host.seed([{ pid: 203, cgroupId: OTHER, startNs: 7e9 }]);
    h.host.migrate(203, JOB); // not a fork: the newest by start time
    expect(h.io.killedStart.get(203)).toBe(7e9);
  });

  it('never kills, freezes or runs hooks for `other`, the overflow of groups beyond max_groups; says so once', () => {
    const acts = 'resources:\n  tasks:\n    limit: 2\n    on_limit: [kill, freeze, {exec: [/bin/hook]}]\n';
    // /a is the one group max_groups allows; /b, /c and /d overflow into `other`.
    const h = harness(`group_settings: { max_groups: 1 }\n${acts}`, { cgroups: { 1: '/a', 2: '/b', 3: '/c', 4: '/d' } });
    h.host.seed([{ pid: 10, cgroupId: 1 }]);
    for (let i = 0; i < 6; i++) h.host.fork(10, 20 + i, 2 + (i % 3));
    expect(h.host.group('other').tasks).toBe(6);
    expect({ killed: h.io.killed, writes: h.io.writes, hooks: h.hooks.runs }).toEqual({ killed: [], writes: [], hooks: [] });
    // Still accounted, and announced: only the actions on processes are withheld.
    // No kill ran: failcnt counts the forks past the limit (the 3rd to the 6th task).
    expect(h.row('other', 'tasks')).toMatchObject({ held: 6, limit: 2, failcnt: 4 });
    expect(h.events.map((e) => `${e.type}:${e.group}`)).toEqual(['limit:other']);
    const why = h.log.lines.filter((l) => l.includes('overflow'));
    expect(why).toEqual([
      'warn: group other: kill, freeze, exec not run: "other" is the overflow of every group beyond group_settings.max_groups (anyone who can make cgroups can fill it), so actions never apply to it',
    ]);
    // The one group max_groups allowed still acts.
    for (let i = 0; i < 2; i++) h.host.fork(10, 40 + i, 1);
    expect(h.io.killed).toEqual([41]);
  });

  it('freeze and thaw: cgroup.freeze when the limit is crossed, thawed only back at the barrier', () => {
    const h = harness(jobRule('tasks:\n  barrier: 2\n  limit: 3\n  on_limit: [freeze]'), { cgroups: { [JOB]: '/job', [OTHER]: '/other' } });
    withShell(h);
    for (let i = 1; i <= 3; i++) h.host.fork(100, 100 + i, JOB); // 4 tasks
    expect(h.io.writes).toEqual(['/job=1']);
    h.host.exit(103); // 3: under the limit, above the barrier
    expect(h.io.writes).toEqual(['/job=1']);
    h.host.exit(102); // 2: back at the barrier
    expect(h.io.writes).toEqual(['/job=1', '/job=0']);
  });

  it('an action that fails is logged; the others still run and the service goes on', () => {
    const h = harness(jobRule('tasks:\n  limit: 1\n  on_limit: [freeze, {exec: [/bin/x]}]'), { cgroups: { [JOB]: '/job', [OTHER]: '/other' } });
    h.io.failFreeze = true;
    withShell(h);
    h.host.fork(100, 101, JOB);
    expect(h.log.lines.some((l) => /^warn: group job: tasks limit up: freeze failed: EACCES: permission denied, open '.*cgroup\.freeze'$/.test(l))).toBe(true);
    expect(h.hooks.runs).toHaveLength(1);
    expect(h.events.map((e) => e.type)).toEqual(['limit']);
  });

  it('a failing accounting log is a warning, not a crash', () => {
    const sink = {
      append: () => {
        throw new Error("ENOSPC: no space left on device, open '/var/log/forkwatch-test.log'");
      },
    };
    const h = harness(jobRule('tasks: { barrier: 1 }'), { cgroups: { [JOB]: '/job', [OTHER]: '/other' }, sink });
    withShell(h);
    expect(() => h.host.fork(100, 101, JOB)).not.toThrow();
    expect(h.events).toHaveLength(1);
    expect(h.log.lines).toContain("warn: accounting log: ENOSPC: no space left on device, open '/var/log/forkwatch-test.log'");
  });
});

describe('release records', () => {
  it('sums up the life of a job when its last process exits: processes, exits by outcome, CPU, max tasks', () => {
    const h = harness(jobRule('tasks: { limit: 100 }', '    on_release: { command: [/bin/collect, -v], timeout: 5s }'), {
      cgroups: { [JOB]: '/job', [OTHER]: '/other' },
    });
    h.host.seed([{ pid: 100, cgroupId: OTHER }]);
    h.clock.advance(500);
    h.host.migrate(100, JOB);
    h.host.fork(100, 101, JOB);
    h.host.fork(100, 102, JOB);
    h.host.fork(101, 103, JOB);
    h.host.thread(103, 'fork'); // a thread is not a process
    h.host.exit(103, 3 << 8, 0.25e9);
    h.host.exit(102, 9, 0.5e9);
    h.host.exit(101, 0, 0.125e9);
    h.clock.advance(1500);
    h.host.exit(100, 0, 0.125e9);
    const release = {
      type: 'release',
      group: 'job',
      cgroup: '/job',
      start: new Date(1_700_000_000_500).toISOString(),
      end: new Date(1_700_000_002_000).toISOString(),
      duration_s: 1.5,
      processes: 3,
      max_tasks: 4,
      exits: { success: 2, failure: 1, signaled: 1 },
      cpu_s: 1,
    };
    expect(h.events).toEqual([{ ...release, time: release.end }]);
    expect(h.records).toEqual([release]);
    expect(h.hooks.runs).toEqual([
      {
        group: 'job',
        resource: '',
        event: 'release',
        held: 0,
        cgroup: '/job',
        command: ['/bin/collect', '-v'],
        timeout_s: 5,
        env: expect.objectContaining({ FORKWATCH_PROCESSES: '3', FORKWATCH_EXITS_FAILURE: '1', FORKWATCH_CPU_S: '1', FORKWATCH_MAX_TASKS: '4' }) as unknown,
      },
    ]);
    expect(h.log.lines).toContain('info: release: group job: 3 processes, exits 2 ok / 1 failed / 1 signaled, 1 s CPU, at most 4 tasks');
  });

  it('starts a new life with the next process, and a move out is not a release', () => {
    const h = harness('', { cgroups: { [JOB]: '/job', [OTHER]: '/other' } });
    h.host.seed([{ pid: 100, cgroupId: OTHER }]);
    h.host.migrate(100, JOB);
    h.host.fork(100, 101, JOB);
    h.host.migrate(101, OTHER);
    h.host.exit(100);
    h.host.migrate(101, JOB);
    h.host.fork(101, 102, JOB);
    h.host.exit(102);
    h.host.exit(101, 1 << 8);
    const releases = h.events.filter((e) => e.type === 'release' && e.group === '/job');
    expect(releases.map((r) => [r.processes, r.exits])).toEqual([
      [1, { success: 1, failure: 0, signaled: 0 }],
      [1, { success: 1, failure: 1, signaled: 0 }],
    ]);
    // Unconfigured groups' releases go to the debug log only.
    expect(h.log.lines.filter((l) => l.includes('release: group /job')).every((l) => l.startsWith('debug:'))).toBe(true);
  });
});

describe('configuration changes', () => {
  it('reload: new thresholds act on held at once, and a freeze is thawed when the limit is raised', () => {
    const h = harness(jobRule('tasks:\n  barrier: 1\n  limit: 2\n  on_limit: [freeze]'), { cgroups: { [JOB]: '/job', [OTHER]: '/other' } });
    withShell(h);
    h.host.fork(100, 101, JOB);
    h.host.fork(100, 102, JOB); // 3 > 2: frozen
    expect(h.io.writes).toEqual(['/job=1']);
    h.host.reload(config(jobRule('tasks:\n  barrier: 5\n  limit: 10\n  on_limit: [freeze]')));
    expect(h.io.writes).toEqual(['/job=1', '/job=0']);
    expect(h.row('job', 'tasks')).toMatchObject({ barrier: 5, limit: 10, failcnt: 1, barrierHits: 1 });
    h.host.reload(config(jobRule('tasks: { limit: 2 }')));
    expect(h.row('job', 'tasks')).toMatchObject({ limit: 2, failcnt: 2 });
  });

  it('reload: a new default reaches groups no rule names; a rule can clear it', () => {
    const h = harness(jobRule('tasks: { limit: 9 }'), { cgroups: { [JOB]: '/job', [OTHER]: '/other' }, seed: [{ pid: 7, cgroupId: OTHER }] });
    h.host.reload(config('resources:\n  cpu_cores: { barrier: 2 }\n' + jobRule('cpu_cores: {}')));
    expect(h.service.apiRows().map((r) => `${r.group}/${r.resource}`)).toEqual([
      '/other/tasks',
      '/other/threads',
      '/other/cpu_cores',
      'job/tasks',
      'job/threads',
    ]);
  });

  it('forgets groups the registry evicted', () => {
    const h = harness('group_settings: { evict_after: 1s }\n', { cgroups: { [JOB]: '/job', [OTHER]: '/other' } });
    h.host.seed([{ pid: 100, cgroupId: OTHER }]);
    h.host.migrate(100, JOB);
    h.host.exit(100);
    h.tick(0);
    expect(h.service.apiRows().some((r) => r.group === '/job')).toBe(true);
    h.clock.advance(2000);
    h.host.registry.evict(h.clock.now());
    h.tick(0);
    expect(h.service.apiRows().some((r) => r.group === '/job')).toBe(false);
  });

  it('close() closes the hooks', async () => {
    const h = harness('');
    await h.service.close();
    expect(h.hooks.closed).toBe(true);
  });
});

describe('outermost', () => {
  it.each([
    [
      ['/a/b', '/a', '/c'],
      ['/a', '/c'],
    ],
    [
      ['/a/b', '/a/bc'],
      ['/a/b', '/a/bc'],
    ],
    [['/x', '/x'], ['/x']],
    [['/', '/a'], ['/']],
  ])('%j -> %j', (input, out) => {
    expect(outermost(input)).toEqual(out);
  });
});

describe('robustness', () => {
  it('a failing stage of the tick is logged with its stack and the rest of the tick still runs', () => {
    const h = harness(jobRule('cpu_cores: { barrier: 1 }\nmemory_bytes: { barrier: 10 }'), { cgroups: { [JOB]: '/job', [OTHER]: '/other' } });
    withShell(h);
    h.host.totals = () => {
      throw new TypeError("Cannot read properties of undefined (reading 'forks')");
    };
    h.io.memory.set('/job', 100);
    expect(() => h.tick()).not.toThrow();
    expect(
      h.log.lines.some((l) => l.startsWith("error: beancounters: CPU sampling failed: TypeError: Cannot read properties of undefined (reading 'forks')\n")),
    ).toBe(true);
    expect(h.row('job', 'memory_bytes')).toMatchObject({ held: 100, barrierHits: 1 });
  });

  it('a bug while handling a record is logged (once a second at most), never thrown into the agent', () => {
    const h = harness(jobRule('tasks: { barrier: 1 }'), { cgroups: { [JOB]: '/job', [OTHER]: '/other' } });
    withShell(h);
    h.io.kill = () => {
      throw new Error('boom');
    };
    h.host.reload(config(jobRule('tasks:\n  limit: 1\n  on_limit: [kill]')));
    expect(() => {
      h.host.fork(100, 101, JOB);
      h.host.fork(100, 102, JOB);
    }).not.toThrow();
    expect(h.log.lines.filter((l) => l.startsWith('error: beancounters: a kernel record failed: Error: boom'))).toHaveLength(1);
    h.clock.advance(1500);
    h.host.fork(100, 103, JOB);
    expect(h.log.lines.filter((l) => l.startsWith('error:')).at(-1)).toMatch(
      /^error: beancounters: a kernel record failed \(and 1 more failures since the last one logged\): Error: boom/,
    );
  });
});
