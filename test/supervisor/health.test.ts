/** The health check state machine on a fake clock, alone and driving a Program. */
import { describe, expect, it } from 'vitest';
import type { HealthCheckSpec, HealthProbe } from '../../src/config/types.js';
import { HealthMonitor } from '../../src/supervisor/health.js';
import type { SupervisedSpec } from '../../src/supervisor/policy.js';
import { Program } from '../../src/supervisor/program.js';
import type { HealthProber, HealthState, LaunchSpec, ProgramEvent } from '../../src/supervisor/types.js';
import { FakeLauncher, FakeTime, captureEvents, captureLogger, makeSpec } from './fakes.js';

/** What each check does, in order: pass, fail, or hang (never answers); the last repeats. */
type Answer = 'pass' | 'fail' | 'hang';

const CHECK: HealthCheckSpec = { probe: { tcp: { host: '127.0.0.1', port: 1 } }, interval_s: 1, timeout_s: 0.5, start_period_s: 0, failure_threshold: 3 };

function scripted(time: FakeTime, answers: Answer[]) {
  const calls: number[] = [];
  const probe = (): Promise<string | null> => {
    const answer = answers[Math.min(calls.length, answers.length - 1)];
    calls.push(time.now());
    if (answer === 'hang') return new Promise(() => undefined);
    return Promise.resolve(answer === 'pass' ? null : `check ${calls.length} failed`);
  };
  return { calls, probe };
}

function monitor(answers: Answer[], check: Partial<HealthCheckSpec> = {}) {
  const time = new FakeTime();
  const t0 = time.now();
  const { calls, probe } = scripted(time, answers);
  const reports: Array<[number, HealthState, number]> = [];
  let unhealthyAt: number | null = null;
  const m = new HealthMonitor(
    { ...CHECK, ...check },
    {
      probe,
      clock: time,
      timers: time,
      report: (health, failures) => reports.push([time.now() - t0, health, failures]),
      unhealthy: () => (unhealthyAt = time.now() - t0),
    },
  );
  return { time, m, reports, calls: () => calls.map((c) => c - t0), unhealthyAt: () => unhealthyAt };
}

describe('HealthMonitor', () => {
  // [label, answers, check, run for ms, reports [ms, verdict, failures], unhealthy at ms]
  const table: Array<[string, Answer[], Partial<HealthCheckSpec>, number, Array<[number, HealthState, number]>, number | null]> = [
    ['passing: healthy at the first check, said once', ['pass'], {}, 5000, [[0, 'healthy', 0]], null],
    [
      'failing from the start: unhealthy at the threshold',
      ['fail'],
      {},
      5000,
      [
        [0, 'starting', 1],
        [1000, 'starting', 2],
        [2000, 'unhealthy', 3],
      ],
      2000,
    ],
    [
      'stops answering: failures counted at each interval',
      ['pass', 'pass', 'fail'],
      {},
      10_000,
      [
        [0, 'healthy', 0],
        [2000, 'healthy', 1],
        [3000, 'healthy', 2],
        [4000, 'unhealthy', 3],
      ],
      4000,
    ],
    [
      'a pass between failures starts the count over',
      ['fail', 'fail', 'pass', 'fail', 'fail', 'pass'],
      {},
      10_000,
      [
        [0, 'starting', 1],
        [1000, 'starting', 2],
        [2000, 'healthy', 0],
        [3000, 'healthy', 1],
        [4000, 'healthy', 2],
        [5000, 'healthy', 0],
      ],
      null,
    ],
    [
      'a hung check fails at its timeout; the next begins one interval after it began',
      ['pass', 'hang'],
      {},
      10_000,
      [
        [0, 'healthy', 0],
        [1500, 'healthy', 1],
        [2500, 'healthy', 2],
        [3500, 'unhealthy', 3],
      ],
      3500,
    ],
    [
      'a timeout longer than the interval: the next check right after',
      ['hang'],
      { timeout_s: 3 },
      20_000,
      [
        [3000, 'starting', 1],
        [6000, 'starting', 2],
        [9000, 'unhealthy', 3],
      ],
      9000,
    ],
    [
      'start_period: failures do not count while warming up',
      ['fail', 'fail', 'fail', 'fail', 'pass'],
      { start_period_s: 2.5 },
      10_000,
      [
        [3000, 'starting', 1],
        [4000, 'healthy', 0],
      ],
      null,
    ],
    [
      'start_period ends at the first pass',
      ['pass', 'fail'],
      { start_period_s: 60 },
      10_000,
      [
        [0, 'healthy', 0],
        [1000, 'healthy', 1],
        [2000, 'healthy', 2],
        [3000, 'unhealthy', 3],
      ],
      3000,
    ],
    [
      'failure_threshold 1',
      ['pass', 'fail'],
      { failure_threshold: 1 },
      10_000,
      [
        [0, 'healthy', 0],
        [1000, 'unhealthy', 1],
      ],
      1000,
    ],
  ];
  it.each(table)('%s', async (_label, answers, check, runMs, reports, unhealthyAt) => {
    const s = monitor(answers, check);
    s.m.start();
    await s.time.advance(runMs);
    expect(s.reports).toEqual(reports);
    expect(s.unhealthyAt()).toBe(unhealthyAt);
    if (unhealthyAt !== null) {
      // Unhealthy ends the checks: none after, no timer left.
      expect(Math.max(...s.calls())).toBeLessThanOrEqual(unhealthyAt);
      expect(s.time.pendingDelays()).toEqual([]);
    }
  });

  it('stop() ends the checks and drops an answer still in flight', async () => {
    const time = new FakeTime();
    let answer: (v: string | null) => void = () => undefined;
    const reports: HealthState[] = [];
    const m = new HealthMonitor(CHECK, {
      probe: () => new Promise((resolve) => (answer = resolve)),
      clock: time,
      timers: time,
      report: (h) => reports.push(h),
      unhealthy: () => reports.push('unhealthy'),
    });
    m.start();
    m.stop();
    answer(null);
    await time.advance(10_000);
    expect(reports).toEqual([]);
    expect(time.pendingDelays()).toEqual([]);
  });

  it('a probe that throws or rejects counts as a failure with its message', async () => {
    const time = new FakeTime();
    const details: Array<string | null> = [];
    let n = 0;
    const m = new HealthMonitor(
      { ...CHECK, failure_threshold: 2 },
      {
        probe: () => {
          if (n++ === 0) throw new Error('thrown');
          return Promise.reject(new Error('rejected'));
        },
        clock: time,
        timers: time,
        report: (_h, _f, detail) => details.push(detail),
        unhealthy: () => undefined,
      },
    );
    m.start();
    await time.advance(5000);
    expect(details).toEqual(['thrown', 'rejected']);
    expect(m.health).toBe('unhealthy');
  });
});

