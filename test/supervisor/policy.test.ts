import { describe, expect, it } from 'vitest';
import {
  MAX_TIMER_MS,
  backoffDelayMs,
  checkStartLimit,
  decideAfterExit,
  describeExit,
  isSuccess,
  nextConsecutive,
  programExit,
  retryFailedAfterMs,
  shouldRestart,
} from '../../src/supervisor/policy.js';
import type { RestartPolicy } from '../../src/config/types.js';
import type { ExitStatus } from '../../src/supervisor/types.js';
import { makeSpec } from './fakes.js';

const ok: ExitStatus = { code: 0, signal: null };
const code1: ExitStatus = { code: 1, signal: null };
const code3: ExitStatus = { code: 3, signal: null };
const term: ExitStatus = { code: null, signal: 'SIGTERM' };
const kill: ExitStatus = { code: null, signal: 'SIGKILL' };
const timeout: ExitStatus = { code: 0, signal: null, timedOut: true };
const unknown: ExitStatus = { code: null, signal: null };

describe('shouldRestart', () => {
  // policy, exit, restart?  (success_exit_codes [0, 3])
  const table: Array<[RestartPolicy, string, ExitStatus, boolean]> = [
    ['always', 'exit 0', ok, true],
    ['always', 'exit 1', code1, true],
    ['always', 'SIGKILL', kill, true],
    ['never', 'exit 1', code1, false],
    ['never', 'SIGKILL', kill, false],
    ['never', 'timeout', timeout, false],
    ['on-failure', 'exit 0', ok, false],
    ['on-failure', 'exit 3 (listed as success)', code3, false],
    ['on-failure', 'exit 1', code1, true],
    ['on-failure', 'SIGTERM', term, true],
    ['on-failure', 'SIGKILL', kill, true],
    ['on-failure', 'timeout with code 0', timeout, true],
    ['on-failure', 'unknown status', unknown, true],
    ['on-abnormal', 'exit 0', ok, false],
    ['on-abnormal', 'exit 1', code1, false],
    ['on-abnormal', 'SIGKILL', kill, true],
    ['on-abnormal', 'SIGTERM', term, true],
    ['on-abnormal', 'timeout', timeout, true],
    ['on-abnormal', 'unknown status', unknown, false],
  ];
  it.each(table)('%s after %s -> %s', (restart, _label, exit, expected) => {
    expect(shouldRestart(makeSpec({ restart, success_exit_codes: [0, 3] }), exit)).toBe(expected);
  });

  it('success_signals make a signal clean for on-failure and on-abnormal', () => {
    const spec = makeSpec({ success_signals: ['SIGTERM'] });
    expect(isSuccess(spec, term)).toBe(true);
    expect(shouldRestart({ ...spec, restart: 'on-failure' }, term)).toBe(false);
    expect(shouldRestart({ ...spec, restart: 'on-abnormal' }, term)).toBe(false);
    expect(shouldRestart({ ...spec, restart: 'on-abnormal' }, kill)).toBe(true);
  });
});

describe('backoffDelayMs', () => {
  const backoff = { initial_s: 1, factor: 2, max_s: 10, reset_after_s: 60 };
  const table: Array<[string, typeof backoff, number, number]> = [
    ['first failure waits initial', backoff, 1, 1000],
    ['second doubles', backoff, 2, 2000],
    ['third', backoff, 3, 4000],
    ['fourth', backoff, 4, 8000],
    ['fifth is capped', backoff, 5, 10_000],
    ['far later still capped', backoff, 500, 10_000],
    ['n = 0 means no failure yet', backoff, 0, 0],
    ['factor 1 is constant', { ...backoff, factor: 1 }, 7, 1000],
    ['factor below 1 does not shrink', { ...backoff, factor: 0.5 }, 3, 1000],
    ['fractional seconds', { ...backoff, initial_s: 0.25, factor: 3 }, 2, 750],
    ['initial 0 restarts at once', { ...backoff, initial_s: 0 }, 9, 0],
    ['max 0 means uncapped', { ...backoff, max_s: 0 }, 6, 32_000],
    ['uncapped growth stays a valid timer', { ...backoff, max_s: 0 }, 5000, MAX_TIMER_MS],
  ];
  it.each(table)('%s', (_label, b, n, expected) => {
    expect(backoffDelayMs(b, n)).toBe(expected);
  });
});

describe('nextConsecutive', () => {
  const table: Array<[string, number, number | null, number, number]> = [
    ['short run adds one', 3, 5_000, 60, 4],
    ['run of exactly reset_after resets', 3, 60_000, 60, 1],
    ['long run resets', 7, 3_600_000, 60, 1],
    ['unknown run length adds one', 2, null, 60, 3],
    ['first failure', 0, 10, 60, 1],
  ];
  it.each(table)('%s', (_label, prev, runMs, resetAfter, expected) => {
    expect(nextConsecutive(prev, runMs, resetAfter)).toBe(expected);
  });
});

