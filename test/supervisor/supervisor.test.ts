import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import type { SupervisedSpec } from '../../src/supervisor/policy.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import type { HealthProber } from '../../src/supervisor/types.js';
import { FakeLauncher, FakeTime, captureEvents, captureLogger, flush, makeSpec } from './fakes.js';

function setup(specs: SupervisedSpec[], resolveWatch?: (w: string) => string, prober?: HealthProber) {
  const time = new FakeTime();
  const launcher = new FakeLauncher();
  const logger = captureLogger();
  const { events, listener } = captureEvents();
  const supervisor = new Supervisor(specs, {
    launcher,
    clock: time,
    timers: time,
    logger,
    listener,
    ...(resolveWatch ? { resolveWatch } : {}),
    ...(prober ? { prober } : {}),
  });
  launcher.reportEmpty = (path) => supervisor.onCgroupEmpty(path, { code: null, signal: 'SIGTERM' });
  return { time, launcher, logger, events, supervisor };
}

const web = makeSpec({ name: 'web' });
const worker = makeSpec({ name: 'worker', keep_running: true });
const db = makeSpec({ name: 'db', command: undefined, watch: 'db-group', restart_command: ['systemctl', 'restart', 'db'] });

describe('Supervisor', () => {
  it('routes an emptied cgroup to its program, whatever the path spelling', async () => {
    const s = setup([web, worker]);
    await s.supervisor.start();
    s.launcher.groups.set('web', []);
    const routes: Array<[string, boolean]> = [
      ['/forkwatch.programs/web/', true],
      ['forkwatch.programs//web', true],
      ['/forkwatch.programs/nothing', false],
      ['/', false],
    ];
    for (const [path, known] of routes) expect(s.supervisor.onCgroupEmpty(path, { code: 1, signal: null })).toBe(known);
    s.launcher.exitMain('web', { code: 1, signal: null }); // the main process's own status, which the decision waits for
    await flush();
    expect(s.supervisor.get('web')?.state).toBe('backoff');
    expect(s.supervisor.get('worker')?.state).toBe('running');
  });

  it('routes a watched group through resolveWatch', async () => {
    const s = setup([db], (w) => (w === 'db-group' ? 'system.slice/db.service' : w));
    s.launcher.groups.set('/system.slice/db.service', [5]);
    await s.supervisor.start();
    expect(s.supervisor.cgroups()).toEqual([{ program: 'db', cgroup: '/system.slice/db.service', watching: true }]);
    s.launcher.groups.set('/system.slice/db.service', []);
    expect(s.supervisor.onCgroupEmpty('/system.slice/db.service')).toBe(true);
    await s.time.advance(1000);
    expect(s.launcher.count('runOnce db systemctl restart db')).toBe(1);
  });

  it('lists every program for `forkwatch programs`', async () => {
    const s = setup([web, worker]);
    await s.supervisor.start();
    await s.time.advance(3000);
    s.launcher.groups.set('web', []);
    s.supervisor.onProgramEmpty('web', { code: 2, signal: null });
    s.launcher.exitMain('web', { code: 2, signal: null });
    await flush();
    expect(s.supervisor.list()).toEqual([
      {
        name: 'web',
        state: 'backoff',
        pid: null,
        uptime_s: null,
        restarts: 0,
        last_exit: { code: 2, signal: null, timed_out: false, unhealthy: false, at: s.time.now() / 1000 },
        next_retry: s.time.now() / 1000 + 1,
        error: null,
        last_restart_latency_s: null,
        cgroup: '/forkwatch.programs/web',
        health: null,
      },
      {
        name: 'worker',
        state: 'running',
        pid: 101,
        uptime_s: 3,
        restarts: 0,
        last_exit: null,
        next_retry: null,
        error: null,
        last_restart_latency_s: null,
        cgroup: '/forkwatch.programs/worker',
        health: null,
      },
    ]);
  });

  it('stopAll honours keep_running, and an explicit keepRunning overrides it', async () => {
    const table: Array<[boolean | undefined, string[], string[]]> = [
      [undefined, ['web'], ['worker']],
      [true, [], ['web', 'worker']],
      [false, ['web', 'worker'], []],
    ];
    for (const [keepRunning, stopped, kept] of table) {
      const s = setup([web, worker]);
      await s.supervisor.start();
      await s.supervisor.stopAll(keepRunning === undefined ? {} : { keepRunning });
      expect(s.launcher.calls.filter((c) => c.startsWith('signal')).map((c) => c.split(' ')[1])).toEqual(stopped);
      expect(s.launcher.calls.filter((c) => c.startsWith('detach')).map((c) => c.split(' ')[1])).toEqual(kept);
      expect(s.launcher.calls.filter((c) => c.startsWith('remove')).map((c) => c.split(' ')[1])).toEqual(stopped);
    }
  });

  it('reload adds, removes, restarts on a command change and updates policy in place', async () => {
    const s = setup([web, worker, makeSpec({ name: 'old' })]);
    await s.supervisor.start();
    const summary = await s.supervisor.reload([
      makeSpec({ name: 'web', command: ['/bin/false'] }),
      makeSpec({ name: 'worker', keep_running: true, restart: 'always' }),
      makeSpec({ name: 'new' }),
    ]);
    expect(summary).toEqual({ added: ['new'], removed: ['old'], restarted: ['web'], updated: ['worker'] });
    expect(s.supervisor.list().map((p) => [p.name, p.state])).toEqual([
      ['web', 'running'],
      ['worker', 'running'],
      ['new', 'running'],
    ]);
    expect(s.supervisor.get('web')?.currentSpec.command).toEqual(['/bin/false']);
    expect(s.supervisor.get('worker')?.currentSpec.restart).toBe('always');
    expect(s.launcher.calls).toContain('remove old');
    expect(s.supervisor.onCgroupEmpty('/forkwatch.programs/old')).toBe(false);
    expect(s.supervisor.onCgroupEmpty('/forkwatch.programs/new')).toBe(true);
    // env order is not a change
    const again = await s.supervisor.reload(s.supervisor.list().map((p) => s.supervisor.get(p.name)!.currentSpec));
    expect(again).toEqual({ added: [], removed: [], restarted: [], updated: [] });
  });

  it('names the known programs when asked for an unknown one', () => {
    const s = setup([web, worker]);
    expect(() => s.supervisor.startProgram('nope')).toThrow(UsageError);
    expect(() => s.supervisor.stopProgram('nope')).toThrow('no program named "nope"; configured: web, worker');
  });

  it('refuses two programs with the same name', () => {
    expect(() => setup([web, web])).toThrow('program "web" is defined twice');
  });
});

