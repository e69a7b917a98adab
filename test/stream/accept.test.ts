/** One subscriber's filter over the stream: process events and the agent's own. */
import { describe, expect, it } from 'vitest';
import type { ProcessEvent } from '../../src/events/model.js';
import type { AgentEvent, StreamEvent } from '../../src/stream/bus.js';
import { streamAccept } from '../../src/stream/accept.js';
import { parseStreamQuery } from '../../src/stream/query.js';

const T = '2026-01-01T00:00:00.000000Z';
function proc(type: ProcessEvent['type'], pid: number, extra: Partial<ProcessEvent> = {}): ProcessEvent {
  return {
    type,
    time: T,
    pid,
    tid: pid,
    ppid: 1,
    comm: 'sh',
    uid: 0,
    cgroup: '/app.slice/web.service',
    cgroup_id: 7,
    ns_pid: pid,
    group: 'web.service',
    ...extra,
  };
}
const agent = (type: AgentEvent['type'], extra: Partial<AgentEvent> = {}): AgentEvent => ({ type, time: T, ...extra });

const SAMPLE: [string, StreamEvent][] = [
  ['fork 10', proc('fork', 10)],
  ['exec 10 nginx', proc('exec', 10, { comm: 'nginx' })],
  ['thread 10', proc('fork', 10, { tid: 11, thread: true })],
  ['exit 10 ok', proc('exit', 10, { exit_code: 0, signal: null })],
  ['exit 12 code 3 in db', proc('exit', 12, { exit_code: 3, signal: null, cgroup: '/db.slice', group: 'db' })],
  ['migrate 13 out of web', proc('migrate', 13, { cgroup: '/other', from_cgroup: '/app.slice/web.service', group: 'other' })],
  ['barrier web', agent('barrier', { group: 'web.service', resource: 'tasks' })],
  ['restart prog web.service', agent('restart', { program: 'web.service' })],
  ['release db', agent('release', { group: 'db' })],
];

function accepted(qs: string): string[] {
  const accept = streamAccept(parseStreamQuery(new URLSearchParams(qs)));
  return SAMPLE.filter(([, e]) => accept(e)).map(([name]) => name);
}

describe('streamAccept', () => {
  it.each<[string, string[]]>([
    ['', ['fork 10', 'exec 10 nginx', 'exit 10 ok', 'exit 12 code 3 in db', 'migrate 13 out of web', 'barrier web', 'restart prog web.service', 'release db']],
    ['threads=1', SAMPLE.map(([n]) => n)],
    ['cgroup=/app.slice', ['fork 10', 'exec 10 nginx', 'exit 10 ok', 'migrate 13 out of web']], // a process filter leaves agent events out
    ['failed=1', ['exit 12 code 3 in db']],
    ['comm=^ngi', ['exec 10 nginx']],
    ['events=exit,release', ['exit 10 ok', 'exit 12 code 3 in db', 'release db']],
    ['events=barrier,restart', ['barrier web', 'restart prog web.service']],
    ['group=web.service', ['fork 10', 'exec 10 nginx', 'exit 10 ok', 'barrier web', 'restart prog web.service']], // a group names a program too
    ['group=db&events=exit,release', ['exit 12 code 3 in db', 'release db']],
    ['pid=10', ['fork 10', 'exec 10 nginx', 'exit 10 ok']],
  ])('%j -> %j', (qs, want) => {
    expect(accepted(qs)).toEqual(want);
  });

  it('pid with tree follows descendants born later, and forgets them when they exit', () => {
    const accept = streamAccept(parseStreamQuery(new URLSearchParams('pid=100&tree=1')), [100, 101]);
    const seen = (e: ProcessEvent) => accept(e);
    expect(seen(proc('exec', 101))).toBe(true); // a descendant already alive at subscription
    expect(seen(proc('fork', 102, { ppid: 101 }))).toBe(true); // born later, below 101
    expect(seen(proc('fork', 103, { ppid: 102 }))).toBe(true);
    expect(seen(proc('fork', 200, { ppid: 1 }))).toBe(false);
    expect(seen(proc('exit', 102, { exit_code: 0, signal: null }))).toBe(true);
    expect(seen(proc('exec', 102))).toBe(false); // pid 102 reused by an unrelated process
    expect(seen(proc('exec', 103))).toBe(true);
  });
});
