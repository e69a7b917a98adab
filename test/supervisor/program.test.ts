import { describe, expect, it } from 'vitest';
import type { RestartPolicy } from '../../src/config/types.js';
import type { SupervisedSpec } from '../../src/supervisor/policy.js';
import { Program } from '../../src/supervisor/program.js';
import { LaunchError, type ExitInfo, type ProgramEvent, type ProgramState } from '../../src/supervisor/types.js';
import { FakeLauncher, FakeTime, captureEvents, captureLogger, flush, makeSpec } from './fakes.js';

function setup(overrides: Partial<SupervisedSpec> = {}, extra: { watchPath?: string } = {}) {
  const time = new FakeTime();
  const launcher = new FakeLauncher();
  const logger = captureLogger();
  const { events, listener } = captureEvents();
  const program = new Program(makeSpec(overrides), {
    launcher,
    clock: time,
    timers: time,
    logger,
    listener,
    killGraceMs: 1000,
    ...extra,
  });
  const restarts = () => events.filter((e): e is Extract<ProgramEvent, { type: 'restart' }> => e.type === 'restart');
  const states = () => events.filter((e) => e.type === 'state').map((e) => (e as { to: ProgramState }).to);
  return { time, launcher, logger, events, program, restarts, states };
}

/** Start, let the launch land, then have the group empty with `exit` after `runMs`. */
async function crash(s: ReturnType<typeof setup>, exit: ExitInfo, runMs = 100): Promise<void> {
  await s.time.advance(runMs);
  s.launcher.groups.set('web', []);
  s.launcher.exitMain('web', exit);
  s.program.onEmptied(exit);
  await flush();
}

describe('Program: what an exit leads to', () => {
  const table: Array<[RestartPolicy, string, ExitInfo, ProgramState]> = [
    ['on-failure', 'exit 1', { code: 1, signal: null }, 'backoff'],
    ['on-failure', 'exit 0', { code: 0, signal: null }, 'stopped'],
    ['on-failure', 'SIGSEGV', { code: null, signal: 'SIGSEGV' }, 'backoff'],
    ['never', 'exit 1', { code: 1, signal: null }, 'failed'],
    ['never', 'exit 0', { code: 0, signal: null }, 'stopped'],
    ['on-abnormal', 'SIGKILL', { code: null, signal: 'SIGKILL' }, 'backoff'],
    ['on-abnormal', 'exit 2', { code: 2, signal: null }, 'failed'],
    ['on-abnormal', 'timeout', { code: 0, signal: null, timedOut: true }, 'backoff'],
    ['always', 'exit 0', { code: 0, signal: null }, 'backoff'],
  ];
  it.each(table)('%s, %s -> %s', async (restart, _label, exit, expected) => {
    const s = setup({ restart });
    await s.program.start();
    expect(s.program.state).toBe('running');
    await crash(s, exit);
    expect(s.program.state).toBe(expected);
    await s.time.advance(1000);
    const relaunched = expected === 'backoff';
    expect(s.launcher.count('launch')).toBe(relaunched ? 2 : 1);
    expect(s.program.state).toBe(relaunched ? 'running' : expected);
  });
});