describe('decideAfterExit', () => {
  const table: Array<[string, Parameters<typeof makeSpec>[0], ExitStatus, number, number | null, unknown]> = [
    ['crash under on-failure backs off', {}, code1, 0, 1000, { action: 'restart', consecutive: 1, delayMs: 1000 }],
    ['third quick crash waits 4s', {}, code1, 2, 500, { action: 'restart', consecutive: 3, delayMs: 4000 }],
    ['crash after a long run starts over', {}, code1, 4, 120_000, { action: 'restart', consecutive: 1, delayMs: 1000 }],
    ['clean exit under on-failure stops', {}, ok, 2, 100, { action: 'stopped', consecutive: 0 }],
    ['crash under never fails', { restart: 'never' }, code1, 0, 100, { action: 'failed', consecutive: 1, reason: 'exit code 1; restart policy never' }],
    [
      'exit 1 under on-abnormal fails',
      { restart: 'on-abnormal' },
      code1,
      0,
      100,
      { action: 'failed', consecutive: 1, reason: 'exit code 1; restart policy on-abnormal' },
    ],
    ['clean exit under always restarts', { restart: 'always' }, ok, 0, 100, { action: 'restart', consecutive: 1, delayMs: 1000 }],
  ];
  it.each(table)('%s', (_label, overrides, exit, consecutive, runMs, expected) => {
    expect(decideAfterExit(makeSpec(overrides), exit, { consecutive, runMs })).toEqual(expected);
  });
});

describe('checkStartLimit', () => {
  const limit = { burst: 3, interval_s: 10 };
  const now = 100_000;
  const table: Array<[string, typeof limit, number[], boolean, number[]]> = [
    ['no history', limit, [], true, []],
    ['two recent starts allow a third', limit, [95_000, 99_000], true, [95_000, 99_000]],
    ['three within the interval refuse', limit, [91_000, 95_000, 99_000], false, [91_000, 95_000, 99_000]],
    ['old starts fall out of the window', limit, [80_000, 90_000, 95_000, 99_000], true, [95_000, 99_000]],
    ['a start exactly interval ago is out', limit, [90_000, 95_000, 99_000], true, [95_000, 99_000]],
    ['burst 0 disables', { burst: 0, interval_s: 10 }, [99_000, 99_500, 99_900], true, []],
    ['interval 0 disables', { burst: 1, interval_s: 0 }, [99_000], true, []],
  ];
  it.each(table)('%s', (_label, l, starts, allowed, kept) => {
    const d = checkStartLimit(l, starts, now);
    expect(d.allowed).toBe(allowed);
    expect(d.starts).toEqual(kept);
    if (!d.allowed) expect(d.reason).toBe('start limit hit: 3 starts within 10s (start_limit.burst 3)');
  });
});

describe('retryFailedAfterMs', () => {
  it.each([
    [null, null],
    [30, 30_000],
    [0, 0],
    [-1, null],
    [1e12, MAX_TIMER_MS],
  ] as Array<[number | null, number | null]>)('%s s -> %s ms', (s, ms) => {
    expect(retryFailedAfterMs({ retry_failed_after_s: s })).toBe(ms);
  });
});

describe('programExit', () => {
  const spec = makeSpec();
  const table: Array<[string, ExitStatus | null, ExitStatus | null, ExitStatus]> = [
    ['only the main exit known', code1, null, code1],
    ['only the last exit known (adopted)', null, kill, kill],
    ['daemon: parent exited 0, grandchild killed', ok, kill, kill],
    ['failed main wins over a clean last exit', code3, ok, code3],
    ['both clean', ok, ok, ok],
    ['nothing known', null, null, unknown],
    ['unknown last falls back to main', ok, unknown, ok],
    ['a timeout on either side sticks', ok, { code: null, signal: 'SIGKILL', timedOut: true }, { code: null, signal: 'SIGKILL', timedOut: true }],
  ];
  it.each(table)('%s', (_label, main, last, expected) => {
    expect(programExit(spec, main, last)).toEqual(expected);
  });
});

describe('describeExit', () => {
  it.each([
    [code3, 'exit code 3'],
    [kill, 'killed by SIGKILL'],
    [{ code: null, signal: 'SIGKILL', timedOut: true }, 'timed out (killed by SIGKILL)'],
    [unknown, 'exit status unknown'],
  ] as Array<[ExitStatus, string]>)('%j -> %s', (exit, text) => {
    expect(describeExit(exit)).toBe(text);
  });
});
