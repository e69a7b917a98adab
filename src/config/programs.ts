/** The programs section: supervised commands and watched groups, with their restart policy. */
import { DEFAULTS } from './default.js';
import { checkOrder, readAfter, readHealth } from './health.js';
import { readName } from './names.js';
import { ConfigReader, describe, orDefault, type KeyPath } from './reader.js';
import type { GroupRule, ProgramSpec, RestartPolicy } from './types.js';
import { parseSignal } from './values.js';

const RESTART_POLICIES: readonly RestartPolicy[] = ['always', 'on-failure', 'on-abnormal', 'never'];

const PROGRAM_KEYS = [
  'name',
  'command',
  'cwd',
  'env',
  'user',
  'group',
  'watch',
  'restart_command',
  'restart',
  'success_exit_codes',
  'backoff',
  'start_limit',
  'retry_failed_after',
  'stop_signal',
  'stop_timeout',
  'keep_running',
  'after',
  'health',
] as const;

/** The programs; `rules` are the groups a `watch` may name. */
export function readPrograms(r: ConfigReader, value: unknown, rules: readonly GroupRule[]): ProgramSpec[] {
  const items = r.list(value, ['programs'], 'a list of programs like [{name: web, command: [/usr/bin/web]}]');
  const seen = new Map<string, number>();
  const d = DEFAULTS.program;
  const programs = items.map((item, i): ProgramSpec => {
    const path = ['programs', i];
    const at = (key: string): KeyPath => [...path, key];
    const map = r.mapping(item, path, PROGRAM_KEYS);
    const name = readName(r, map.name, at('name'), 'programs', seen, i);

    if ((map.command == null) === (map.watch == null)) {
      const what = map.command == null ? 'neither command nor watch' : 'both command and watch';
      r.fail(path, what, 'exactly one of command (a program to run) or watch (a group to watch)');
    }
    if (map.restart_command != null && map.watch == null) {
      r.fail(at('restart_command'), 'given without watch', 'restart_command only on a program that watches a group');
    }

    const spec: ProgramSpec = {
      name,
      env: readEnv(r, map.env, at('env')),
      restart: orDefault<RestartPolicy>(map.restart, d.restart, (v) => r.oneOf(v, at('restart'), RESTART_POLICIES)),
      success_exit_codes: orDefault(map.success_exit_codes, [...d.success_exit_codes], (v) => readExitCodes(r, v, at('success_exit_codes'))),
      backoff: readBackoff(r, map.backoff, at('backoff')),
      start_limit: readStartLimit(r, map.start_limit, at('start_limit')),
      retry_failed_after_s: orDefault<number | null>(map.retry_failed_after, d.retry_failed_after_s, (v) =>
        r.duration(v, at('retry_failed_after'), { positive: true }),
      ),
      stop_signal: orDefault<NodeJS.Signals>(map.stop_signal, d.stop_signal, (v) => {
        const expected = 'a signal name like SIGTERM, SIGINT or SIGQUIT';
        const signal = parseSignal(r.string(v, at('stop_signal'), expected));
        if (signal === undefined) r.fail(at('stop_signal'), `unknown signal ${describe(v)}`, expected);
        return signal;
      }),
      stop_timeout_s: orDefault(map.stop_timeout, d.stop_timeout_s, (v) => r.duration(v, at('stop_timeout'))),
      keep_running: orDefault(map.keep_running, d.keep_running, (v) => r.boolean(v, at('keep_running'))),
      after: orDefault(map.after, [], (v) => readAfter(r, v, at('after'), name)),
    };
    if (map.command != null) spec.command = r.command(map.command, at('command'));
    if (map.watch != null) spec.watch = readWatch(r, map.watch, at('watch'), rules);
    if (map.restart_command != null) spec.restart_command = r.command(map.restart_command, at('restart_command'));
    if (map.cwd != null) spec.cwd = r.absolutePath(map.cwd, at('cwd'));
    if (map.user != null) spec.user = readAccount(r, map.user, at('user'), 'a user name or uid');
    if (map.group != null) spec.group = readAccount(r, map.group, at('group'), 'a group name or gid');
    if (map.health != null) {
      // A watched group is not ours to stop, so a failed check would have nothing to act on.
      if (map.watch != null) r.fail(at('health'), 'given with watch', 'health only on a program with command (a watched group is not stopped by forkwatch)');
      spec.health = readHealth(r, map.health, at('health'));
    }
    return spec;
  });
  checkOrder(r, programs);
  return programs;
}