describe('Supervisor: after: order', () => {
  const db = makeSpec({ name: 'db', backoff: { initial_s: 2, factor: 1, max_s: 2, reset_after_s: 60 } });
  const app = makeSpec({ name: 'app', after: ['db'], backoff: { initial_s: 0.1, factor: 1, max_s: 0.1, reset_after_s: 60 } });
  const launches = (s: ReturnType<typeof setup>) => s.launcher.calls.filter((c) => c.startsWith('launch'));

  it('starts a program once its after: programs run, whatever the config order', async () => {
    const s = setup([app, db]);
    s.launcher.hold = true;
    const started = s.supervisor.start();
    await flush();
    expect(launches(s)).toEqual(['launch db']);
    expect(s.supervisor.get('app')!.state).toBe('starting');
    s.launcher.release();
    await flush();
    s.launcher.release(); // app's own launch
    await started;
    expect(launches(s)).toEqual(['launch db', 'launch app']);
  });

  it('with a health check, waits for healthy, not just running', async () => {
    let answer: string | null = 'connect: ECONNREFUSED';
    const prober: HealthProber = { check: async () => answer };
    const s = setup(
      [
        makeSpec({ ...db, health: { probe: { tcp: { host: '127.0.0.1', port: 1 } }, interval_s: 1, timeout_s: 1, start_period_s: 10, failure_threshold: 3 } }),
        app,
      ],
      undefined,
      prober,
    );
    void s.supervisor.start();
    await s.time.advance(3000);
    expect(s.supervisor.get('db')!.state).toBe('running');
    expect(launches(s)).toEqual(['launch db']);
    answer = null;
    await s.time.advance(1000);
    expect(launches(s)).toEqual(['launch db', 'launch app']);
  });

  it('holds across a restart of the dependency: the dependent restarts only after it', async () => {
    const s = setup([db, app]);
    await s.supervisor.start();
    // Both go down; the dependent's backoff (0.1 s) ends long before the dependency's (2 s).
    for (const name of ['db', 'app']) {
      s.launcher.groups.set(name, []);
      s.supervisor.onProgramEmpty(name, { code: 1, signal: null });
      s.launcher.exitMain(name, { code: 1, signal: null });
    }
    await s.time.advance(500);
    expect(s.supervisor.get('app')!.state).toBe('starting');
    expect(launches(s)).toEqual(['launch db', 'launch app']);
    await s.time.advance(1500);
    expect(launches(s)).toEqual(['launch db', 'launch app', 'launch db', 'launch app']);
    expect(s.supervisor.get('app')!.state).toBe('running');
  });

  it('stops in reverse order', async () => {
    const s = setup([db, app, makeSpec({ name: 'web', after: ['app'] })]);
    await s.supervisor.start();
    await s.supervisor.stopAll({ keepRunning: false });
    expect(s.launcher.calls.filter((c) => c.startsWith('signal'))).toEqual(['signal web SIGTERM', 'signal app SIGTERM', 'signal db SIGTERM']);
  });

  it('a start waiting for its after: programs is called off by a stop', async () => {
    const s = setup([db, app]);
    s.launcher.launchError = (spec) => (spec.name === 'db' ? new Error('no') : null);
    void s.supervisor.start();
    await flush();
    expect(s.supervisor.get('app')!.waitingForAfter).toBe(true);
    await s.supervisor.stopProgram('app');
    expect(s.supervisor.get('app')!.state).toBe('stopped');
    s.launcher.launchError = null;
    await s.time.advance(5000);
    expect(s.supervisor.get('db')!.state).toBe('running');
    expect(launches(s).filter((c) => c === 'launch app')).toEqual([]);
  });
});
