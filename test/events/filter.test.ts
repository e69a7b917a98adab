import { describe, expect, it } from 'vitest';
import type { ProcessEvent } from '../../src/events/model.js';
import { EventFilter, under, type FilterSpec } from '../../src/events/filter.js';
import { compilePattern } from '../../src/config/regex.js';

function ev(p: Partial<ProcessEvent>): ProcessEvent {
  return { type: 'fork', time: '', pid: 10, tid: 10, ppid: 1, comm: 'sh', uid: 0, cgroup: '/a', cgroup_id: 1, ns_pid: 10, ...p };
}

describe('EventFilter', () => {
  const cases: [string, FilterSpec, Partial<ProcessEvent>, boolean][] = [
    ['no filter shows processes', {}, {}, true],
    ['threads hidden by default', {}, { thread: true }, false],
    ['threads shown with threads', { threads: true }, { thread: true }, true],
    ['cgroup: same', { cgroup: '/a' }, { cgroup: '/a' }, true],
    ['cgroup: below', { cgroup: '/a' }, { cgroup: '/a/b' }, true],
    ['cgroup: sibling prefix is not below', { cgroup: '/a' }, { cgroup: '/ab' }, false],
    ['cgroup: migrate out of it', { cgroup: '/a' }, { type: 'migrate', cgroup: '/z', from_cgroup: '/a/x' }, true],
    ['cgroup: root matches all', { cgroup: '/' }, { cgroup: '/q' }, true],
    ['events', { events: new Set(['exec'] as const) }, { type: 'fork' }, false],
    ['comm regex', { comm: compilePattern('^ng') }, { comm: 'nginx' }, true],
    ['comm regex miss', { comm: compilePattern('^ng') }, { comm: 'bash' }, false],
    ['failed: exit 0 hidden', { failed: true }, { type: 'exit', exit_code: 0, signal: null }, false],
    ['failed: exit 1 shown', { failed: true }, { type: 'exit', exit_code: 1, signal: null }, true],
    ['failed: signal shown', { failed: true }, { type: 'exit', exit_code: null, signal: 'SIGKILL' }, true],
    ['failed: not an exit', { failed: true }, { type: 'exec' }, false],
    ['pid: itself', { pid: 10 }, { type: 'exec', pid: 10 }, true],
    ['pid: its forks', { pid: 10 }, { type: 'fork', pid: 11, ppid: 10 }, true],
    ['pid: others', { pid: 10 }, { type: 'exec', pid: 11, ppid: 10 }, false],
  ];
  it.each(cases)('%s', (_name, spec, e, want) => {
    expect(new EventFilter(spec).accept(ev(e))).toBe(want);
  });

  it('--tree follows descendants born later and forgets them at exit', () => {
    const f = new EventFilter({ pid: 10, tree: true }, [10, 12]);
    expect(f.accept(ev({ type: 'exec', pid: 12 }))).toBe(true);
    expect(f.accept(ev({ type: 'fork', pid: 20, ppid: 12 }))).toBe(true);
    expect(f.accept(ev({ type: 'fork', pid: 21, ppid: 20 }))).toBe(true);
    expect(f.accept(ev({ type: 'exit', pid: 21, ppid: 20 }))).toBe(true);
    expect(f.accept(ev({ type: 'exec', pid: 21 }))).toBe(false); // pid reused after exit
    expect(f.accept(ev({ type: 'fork', pid: 30, ppid: 99 }))).toBe(false);
  });

  it('under()', () => {
    expect(under('/a/b', '/a/')).toBe(true);
    expect(under('/a', '/a/b')).toBe(false);
  });
});