describe('Program: lifecycle', () => {
  it('start launches once and reports running with pid', async () => {
    const s = setup();
    await s.program.start();
    await s.program.start(); // already running: no second copy
    expect(s.launcher.count('launch')).toBe(1);
    const st = s.program.status();
    expect(st).toMatchObject({ name: 'web', state: 'running', pid: 100, restarts: 0, uptime_s: 0 });
    await s.time.advance(2500);
    expect(s.program.status().uptime_s).toBe(2.5);
    expect(s.states()).toEqual(['starting', 'running']);
  });

  it('a program adopted from its cgroup is not started again', async () => {
    const s = setup();
    s.launcher.adoptable.set('web', { pids: [42, 43], mainPid: 42, startedAt: s.time.now() - 60_000 });
    await s.program.start();
    expect(s.launcher.count('launch')).toBe(0);
    expect(s.program.status()).toMatchObject({ state: 'running', pid: 42, uptime_s: 60 });
    expect(s.logger.lines.some((l) => l.includes('adopting 2 process(es)'))).toBe(true);
  });

  it('restarts with exponential backoff and records latency per restart', async () => {
    const s = setup({ start_limit: { burst: 0, interval_s: 0 } });
    await s.program.start();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      await crash(s, { code: 1, signal: null });
      expect(s.program.state).toBe('backoff');
      delays.push(s.time.pendingDelays()[0]);
      expect(s.program.status().next_retry).toBe((s.time.now() + delays[i]) / 1000);
      await s.time.advance(delays[i]);
      expect(s.program.state).toBe('running');
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 10_000]);
    expect(s.restarts().map((e) => [e.reason, e.latency_ms, e.delay_ms])).toEqual(delays.map((d) => ['policy', d, d]));
    expect(s.program.status()).toMatchObject({ restarts: 5, last_restart_latency_s: 10, next_retry: null });
    expect(s.program.status().last_exit).toMatchObject({ code: 1, signal: null, timed_out: false });
  });

  it('with no backoff, restarts without waiting for a timer (still passing through backoff)', async () => {
    const s = setup({ backoff: { initial_s: 0, factor: 2, max_s: 10, reset_after_s: 60 }, start_limit: { burst: 0, interval_s: 0 } });
    await s.program.start();
    await crash(s, { code: 1, signal: null });
    // No time advanced, no timer armed: the relaunch already happened.
    expect(s.time.pendingDelays()).toEqual([]);
    expect(s.launcher.count('launch')).toBe(2);
    expect(s.program.state).toBe('running');
    expect(s.states()).toEqual(['starting', 'running', 'backoff', 'starting', 'running']);
    expect(s.restarts().map((e) => [e.reason, e.latency_ms, e.delay_ms])).toEqual([['policy', 0, 0]]);
  });

  it('backoff starts over after a run of reset_after_s', async () => {
    const s = setup({ start_limit: { burst: 0, interval_s: 0 } });
    await s.program.start();
    for (const wait of [1000, 2000, 4000]) {
      await crash(s, { code: 1, signal: null });
      await s.time.advance(wait);
    }
    await crash(s, { code: 1, signal: null }, 60_000); // ran a full minute
    expect(s.time.pendingDelays()).toEqual([1000]);
  });

  it('a crash loop ends in failed after start_limit.burst starts within interval', async () => {
    const s = setup({
      backoff: { initial_s: 0.1, factor: 1, max_s: 1, reset_after_s: 60 },
      start_limit: { burst: 3, interval_s: 10 },
    });
    await s.program.start();
    for (let i = 0; i < 3; i++) {
      await crash(s, { code: 1, signal: null }, 50);
      await s.time.advance(100);
    }
    expect(s.launcher.count('launch')).toBe(3);
    expect(s.program.state).toBe('failed');
    expect(s.program.status().error).toBe('start limit hit: 3 starts within 10s (start_limit.burst 3)');
    expect(s.program.status().next_retry).toBeNull();
    expect(s.logger.lines).toContain('error program "web" failed: start limit hit: 3 starts within 10s (start_limit.burst 3)');
    await s.time.advance(3_600_000); // retry_failed_after_s null: stays failed
    expect(s.program.state).toBe('failed');
    expect(s.launcher.count('launch')).toBe(3);
  });

  it('retry_failed_after_s brings a failed program back with fresh counters', async () => {
    const s = setup({
      backoff: { initial_s: 0.1, factor: 1, max_s: 1, reset_after_s: 60 },
      start_limit: { burst: 2, interval_s: 10 },
      retry_failed_after_s: 30,
    });
    await s.program.start();
    for (let i = 0; i < 2; i++) {
      await crash(s, { code: 1, signal: null }, 50);
      await s.time.advance(100);
    }
    expect(s.program.state).toBe('failed');
    expect(s.program.status().next_retry).toBe((s.time.now() + 30_000) / 1000);
    await s.time.advance(29_999);
    expect(s.program.state).toBe('failed');
    await s.time.advance(1);
    expect(s.program.state).toBe('running');
    expect(s.restarts().at(-1)).toMatchObject({ reason: 'retry', delay_ms: 30_000 });
    // The start limit counts from zero again: one more crash is a plain backoff.
    await crash(s, { code: 1, signal: null }, 50);
    expect(s.program.state).toBe('backoff');
  });

  it('a manual start clears a failed program', async () => {
    const s = setup({ restart: 'never' });
    await s.program.start();
    await crash(s, { code: 9, signal: null });
    expect(s.program.state).toBe('failed');
    expect(s.program.status().error).toBe('went down (exit code 9; restart policy never)');
    await s.program.start();
    expect(s.program.status()).toMatchObject({ state: 'running', error: null, restarts: 0 });
  });

  it('a daemon is running while its group lives, whatever its first process did', async () => {
    const s = setup();
    await s.program.start();
    s.launcher.exitMain('web', { code: 0, signal: null }); // parent forked and exited
    await s.time.advance(10_000);
    expect(s.program.state).toBe('running');
    s.launcher.groups.set('web', []);
    s.program.onEmptied({ code: null, signal: 'SIGKILL' }); // grandchild killed
    await flush();
    expect(s.program.state).toBe('backoff');
    expect(s.program.status().last_exit).toMatchObject({ code: null, signal: 'SIGKILL' });
  });

  it("shows the daemon's pid, not its exited parent's, once the parent is gone", async () => {
    const s = setup();
    await s.program.start();
    const parent = s.program.status().pid;
    s.launcher.adoptable.set('web', { pids: [4242], mainPid: 4242, startedAt: null });
    s.launcher.exitMain('web', { code: 0, signal: null });
    await flush();
    expect(parent).not.toBe(4242);
    expect(s.program.status()).toMatchObject({ state: 'running', pid: 4242 });
  });

  it('without a reported exit the main process status decides', async () => {
    const s = setup();
    await s.program.start();
    s.launcher.exitMain('web', { code: 0, signal: null });
    s.launcher.groups.set('web', []);
    s.program.onEmptied();
    await flush();
    expect(s.program.state).toBe('stopped');
  });

  it('an emptying without a status waits for the main process to report its own', async () => {
    const s = setup({ restart: 'on-failure' });
    await s.program.start();
    s.launcher.groups.set('web', []);
    s.program.onEmptied({ code: null, signal: null, at: s.time.now() }); // its exit record was lost
    await s.time.advance(1500);
    expect(s.program.state).toBe('running'); // not "exit status unknown" yet
    // A late record of a child's exit, reported again meanwhile, does not decide it either.
    s.program.onEmptied({ code: 0, signal: null, at: s.time.now() });
    await flush();
    expect(s.program.state).toBe('running');
    s.launcher.exitMain('web', { code: 3, signal: null });
    await flush();
    expect(s.program.status().last_exit).toMatchObject({ code: 3, signal: null });
    expect(s.program.state).toBe('backoff');
    expect(s.events.filter((e) => e.type === 'exit')).toHaveLength(1);
    await s.time.advance(1000);
    expect(s.launcher.count('launch')).toBe(2);
  });

  it('a signal that killed the main process, reported after the emptying, decides', async () => {
    const s = setup({ restart: 'on-abnormal' });
    await s.program.start();
    s.launcher.groups.set('web', []);
    s.program.onEmptied({ code: null, signal: null });
    await flush();
    s.launcher.exitMain('web', { code: null, signal: 'SIGUSR1' });
    await flush();
    expect(s.program.status().last_exit).toMatchObject({ code: null, signal: 'SIGUSR1' });
    expect(s.program.state).toBe('backoff');
  });

  it('an emptying without a status goes on unknown when the main status does not come within 2 s', async () => {
    const s = setup({ restart: 'on-failure' });
    await s.program.start();
    s.launcher.groups.set('web', []);
    const at = s.time.now();
    s.program.onEmptied({ code: null, signal: null, at });
    await s.time.advance(1999);
    expect(s.program.state).toBe('running');
    await s.time.advance(1);
    expect(s.program.status().last_exit).toMatchObject({ code: null, signal: null, at: at / 1000 });
    expect(s.program.state).toBe('backoff'); // unknown is not a success: on-failure restarts
    expect(s.logger.lines).toContain(`debug program "web": its main process's status did not come after the emptying`);
    // The status that comes after all belongs to a run that is over.
    s.launcher.exitMain('web', { code: 0, signal: null });
    await flush();
    expect(s.program.status().last_exit).toMatchObject({ code: null, signal: null });
  });

  it("a surviving child's exit 0, reported before the main process's 3, does not decide the run: the failed main wins", async () => {
    const s = setup({ restart: 'on-failure' });
    await s.program.start();
    s.launcher.groups.set('web', []);
    s.program.onEmptied({ code: 0, signal: null, at: s.time.now() }); // the last process: a child that outlived main
    await flush();
    expect(s.program.state).toBe('running'); // the main status is still coming (its pidfd trails under load)
    s.launcher.exitMain('web', { code: 3, signal: null });
    await flush();
    expect(s.program.status().last_exit).toMatchObject({ code: 3, signal: null });
    expect(s.program.state).toBe('backoff'); // on-failure restarts: a success would have stopped it
  });

  it('a main status that came before the emptying decides at once', async () => {
    const s = setup({ restart: 'on-failure' });
    await s.program.start();
    s.launcher.exitMain('web', { code: 3, signal: null });
    s.launcher.groups.set('web', []);
    s.program.onEmptied({ code: null, signal: null });
    await flush();
    expect(s.program.state).toBe('backoff');
    expect(s.program.status().last_exit).toMatchObject({ code: 3 });
  });

  it('an adopted program, whose main status never comes, does not wait', async () => {
    const s = setup({ restart: 'on-failure' });
    s.launcher.adoptable.set('web', { pids: [42], mainPid: 42, startedAt: s.time.now() });
    await s.program.start();
    s.launcher.groups.set('web', []);
    s.program.onEmptied({ code: null, signal: null });
    await flush();
    expect(s.program.state).toBe('backoff');
    expect(s.program.status().last_exit).toMatchObject({ code: null, signal: null });
  });

  it('a stop during the wait is not held up by it', async () => {
    const s = setup({ restart: 'on-failure' });
    await s.program.start();
    s.launcher.groups.set('web', []);
    s.program.onEmptied({ code: null, signal: null });
    await flush();
    await s.program.stop();
    expect(s.program.state).toBe('stopped');
    expect(s.time.pendingDelays()).toEqual([]); // the wait's timer went with it
    s.launcher.exitMain('web', { code: 3, signal: null });
    await s.time.advance(3000);
    expect(s.program.state).toBe('stopped');
    expect(s.launcher.count('launch')).toBe(1);
  });

  it('repeated or late emptying reports are ignored', async () => {
    const s = setup({ restart: 'always' });
    await s.program.start();
    await crash(s, { code: 1, signal: null });
    s.program.onEmptied({ code: 1, signal: null });
    s.program.onEmptied({ code: 1, signal: null });
    await s.time.advance(1000);
    expect(s.launcher.count('launch')).toBe(2);
    expect(s.program.state).toBe('running');
  });

  it('a report while the group still holds processes is dropped', async () => {
    const s = setup();
    await s.program.start();
    s.program.onEmptied({ code: 1, signal: null });
    await flush();
    expect(s.program.state).toBe('running');
    expect(s.logger.lines.some((l) => l.includes('holds 1 process(es); ignored'))).toBe(true);
  });

  it('an emptying that arrives before the launch came back is handled after it', async () => {
    const s = setup();
    s.launcher.hold = true;
    s.launcher.populate = false;
    const started = s.program.start();
    await flush();
    expect(s.program.state).toBe('starting');
    s.program.onEmptied({ code: 127, signal: null });
    s.launcher.release();
    await started;
    await flush();
    expect(s.program.state).toBe('running'); // its main process's own status is coming
    s.launcher.exitMain('web', { code: 127, signal: null });
    await flush();
    expect(s.program.state).toBe('backoff');
    expect(s.program.status().last_exit?.code).toBe(127);
  });
});