/** A prober whose verdict the test sets; counts the checks it ran. */
class FakeProber implements HealthProber {
  answer: string | null = null;
  checks = 0;
  async check(_spec: LaunchSpec, _probe: HealthProbe, _timeoutMs: number): Promise<string | null> {
    this.checks++;
    return this.answer;
  }
}

function program(overrides: Partial<SupervisedSpec> = {}) {
  const time = new FakeTime();
  const launcher = new FakeLauncher();
  const prober = new FakeProber();
  const { events, listener } = captureEvents();
  const p = new Program(makeSpec({ health: CHECK, ...overrides }), {
    launcher,
    clock: time,
    timers: time,
    logger: captureLogger(),
    listener,
    prober,
    killGraceMs: 1000,
  });
  // The kernel side: a signal that empties the group is reported.
  launcher.reportEmpty = () => p.onEmptied({ code: 0, signal: null });
  const states = () => events.filter((e) => e.type === 'state').map((e) => (e as { to: string }).to);
  const health = () => events.filter((e): e is Extract<ProgramEvent, { type: 'health' }> => e.type === 'health').map((e) => [e.health, e.failures]);
  return { time, launcher, prober, events, p, states, health };
}

describe('Program with a health check', () => {
  it('is starting, then healthy; failing the check stops it, and the exit (even code 0) counts as abnormal', async () => {
    const s = program({ restart: 'on-failure' });
    await s.p.start();
    expect(s.p.status().health).toBe('healthy');
    s.prober.answer = 'connect: ECONNREFUSED';
    await s.time.advance(2500);
    expect(s.p.status()).toMatchObject({ state: 'running', health: 'healthy' });
    await s.time.advance(500);
    // The third failure: stopped with stop_signal, then restarted after the backoff.
    expect(s.launcher.calls).toContain('signal web SIGTERM');
    expect(s.p.state).toBe('backoff');
    expect(s.p.status().last_exit).toMatchObject({ code: 0, unhealthy: true });
    expect(s.states()).toEqual(['starting', 'running', 'unhealthy', 'backoff']);
    expect(s.health()).toEqual([
      ['healthy', 0],
      ['healthy', 1],
      ['healthy', 2],
      ['unhealthy', 3],
    ]);
    const exit = s.events.find((e) => e.type === 'exit');
    expect(exit).toMatchObject({ outcome: 'restart', exit: { unhealthy: true } });
    s.prober.answer = null;
    await s.time.advance(1000);
    expect(s.p.status()).toMatchObject({ state: 'running', health: 'healthy', restarts: 1 });
  });

  it('while being stopped for its check, the state and verdict say unhealthy', async () => {
    const s = program();
    s.launcher.signalEmpties = false;
    await s.p.start();
    s.prober.answer = 'GET answered 500';
    await s.time.advance(3000);
    expect(s.p.status()).toMatchObject({ state: 'unhealthy', health: 'unhealthy' });
    expect(s.p.status().error).toContain('GET answered 500');
    // It ignores SIGTERM: killed after stop_timeout, and the exit says both.
    await s.time.advance(5000);
    expect(s.launcher.calls).toContain('kill web');
    await s.time.advance(1000);
    expect(s.p.status().last_exit).toMatchObject({ timed_out: true, unhealthy: true });
    // ...and the 1 s backoff has passed: running again.
    expect(s.p.status()).toMatchObject({ state: 'running', restarts: 1 });
  });

  it('restart policy never: failed, not restarted', async () => {
    const s = program({ restart: 'never' });
    await s.p.start();
    s.prober.answer = 'down';
    await s.time.advance(10_000);
    expect(s.p.state).toBe('failed');
    expect(s.launcher.count('launch')).toBe(1);
  });

  it('a stop while unhealthy is a stop: no restart', async () => {
    const s = program();
    s.launcher.signalEmpties = false;
    await s.p.start();
    s.prober.answer = 'down';
    await s.time.advance(3000);
    expect(s.p.state).toBe('unhealthy');
    s.launcher.signalEmpties = true;
    await s.p.stop();
    expect(s.p.state).toBe('stopped');
    await s.time.advance(10_000);
    expect(s.launcher.count('launch')).toBe(1);
    expect(s.p.status().health).toBeNull();
  });

  it('no checks while not running', async () => {
    const s = program();
    await s.p.start();
    await s.p.stop();
    const checks = s.prober.checks;
    await s.time.advance(10_000);
    expect(s.prober.checks).toBe(checks);
    expect(s.time.pendingDelays()).toEqual([]);
  });
});