function readWatch(r: ConfigReader, value: unknown, path: KeyPath, rules: readonly GroupRule[]): string {
  const names = rules.map((rule) => rule.name);
  const expected =
    names.length > 0
      ? `a cgroup path starting with / or a group named under groups (${names.join(', ')})`
      : 'a cgroup path starting with / or a group named under groups (none are)';
  const target = r.string(value, path, expected);
  if (!target.startsWith('/') && !names.includes(target)) r.fail(path, `no group named ${describe(target)}`, expected);
  return target;
}

function readEnv(r: ConfigReader, value: unknown, path: KeyPath): Record<string, string> {
  if (value == null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    r.fail(path, `${describe(value)} is not a mapping`, 'a mapping of variable names to values');
  }
  const env: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      const expected = 'names of letters, digits and _, not starting with a digit';
      r.fail(path, `invalid variable name ${describe(key)}`, expected);
    }
    // YAML reads PORT: 8080 as a number and DEBUG: true as a boolean; both mean the text.
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      r.fail([...path, key], `${describe(v)} is not a value`, 'a string, number or boolean');
    }
    env[key] = String(v);
  }
  return env;
}

function readAccount(r: ConfigReader, value: unknown, path: KeyPath, expected: string): string {
  if (typeof value === 'number') return String(r.integer(value, path, { min: 0, expected }));
  return r.string(value, path, expected);
}

function readExitCodes(r: ConfigReader, value: unknown, path: KeyPath): number[] {
  const expected = 'an exit code (0-255) or a list of them';
  const items = Array.isArray(value) ? value : [value];
  if (items.length === 0) r.fail(path, 'empty list', expected);
  return items.map((v, i) => r.integer(v, Array.isArray(value) ? [...path, i] : path, { min: 0, max: 255, expected }));
}

function readBackoff(r: ConfigReader, value: unknown, path: KeyPath): ProgramSpec['backoff'] {
  const d = DEFAULTS.program.backoff;
  const map = r.mapping(value, path, ['initial', 'factor', 'max', 'reset_after']);
  const backoff = {
    initial_s: orDefault(map.initial, d.initial_s, (v) => r.duration(v, [...path, 'initial'])),
    factor: orDefault(map.factor, d.factor, (v) => r.number(v, [...path, 'factor'], { min: 1 })),
    max_s: orDefault(map.max, d.max_s, (v) => r.duration(v, [...path, 'max'])),
    reset_after_s: orDefault(map.reset_after, d.reset_after_s, (v) => r.duration(v, [...path, 'reset_after'])),
  };
  // max 0 means no cap (src/supervisor/policy.ts reads it so).
  if (backoff.max_s > 0 && backoff.initial_s > backoff.max_s) {
    r.fail(path, `initial ${backoff.initial_s}s is above max ${backoff.max_s}s`, 'initial <= max, or max 0 for no cap');
  }
  return backoff;
}

function readStartLimit(r: ConfigReader, value: unknown, path: KeyPath): ProgramSpec['start_limit'] {
  const d = DEFAULTS.program.start_limit;
  const map = r.mapping(value, path, ['burst', 'interval']);
  return {
    // 0 for either turns the limit off, as in systemd (src/supervisor/policy.ts).
    burst: orDefault(map.burst, d.burst, (v) => r.integer(v, [...path, 'burst'], { min: 0 })),
    interval_s: orDefault(map.interval, d.interval_s, (v) => r.duration(v, [...path, 'interval'])),
  };
}