describe('Program: stopping', () => {
  it('stop sends stop_signal and completes when the group empties', async () => {
    const s = setup({ stop_signal: 'SIGINT' });
    await s.program.start();
    const stopped = s.program.stop();
    await flush();
    expect(s.program.state).toBe('stopping');
    expect(s.launcher.calls).toContain('signal web SIGINT');
    s.program.onEmptied({ code: null, signal: 'SIGINT' });
    await stopped;
    expect(s.program.state).toBe('stopped');
    expect(s.launcher.count('kill')).toBe(0);
    await s.time.advance(60_000);
    expect(s.launcher.count('launch')).toBe(1); // a stop is not a crash
  });

  it('kills the cgroup after stop_timeout_s when stop_signal is ignored', async () => {
    const s = setup({ stop_timeout_s: 5 });
    await s.program.start();
    s.launcher.signalEmpties = false;
    const stopped = s.program.stop();
    await s.time.advance(4999);
    expect(s.launcher.count('kill')).toBe(0);
    await s.time.advance(1);
    expect(s.launcher.count('kill')).toBe(1);
    s.program.onEmptied({ code: null, signal: 'SIGKILL' });
    await stopped;
    expect(s.program.status().last_exit).toMatchObject({ signal: 'SIGKILL', timed_out: true });
  });

  it('after the kill, looks once if the emptying report never comes', async () => {
    const s = setup({ stop_timeout_s: 1 });
    await s.program.start();
    s.launcher.signalEmpties = false;
    const stopped = s.program.stop();
    await s.time.advance(1000 + 1000);
    await stopped;
    expect(s.program.state).toBe('stopped');
  });

  it('gives up as failed when SIGKILL does not empty the group', async () => {
    const s = setup({ stop_timeout_s: 1 });
    await s.program.start();
    s.launcher.signalEmpties = false;
    s.launcher.killEmpties = false;
    const stopped = s.program.stop();
    await s.time.advance(10_000);
    await stopped;
    expect(s.launcher.count('kill')).toBe(3);
    expect(s.program.state).toBe('failed');
    expect(s.program.status().error).toMatch(/could not stop: 1 process\(es\) \(100\) still in \/forkwatch.programs\/web/);
  });

  it('stop when the group already emptied unseen does not wait for the timeout', async () => {
    const s = setup();
    await s.program.start();
    s.launcher.groups.set('web', []);
    await s.program.stop();
    expect(s.program.state).toBe('stopped');
    expect(s.launcher.count('kill')).toBe(0);
  });

  it('stop during a launch signals once the launch lands', async () => {
    const s = setup();
    s.launcher.hold = true;
    void s.program.start();
    await flush();
    const stopped = s.program.stop();
    expect(s.program.state).toBe('stopping');
    expect(s.launcher.count('signal')).toBe(0);
    s.launcher.release();
    await flush();
    expect(s.launcher.count('signal')).toBe(1);
    s.program.onEmptied({ code: null, signal: 'SIGTERM' });
    await stopped;
    expect(s.program.state).toBe('stopped');
  });

  it('stop cancels a pending backoff and a failed retry', async () => {
    const s = setup({ retry_failed_after_s: 5, start_limit: { burst: 1, interval_s: 60 } });
    await s.program.start();
    await crash(s, { code: 1, signal: null });
    expect(s.program.state).toBe('backoff');
    await s.program.stop();
    expect(s.program.state).toBe('stopped');
    expect(s.time.pendingDelays()).toEqual([]);
  });

  it('restart stops then starts and measures latency from the exit', async () => {
    const s = setup();
    await s.program.start();
    const done = s.program.restart();
    await s.time.advance(300);
    s.program.onEmptied({ code: null, signal: 'SIGTERM' });
    await done;
    expect(s.program.state).toBe('running');
    expect(s.launcher.count('launch')).toBe(2);
    expect(s.restarts()).toEqual([expect.objectContaining({ reason: 'manual', latency_ms: 0, restarts: 1 })]);
    expect(s.states()).toEqual(['starting', 'running', 'stopping', 'stopped', 'starting', 'running']);
  });
});

