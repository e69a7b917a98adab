/** A program's `health:` check and the `after:` order between programs. */
import { DEFAULTS } from './default.js';
import { ConfigReader, describe, orDefault, type KeyPath } from './reader.js';
import type { HealthCheckSpec, HealthProbe, ProgramSpec } from './types.js';
import { parseListen } from './values.js';

const HEALTH_KEYS = ['exec', 'http', 'tcp', 'interval', 'timeout', 'start_period', 'failure_threshold'] as const;
const PROBES = ['exec', 'http', 'tcp'] as const;

/** `health:` of one program: exactly one of exec, http or tcp, and its timing. */
export function readHealth(r: ConfigReader, value: unknown, path: KeyPath): HealthCheckSpec {
  const map = r.mapping(value, path, HEALTH_KEYS);
  const given = PROBES.filter((k) => map[k] != null);
  if (given.length !== 1) {
    const what = given.length === 0 ? 'no check' : `${given.join(' and ')} together`;
    r.fail(path, what, 'exactly one of exec (a command), http (a URL to GET) or tcp (host:port to connect to)');
  }
  const d = DEFAULTS.program.health;
  const at = (key: string): KeyPath => [...path, key];
  const spec: HealthCheckSpec = {
    probe: readProbe(r, map, given[0], at),
    interval_s: orDefault(map.interval, d.interval_s, (v) => r.duration(v, at('interval'), { min: 0.01 })),
    timeout_s: orDefault(map.timeout, d.timeout_s, (v) => r.duration(v, at('timeout'), { min: 0.01 })),
    start_period_s: orDefault(map.start_period, d.start_period_s, (v) => r.duration(v, at('start_period'))),
    failure_threshold: orDefault(map.failure_threshold, d.failure_threshold, (v) => r.integer(v, at('failure_threshold'), { min: 1 })),
  };
  return spec;
}

function readProbe(r: ConfigReader, map: Record<string, unknown>, kind: (typeof PROBES)[number], at: (key: string) => KeyPath): HealthProbe {
  switch (kind) {
    case 'exec':
      return { exec: r.command(map.exec, at('exec')) };
    case 'http': {
      const expected = 'an http:// or https:// URL like http://127.0.0.1:8080/healthz';
      const text = r.string(map.http, at('http'), expected);
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        r.fail(at('http'), `${describe(text)} is not a URL`, expected);
      }
      if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
        r.fail(at('http'), `${describe(text)} is not an http URL`, expected);
      }
      if (url.username !== '' || url.password !== '') r.fail(at('http'), 'a URL with credentials', `${expected}, without user:password@`);
      if (url.port === '0') r.fail(at('http'), `${describe(text)} has port 0`, `${expected}, with a port from 1 to 65535`);
      return { http: url.href };
    }
    case 'tcp': {
      const expected = 'host:port like 127.0.0.1:5432, localhost:5432 or [::1]:5432';
      const addr = parseListen(r.string(map.tcp, at('tcp'), expected));
      if (addr === undefined) r.fail(at('tcp'), `${describe(map.tcp)} is not host:port`, expected);
      return { tcp: addr };
    }
  }
}

/** `after:` of one program: names of other programs (checked against the list by checkOrder). */
export function readAfter(r: ConfigReader, value: unknown, path: KeyPath, self: string): string[] {
  const expected = "a list of other programs' names, like [db, cache]";
  const items = r.list(typeof value === 'string' ? [value] : value, path, expected);
  const names = items.map((v, i) => r.string(v, [...path, i], expected));
  const own = names.indexOf(self);
  if (own >= 0) r.fail([...path, own], `${describe(self)} is the program itself`, expected);
  return [...new Set(names)];
}

/**
 * Every `after:` names a program of the list, and the order has no cycle: a cycle would leave each
 * of its programs waiting for another forever, so it is a config error naming the cycle.
 */
export function checkOrder(r: ConfigReader, programs: readonly ProgramSpec[]): void {
  const byName = new Map(programs.map((p, i) => [p.name, i]));
  programs.forEach((p, i) => {
    p.after.forEach((dep, j) => {
      if (!byName.has(dep)) {
        r.fail(
          ['programs', i, 'after', j],
          `no program named ${describe(dep)}`,
          `one of ${[...byName.keys()].filter((n) => n !== p.name).join(', ') || '(no other program)'}`,
        );
      }
    });
  });
  // Depth-first search; `path` is the chain being walked, so a back edge gives the cycle itself.
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (name: string): void => {
    if (done.has(name)) return;
    const at = path.indexOf(name);
    if (at >= 0) {
      const cycle = [...path.slice(at), name];
      r.fail(['programs', byName.get(name) as number, 'after'], `a cycle: ${cycle.join(' -> ')}`, 'an order without cycles (a program cannot wait for itself)');
    }
    path.push(name);
    for (const dep of programs[byName.get(name) as number].after) visit(dep);
    path.pop();
    done.add(name);
  };
  for (const p of programs) visit(p.name);
}
