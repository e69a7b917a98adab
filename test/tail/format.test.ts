import { describe, expect, it } from 'vitest';
import { formatEvent, humanDuration, outcome } from '../../src/tail/format.js';
import type { ProcessEvent } from '../../src/events/model.js';

const base: ProcessEvent = {
  type: 'exit',
  time: '2026-11-23T15:04:05.123456Z',
  pid: 42,
  tid: 42,
  ppid: 1,
  comm: 'sh',
  uid: 0,
  cgroup: '/x',
  cgroup_id: 3,
  ns_pid: 42,
};

describe('format', () => {
  it.each([
    [0.0000004, '0µs'],
    [0.0012, '1.2ms'],
    [3.4, '3.40s'],
    [123, '2m03s'],
    [3720, '1h02m'],
    [97200, '1d03h'],
  ])('humanDuration(%s) = %s', (s, want) => expect(humanDuration(s)).toBe(want));

  it.each<[Partial<ProcessEvent>, string]>([
    [{ exit_code: 3, signal: null }, 'code 3'],
    [{ exit_code: null, signal: 'SIGSEGV', core_dumped: true }, 'signal SIGSEGV (core dumped)'],
    [{ exit_code: null, signal: 'SIGKILL', core_dumped: false }, 'signal SIGKILL'],
    [{ exit_code: null, signal: 'SIGSEGV', core_dumped: false, signal_sender: 'kernel' as const }, 'signal SIGSEGV from kernel'],
    [{ exit_code: null, signal: 'SIGTERM', signal_sender: { pid: 812, comm: 'bash', cgroup: '/user.slice' } }, 'signal SIGTERM from 812 bash /user.slice'],
    [{ exit_code: null, signal: 'SIGTERM', signal_sender: { pid: 9, comm: '\x1b[2Jevil', cgroup: '/x' } }, 'signal SIGTERM from 9 \\x1b[2Jevil /x'],
    [
      { exit_code: null, signal: 'SIGKILL', signal_sender: 'kernel' as const, oom_killed: true, oom_scope: 'cgroup' as const },
      'OOM-killed (memory cgroup at its limit)',
    ],
    [
      { exit_code: null, signal: 'SIGKILL', signal_sender: 'kernel' as const, oom_killed: true, oom_scope: 'system' as const },
      'OOM-killed (system out of memory)',
    ],
  ])('outcome %j', (e, want) => expect(outcome({ ...base, ...e })).toBe(want));

  it('prints exec command lines shell-quoted and marks truncation', () => {
    const line = formatEvent({ ...base, type: 'exec', filename: '/bin/echo', argv: ['/bin/echo', 'two words', "it's"], argv_truncated: true });
    expect(line).toMatch(/exec\s+42\s+1 sh\s+\/x\s+\/bin\/echo 'two words' 'it'\\''s' …$/);
  });

  it('prints exits with outcome and lifetime, migrates with their origin', () => {
    expect(formatEvent({ ...base, exit_code: null, signal: 'SIGKILL', lifetime_s: 2.5 })).toMatch(/signal SIGKILL after 2.50s$/);
    expect(formatEvent({ ...base, type: 'migrate', from_cgroup: '/old' })).toMatch(/from \/old$/);
  });

  it('prints the local time of day of every event, the same whether its second was seen before or not', () => {
    const hms = (iso: string) => {
      const d = new Date(iso);
      const p = (n: number) => String(n).padStart(2, '0');
      return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    };
    const times = [
      '2026-11-23T15:04:05.123456Z',
      '2026-11-23T15:04:05.999999Z', // the same second
      '2026-11-23T15:04:06.000001Z', // the next
      '2026-11-23T15:04:05.500000Z', // back
      '2026-11-23T23:59:59.000000Z',
      '2026-11-24T00:00:00.000000Z', // a new day
      '2026-11-24T00:00:00.25+02:00', // not isoMicros's shape (a remote agent's): parsed as it is
      '2026-11-24T00:00:00.000000Z',
      '2026-11-24T00:00:00.00x000Z', // its shape but not a time: parsed, not taken from the second before
      'not a time',
    ];
    for (const time of times) {
      const micros = time.slice(20, 26).padEnd(6, '0');
      const want = `${hms(time)}.${micros}`;
      expect(formatEvent({ ...base, time }).slice(0, want.length)).toBe(want);
    }
  });
});