describe('Program: start failures', () => {
  it('a permanent launch error fails at once with the message, no exception', async () => {
    const s = setup({ restart: 'always' });
    s.launcher.launchError = (spec) => new LaunchError(spec.name, 'user "nosuch" does not exist (not in /etc/passwd)', { permanent: true });
    await expect(s.program.start()).resolves.toBeUndefined();
    expect(s.program.state).toBe('failed');
    expect(s.program.status().error).toBe('user "nosuch" does not exist (not in /etc/passwd)');
    expect(s.logger.lines).toContain('error program "web" failed: user "nosuch" does not exist (not in /etc/passwd)');
    expect(s.events.some((e) => e.type === 'error')).toBe(true);
  });

  it('a permanent error still honours retry_failed_after_s', async () => {
    const s = setup({ retry_failed_after_s: 60 });
    let fail = true;
    s.launcher.launchError = (spec) => (fail ? new LaunchError(spec.name, 'command "x" not found', { permanent: true }) : null);
    await s.program.start();
    expect(s.program.state).toBe('failed');
    fail = false;
    await s.time.advance(60_000);
    expect(s.program.state).toBe('running');
  });

  it('a transient launch error backs off like a crash', async () => {
    const s = setup();
    let fail = true;
    s.launcher.launchError = (spec) => (fail ? new LaunchError(spec.name, 'spawn /bin/sh: EAGAIN', { permanent: false }) : null);
    await s.program.start();
    expect(s.program.state).toBe('backoff');
    fail = false;
    await s.time.advance(1000);
    expect(s.program.state).toBe('running');
  });

  it('a bug in the launcher is logged with its stack and does not escape', async () => {
    const s = setup({ restart: 'never' });
    s.launcher.launchError = () => new TypeError('boom');
    await s.program.start();
    expect(s.program.state).toBe('failed');
    expect(s.logger.lines.some((l) => l.startsWith('error program "web": start failed: TypeError: boom\n'))).toBe(true);
  });

  it('a throwing listener does not break the state machine', async () => {
    const time = new FakeTime();
    const logger = captureLogger();
    const program = new Program(makeSpec(), {
      launcher: new FakeLauncher(),
      clock: time,
      timers: time,
      logger,
      listener: () => {
        throw new Error('listener bug');
      },
    });
    await program.start();
    expect(program.state).toBe('running');
    expect(logger.lines.some((l) => l.includes('event listener threw'))).toBe(true);
  });
});

