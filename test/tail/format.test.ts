import { describe, expect, it } from 'vitest';
import { commandLine, EXIT_COMMAND_MAX, formatEvent, humanDuration, outcome } from '../../src/tail/format.js';
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

  it('an exit shows the command it ran (argv, else filename), cut to a budget, with who sent its signal and its ancestors', () => {
    const exit = {
      ...base,
      exit_code: null,
      signal: 'SIGTERM',
      lifetime_s: 2.5,
      signal_sender: { pid: 812, comm: 'bash', cgroup: '/user.slice' },
      filename: '/bin/sleep',
      argv: ['/bin/sleep', '30'],
      ancestors: [
        { pid: 7, comm: 'sh' },
        { pid: 3, comm: 'bash' },
      ],
    };
    expect(formatEvent(exit)).toMatch(/ signal SIGTERM from 812 bash \/user\.slice after 2\.50s: \/bin\/sleep 30 ← sh\(7\) ← bash\(3\)$/);
    expect(formatEvent({ ...base, exit_code: 0, signal: null, lifetime_s: 1, filename: '/usr/bin/env' })).toMatch(/code 0 after 1\.00s: \/usr\/bin\/env$/);
    expect(formatEvent({ ...base, exit_code: 0, signal: null, lifetime_s: 1 })).toMatch(/code 0 after 1\.00s$/);
    const oom = { ...base, exit_code: null, signal: 'SIGKILL', oom_killed: true, oom_scope: 'cgroup' as const, argv: ['python3', '-c', 'b = 1'] };
    expect(formatEvent(oom)).toMatch(/OOM-killed \(memory cgroup at its limit\) after 0µs: python3 -c 'b = 1'$/);
    // A thread exit shows no command: the process goes on.
    expect(formatEvent({ ...base, thread: true, tid: 43, argv: ['/bin/x'] })).toMatch(/thread 43 after 0µs$/);
  });

  it.each<[Partial<ProcessEvent>, number, string]>([
    [{ argv: ['a', 'b', 'c'] }, 60, 'a b c'],
    [{ argv: ['a', 'b', 'c'], argv_truncated: true }, 60, 'a b c …'],
    [{ argv: ['/usr/bin/python3', '-c', 'x'.repeat(80)] }, 60, '/usr/bin/python3 -c …'],
    [{ argv: ['/' + 'd'.repeat(70)] }, 10, '/ddddddddd …'],
    [{ argv: [], filename: '/bin/true' }, 60, '/bin/true'],
    [{}, 60, ''],
  ])('commandLine(%j, %d) = %s', (e, max, want) => expect(commandLine(e, max)).toBe(want));

  it('a hostile argv or file name never puts a raw control, format or separator character on the line', () => {
    const hostile = ['\x1b]52;c;ZXZpbA==\x07', 'line\nforged', '\u202egnp.exe', '\x9b31m', '\u2028', 'ok'];
    const lines = [
      formatEvent({ ...base, exit_code: 1, signal: null, argv: hostile }),
      formatEvent({ ...base, exit_code: 1, signal: null, filename: '/tmp/\x1b[2Jx' }),
      formatEvent({ ...base, type: 'exec', argv: hostile }),
      // From a remote agent: values of the wrong type print as text.
      formatEvent({ ...base, exit_code: 1, signal: null, argv: [5, null, { a: '\x1b' }] as unknown as string[] }),
    ];
    for (const l of lines) expect(l).not.toMatch(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
    // Escaped as bash's $'…', so the words read back exactly when pasted.
    expect(lines[0]).toContain(`$'\\x1b]52;c;ZXZpbA==\\x07' $'line\\x0aforged' $'\\u202egnp.exe'`);
    expect(lines[1]).toMatch(/: \$'\/tmp\/\\x1b\[2Jx'$/);
    expect(lines[3]).toContain(": 5 null '[object Object]'");
  });

  it('cuts the exit command within its budget however long the argv', () => {
    const line = formatEvent({ ...base, exit_code: 0, signal: null, argv: Array.from({ length: 500 }, (_, i) => `arg${i}`) });
    const command = line.slice(line.indexOf(': ') + 2);
    expect(command.length).toBeLessThanOrEqual(EXIT_COMMAND_MAX + 2);
    expect(command.endsWith(' …')).toBe(true);
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
