/**
 * Every printer of the CLI and the agent's log, given values a process, a user or a hostile agent
 * chose: nothing a terminal acts on reaches the output, and no value forges a line. (The commands
 * run for real against real processes in hostile-names.test.ts.)
 */
import { describe, expect, it, vi } from 'vitest';
import type { BeancounterRow } from '../../src/beancounters/model/ledger.js';
import { formatBeancounters } from '../../src/cli/beancounters.js';
import { formatRows, type GroupRow } from '../../src/cli/groups.js';
import { report } from '../../src/cli/main.js';
import { formatPrograms } from '../../src/cli/programs.js';
import { EnvironmentError, UsageError } from '../../src/errors.js';
import type { ProcessEvent } from '../../src/events/model.js';
import { createLogger } from '../../src/log.js';
import type { AgentEvent } from '../../src/stream/bus.js';
import type { ProgramStatus } from '../../src/supervisor/types.js';
import { formatEvent } from '../../src/tail/format.js';
import { describeNotice, formatAgentEvent } from '../../src/tail/remote.js';

const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
const EVIL = '\x1b]0;owned\x07\nforged line\u009b\u202e';
const SHOWN = '\\x1b]0;owned\\x07\\x0aforged line\\u009b\\u202e';

/** Output that must be exactly `lines` lines, none holding a raw control. */
function expectInert(text: string, lines: number): void {
  expect(text).not.toMatch(RAW_CONTROL);
  expect(text.replace(/\n$/, '').split('\n')).toHaveLength(lines);
}

describe('tail lines', () => {
  const base: ProcessEvent = {
    type: 'exit',
    time: '2026-11-23T15:04:05.123456Z',
    pid: 42,
    tid: 42,
    ppid: 1,
    comm: EVIL,
    uid: 0,
    cgroup: `/x/${EVIL}`,
    cgroup_id: 3,
    ns_pid: 42,
  };

  it.each<[string, Partial<ProcessEvent>]>([
    ['fork', { type: 'fork' }],
    ['exit', { type: 'exit', exit_code: 0, signal: null, lifetime_s: 1 }],
    ['exec', { type: 'exec', filename: `/tmp/${EVIL}`, argv: [EVIL, 'a', EVIL] }],
    ['exec with no argv', { type: 'exec', filename: `/tmp/${EVIL}`, argv: [] }],
    ['migrate', { type: 'migrate', from_cgroup: `/old/${EVIL}` }],
  ])('%s: comm, cgroup, argv, file name all inert', (_name, e) => {
    const line = formatEvent({ ...base, ...e });
    expectInert(line, 1);
    expect(line).toContain(` ${SHOWN} `);
  });

  it('values of the wrong type from a remote agent print as text instead of throwing', () => {
    const odd = { ...base, type: 'exit', comm: 7, cgroup: null, signal: EVIL, lifetime_s: 'x', argv: 'x' } as unknown as ProcessEvent;
    expect(() => formatEvent(odd)).not.toThrow();
    expectInert(formatEvent(odd), 1);
    expect(() => formatEvent({ ...base, type: 'exec', argv: [1, null] } as unknown as ProcessEvent)).not.toThrow();
  });

  it('agent events and notices from a remote agent', () => {
    const ev = { type: 'limit', time: EVIL, group: EVIL, resource: EVIL, [EVIL]: 1, held: 3 } as unknown as AgentEvent;
    expectInert(formatAgentEvent(ev), 1);
    expect(formatAgentEvent(ev)).toContain(`${SHOWN}=1`);
    for (const n of [
      { type: 'hello', time: '', node: EVIL, stream: 's', seq: 0, source: 'u', restarted: false, skipped: 0 },
      { type: 'hello', time: '', node: EVIL, stream: 's', seq: 0, source: 'u', restarted: true, skipped: 0 },
      { type: 'missed', time: '', node: EVIL, count: 3, source: 'u' },
      { type: 'disconnected', time: '', source: 'u', error: EVIL },
    ] as const) {
      for (const first of [true, false]) {
        const line = describeNotice(n, first);
        if (line !== undefined) expectInert(line, 1);
      }
    }
    expect(describeNotice({ type: 'disconnected', time: '', source: 'u', error: EVIL }, false)).toContain(SHOWN);
  });
});

describe('tables', () => {
  it('forkwatch groups', () => {
    const row: GroupRow = {
      group: `/a/${EVIL}`,
      kind: 'cgroup',
      cgroup: `/a/${EVIL}`,
      configured: false,
      tasks: 1,
      threads: 1,
      forks: 0,
      execs: 0,
      exits: { success: 0, failure: 0, signaled: 0 },
      cpu_seconds: 0,
      forks_per_s: 0,
      cpu_percent: 0,
    };
    const text = formatRows([row]);
    expectInert(text, 2);
    expect(text).toContain(`/a/${SHOWN}`);
  });

  it('forkwatch beancounters', () => {
    const row: BeancounterRow = { group: EVIL, resource: 'tasks', held: 1, maxheld: 1, minheld: 1, barrier: null, limit: 3, barrierHits: 0, failcnt: 0 };
    const text = formatBeancounters([row]);
    expectInert(text, 2);
    expect(text).toContain(SHOWN);
  });

  it('forkwatch programs, with an error that quotes a cgroup path', () => {
    const p: ProgramStatus = {
      name: 'web',
      state: 'failed',
      pid: null,
      uptime_s: null,
      restarts: 0,
      last_exit: { code: null, signal: EVIL, timed_out: false, unhealthy: false, at: 0 },
      next_retry: null,
      error: `cannot write /sys/fs/cgroup/${EVIL}/cgroup.procs`,
      last_restart_latency_s: null,
      cgroup: `/x/${EVIL}`,
      health: null,
    };
    const text = formatPrograms([p]);
    expectInert(text, 3);
    expect(text).toContain(`web: cannot write /sys/fs/cgroup/${SHOWN}/cgroup.procs`);
  });
});

describe('errors and logs', () => {
  function stderrOf(fn: () => void): string {
    let out = '';
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
    try {
      fn();
    } finally {
      spy.mockRestore();
    }
    return out;
  }

  it('a usage error quoting input is one inert line', () => {
    const text = stderrOf(() => expect(report(new UsageError(`--cgroup "${EVIL}": expected a path`))).toBe(2));
    expectInert(text, 1);
    expect(text).toBe(`forkwatch: --cgroup "${SHOWN}": expected a path\n`);
    expectInert(
      stderrOf(() => report(new EnvironmentError(EVIL))),
      1,
    );
  });

  it('a bug keeps its stack frames on their lines, its message inert', () => {
    const text = stderrOf(() => expect(report(new TypeError(EVIL))).toBe(70));
    expect(text).not.toMatch(RAW_CONTROL);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe(`forkwatch: internal error (please report): TypeError: ${SHOWN}`);
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.slice(1).every((l) => l.startsWith('    at '))).toBe(true);
    expect(stderrOf(() => report(EVIL))).toBe(`forkwatch: internal error (please report): ${SHOWN}\n`);
  });

  it("the agent's log: one inert line per message, whatever the message holds", () => {
    const lines: string[] = [];
    const log = createLogger({ verbose: true, write: (l) => lines.push(l) });
    log.warn(`group ${EVIL}: froze /a/${EVIL}`);
    log.info('libbpf: done\n');
    expect(lines).toEqual([`forkwatch warn: group ${SHOWN}: froze /a/${SHOWN}`, 'forkwatch info: libbpf: done']);
  });
});
