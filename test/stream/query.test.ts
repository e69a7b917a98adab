/** The /events query string: tail's filters, the agent's own event types, group, format. */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { parseStreamQuery } from '../../src/stream/query.js';
import { PATTERN_EXPECTED } from '../../src/config/regex.js';

const parse = (qs: string, accept?: string) => parseStreamQuery(new URLSearchParams(qs), accept);

describe('parseStreamQuery', () => {
  it('no parameters: everything but threads, NDJSON', () => {
    const q = parse('');
    expect(q.types).toBeUndefined();
    expect(q.group).toBeUndefined();
    expect(q.sse).toBe(false);
    expect(q.filter).toMatchObject({ threads: false, failed: false, tree: false });
    expect(q.filter.events).toBeUndefined();
  });

  it('reads every filter', () => {
    const q = parse('cgroup=/system.slice&comm=^ng&pid=42&tree=1&threads=true&failed&group=web&events=exit,release');
    expect(q.filter.cgroup).toBe('/system.slice');
    expect(q.filter.comm?.source).toBe('^ng');
    expect(q.filter.pid).toBe(42);
    expect(q.filter.tree).toBe(true);
    expect(q.filter.threads).toBe(true);
    expect(q.filter.failed).toBe(true); // a bare flag is true
    expect(q.group).toBe('web');
    expect([...q.types!]).toEqual(['exit', 'release']);
    expect([...q.filter.events!]).toEqual(['exit']); // the process types go to the process filter
  });

  it.each([
    ['tree=false', false],
    ['tree=0', false],
    ['tree=', true],
    ['tree=yes', true],
  ])('flag %s -> %s', (qs, v) => {
    expect(parse(`pid=1&${qs}`).filter.tree).toBe(v);
  });

  it('only agent event types: no process event passes the process filter', () => {
    const q = parse('events=barrier,limit,restart');
    expect([...q.filter.events!]).toEqual([]);
    expect([...q.types!]).toEqual(['barrier', 'limit', 'restart']);
  });

  it.each([
    ['', undefined, false],
    ['', 'text/event-stream', true],
    ['', 'application/x-ndjson', false],
    ['format=sse', undefined, true],
    ['format=ndjson', 'text/event-stream', false],
  ])('format %j with Accept %j -> sse %s', (qs, accept, sse) => {
    expect(parse(qs, accept).sse).toBe(sse);
  });

  it.each([
    ['foo=1', 'unknown parameter "foo"; expected cgroup, comm, pid, tree, events, threads, failed, group, format, ancestors'],
    [
      'events=exit,boom',
      'events: unknown event type "boom"; expected a comma-separated list of fork, exec, exit, migrate, barrier, limit, release, restart, health',
    ],
    ['format=xml', 'format "xml": expected ndjson or sse'],
    ['pid=abc', 'pid "abc": expected a process id (a positive integer)'],
    ['pid=0', 'pid "0": expected a process id (a positive integer)'],
    ['tree=1', 'tree needs pid PID: the process whose descendants to follow'],
    ['cgroup=system.slice', 'cgroup "system.slice": expected a path under the cgroup root, starting with / (e.g. /system.slice/cron.service)'],
    ['comm=(', `comm "(": missing ): (; expected ${PATTERN_EXPECTED}`],
    ['comm=(a)\\1', `comm "(a)\\\\1": backreferences cannot run in linear time (invalid escape sequence: \\1); expected ${PATTERN_EXPECTED}`],
    ['comm=(?=a)b', `comm "(?=a)b": lookahead and lookbehind cannot run in linear time (invalid perl operator: (?=); expected ${PATTERN_EXPECTED}`],
    [`comm=${'a'.repeat(300)}`, `comm "${'a'.repeat(300)}": 300 characters is longer than 256; expected ${PATTERN_EXPECTED}`],
    ['cgroup=/a&cgroup=/b', 'parameter "cgroup" given 2 times; expected it once'],
  ])('%s is a usage error: %s', (qs, message) => {
    let err: unknown;
    try {
      parse(qs);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(message);
  });
});