describe('Program: watching a group', () => {
  const watched = { command: undefined, watch: '/system.slice/db.service', restart_command: ['systemctl', 'restart', 'db'] };

  it('runs restart_command exactly once per emptying', async () => {
    const s = setup({ ...watched, restart: 'always' }, { watchPath: '/system.slice/db.service' });
    s.launcher.groups.set('/system.slice/db.service', [7]);
    await s.program.start();
    expect(s.program.status()).toMatchObject({ state: 'running', pid: 7, cgroup: '/system.slice/db.service' });
    expect(s.launcher.count('runOnce')).toBe(0);

    s.launcher.groups.set('/system.slice/db.service', []);
    s.launcher.runOnceBehaviour = () => {
      s.launcher.groups.set('/system.slice/db.service', [8]);
      return { code: 0, signal: null };
    };
    s.program.onEmptied({ code: null, signal: 'SIGKILL' });
    s.program.onEmptied({ code: null, signal: 'SIGKILL' }); // the same emptying, reported twice
    await s.time.advance(1000);
    s.program.onEmptied({ code: null, signal: 'SIGKILL' }); // late duplicate after the restart is in flight
    await s.time.advance(5000);
    expect(s.launcher.count('runOnce')).toBe(1);
    expect(s.program.status()).toMatchObject({ state: 'running', pid: 8, restarts: 1 });

    s.launcher.groups.set('/system.slice/db.service', []);
    s.program.onEmptied({ code: 1, signal: null }); // a second, real emptying
    await s.time.advance(60_000);
    expect(s.launcher.count('runOnce')).toBe(2);
  });

  it('a restart_command that fails or leaves the group empty is retried with backoff', async () => {
    const s = setup({ ...watched, restart: 'always', start_limit: { burst: 3, interval_s: 60 } }, { watchPath: '/system.slice/db.service' });
    s.launcher.runOnceBehaviour = () => ({ code: 1, signal: null });
    await s.program.start(); // group empty at start: start it
    expect(s.launcher.count('runOnce')).toBe(1);
    expect(s.program.state).toBe('backoff');
    expect(s.program.status().error).toContain('restart_command ["systemctl","restart","db"] failed: exit code 1');
    s.launcher.runOnceBehaviour = () => ({ code: 0, signal: null }); // succeeds but the group stays empty
    await s.time.advance(1000);
    expect(s.program.status().error).toContain('still empty');
    await s.time.advance(2000);
    expect(s.launcher.count('runOnce')).toBe(3);
    await s.time.advance(4000); // a fourth start within 60s would exceed the burst of 3
    expect(s.program.state).toBe('failed');
    expect(s.program.status().error).toBe('start limit hit: 3 starts within 60s (start_limit.burst 3)');
    expect(s.launcher.count('runOnce')).toBe(3);
  });

  it('stop only stops watching', async () => {
    const s = setup(watched, { watchPath: '/system.slice/db.service' });
    s.launcher.groups.set('/system.slice/db.service', [7]);
    await s.program.start();
    await s.program.stop();
    expect(s.program.state).toBe('stopped');
    expect(s.launcher.count('signal')).toBe(0);
  });
});

describe('Program: detach', () => {
  it('leaves the process alone and ignores later reports', async () => {
    const s = setup();
    await s.program.start();
    s.program.detach();
    expect(s.launcher.calls).toContain('detach web');
    s.program.onEmptied({ code: 1, signal: null });
    await s.time.advance(60_000);
    expect(s.launcher.count('launch')).toBe(1);
    expect(s.launcher.count('signal')).toBe(0);
  });
});
