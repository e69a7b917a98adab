/**
 * YAML text -> validated Config. parseConfig() is pure (the host name comes in as a parameter);
 * loadConfig() is the thin adapter that reads the file.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import YAML from 'yaml';
import { UsageError } from '../errors.js';
import { readApi } from './api.js';
import { ARGV_CAP, DEFAULT_CONFIG_YAML, DEFAULTS } from './default.js';
import { effectiveResources, isCgroupRule } from './match.js';
import { ConfigReader, describe, orDefault, type KeyPath } from './reader.js';
import {
  RESOURCE_NAMES,
  type Action,
  type Config,
  type GroupMatch,
  type GroupRule,
  type ProgramSpec,
  type ResourceLimits,
  type ResourceName,
  type ResourceSpec,
  type RestartPolicy,
} from './types.js';
import { parseListen, parseSignal } from './values.js';

/** What parseConfig needs from the host; tests pass their own. */
export interface ParseEnv {
  /** node_name when the config gives none. */
  hostname: string;
}

/**
 * The node name when the config gives none: $FORKWATCH_NODE_NAME (a DaemonSet sets it from
 * spec.nodeName: a pod's host name is the pod's), else the host name.
 */
export function hostEnv(env: NodeJS.ProcessEnv = process.env): ParseEnv {
  return { hostname: env.FORKWATCH_NODE_NAME || hostname() };
}

/** The source name of the embedded default, as messages and `Config.source` show it. */
export const EMBEDDED_SOURCE = '<embedded default>';

const TOP_KEYS = [
  'listen',
  'node_name',
  'cgroup',
  'bpf',
  'groups',
  'group_settings',
  'resources',
  'accounting',
  'programs',
  'api',
  'kubernetes',
] as const;

/** Group and program names end up in metric labels, paths and API URLs. */
const NAME = /^[A-Za-z0-9_.@:-]+$/;
const NAME_EXPECTED = 'a name of letters, digits and _ . @ : -';

/** Metrics put groups beyond max_groups here, so no rule may take the name. */
const OVERFLOW_GROUP = 'other';

const V1_CONTROLLERS = [
  'blkio',
  'cpu',
  'cpuacct',
  'cpuset',
  'devices',
  'freezer',
  'hugetlb',
  'memory',
  'misc',
  'net_cls',
  'net_prio',
  'perf_event',
  'pids',
  'rdma',
] as const;

const RESTART_POLICIES: readonly RestartPolicy[] = ['always', 'on-failure', 'on-abnormal', 'never'];

/**
 * Parses and validates a config. `source` names the text in messages (a file path, or
 * `<embedded default>`). Throws a UsageError with one line naming the key and what is accepted.
 */
export function parseConfig(text: string, source: string, env: ParseEnv = hostEnv()): Config {
  const r = new ConfigReader(source);
  const top = r.mapping(parseYaml(text, source), [], TOP_KEYS);

  const hierarchy = readHierarchy(r, top.cgroup);
  const ctx: SpecContext = { v2: hierarchy === 'v2', wholeCgroups: true };
  const resources = readResources(r, top.resources, ['resources'], ctx);
  const rules = readRules(r, top.groups, resources, ctx);
  const settings = r.mapping(top.group_settings, ['group_settings'], ['max_groups', 'evict_after']);

  const config: Config = {
    source,
    listen: readListen(r, top.listen),
    node_name: top.node_name == null ? env.hostname : r.string(top.node_name, ['node_name']),
    cgroup: { hierarchy },
    bpf: readBpf(r, top.bpf),
    groups: {
      rules,
      max_groups: orDefault(settings.max_groups, DEFAULTS.groups.max_groups, (v) =>
        r.integer(v, ['group_settings', 'max_groups'], { min: 1 }),
      ),
      evict_after_s: orDefault(settings.evict_after, DEFAULTS.groups.evict_after_s, (v) =>
        r.duration(v, ['group_settings', 'evict_after']),
      ),
    },
    resources,
    accounting: readAccounting(r, top.accounting),
    programs: readPrograms(r, top.programs, rules),
    api: readApi(r, top.api),
  };
  if (top.kubernetes != null) config.kubernetes = readKubernetes(r, top.kubernetes);
  return config;
}

/**
 * Loads the config at `path`, or the embedded default when there is none. A file that cannot be
 * read is a UsageError too: `cannot read config /x.yaml: ENOENT: no such file or directory`.
 */
export function loadConfig(path?: string, env?: ParseEnv): Config {
  if (path === undefined) return parseConfig(DEFAULT_CONFIG_YAML, EMBEDDED_SOURCE, env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    // Node appends ", open '/x.yaml'"; the path is already in the message.
    const reason = err instanceof Error ? err.message.replace(/, \w+ '.*'$/s, '').replace(/, \w+$/, '') : String(err);
    throw new UsageError(`cannot read config ${path}: ${reason}`);
  }
  return parseConfig(text, path, env);
}

function parseYaml(text: string, source: string): unknown {
  const doc = YAML.parseDocument(text);
  const err = doc.errors[0];
  if (err !== undefined) {
    // yaml's message carries " at line L, column C:" and a code frame; one line is wanted.
    const what = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    const pos = err.linePos?.[0];
    const where = pos === undefined ? source : `${source}:${pos.line}:${pos.col}`;
    throw new UsageError(`${where}: ${what}; expected valid YAML`);
  }
  try {
    // An alias to no anchor, or aliases expanding past yaml's limit (a "billion laughs"), throw here.
    return doc.toJS();
  } catch (err) {
    throw new UsageError(`${source}: ${(err as Error).message.split('\n')[0]}; expected valid YAML`);
  }
}

function readListen(r: ConfigReader, value: unknown): Config['listen'] {
  if (value === undefined || value === null) return { ...DEFAULTS.listen };
  const expected = '"host:port" like 127.0.0.1:10510, 0.0.0.0:10510 or [::1]:10510 (port 1-65535)';
  const text = r.string(value, ['listen'], expected);
  const addr = parseListen(text);
  if (addr === undefined) r.fail(['listen'], `invalid address ${describe(text)}`, expected);
  return addr;
}

function readHierarchy(r: ConfigReader, value: unknown): string {
  const map = r.mapping(value, ['cgroup'], ['hierarchy']);
  if (map.hierarchy == null) return DEFAULTS.cgroup_hierarchy;
  const path = ['cgroup', 'hierarchy'];
  const expected = `v2, a cgroup v1 controller (${V1_CONTROLLERS.join(', ')}) or name=<hierarchy name>`;
  const text = r.string(map.hierarchy, path, expected);
  if (text === 'v2' || (V1_CONTROLLERS as readonly string[]).includes(text) || /^name=[A-Za-z0-9_.-]+$/.test(text)) {
    return text;
  }
  r.fail(path, `unknown hierarchy ${describe(text)}`, expected);
}

function readBpf(r: ConfigReader, value: unknown): Config['bpf'] {
  const d = DEFAULTS.bpf;
  const map = r.mapping(value, ['bpf'], [
    'ring_buffer_bytes',
    'argv_max_bytes',
    'cpu_accounting',
    'flush_interval',
    'counter_entries',
  ]);
  const ringPath = ['bpf', 'ring_buffer_bytes'];
  const ring_buffer_bytes = orDefault(map.ring_buffer_bytes, d.ring_buffer_bytes, (v) => r.size(v, ringPath));
  // The kernel sizes BPF ring buffers in whole pages, a power of two of them.
  if (ring_buffer_bytes < 4096 || (ring_buffer_bytes & (ring_buffer_bytes - 1)) !== 0) {
    r.fail(
      ringPath,
      `${ring_buffer_bytes} bytes is not a power of two >= 4096`,
      'a power of two of at least 4096 bytes, like 256KiB, 8MiB or 64MiB',
    );
  }
  return {
    ring_buffer_bytes,
    argv_max_bytes: orDefault(map.argv_max_bytes, d.argv_max_bytes, (v) =>
      r.size(v, ['bpf', 'argv_max_bytes'], {
        max: ARGV_CAP,
        expected: `a size from 0 to ${ARGV_CAP} bytes (the BPF program's argv buffer)`,
      }),
    ),
    cpu_accounting: orDefault(map.cpu_accounting, d.cpu_accounting, (v) => r.boolean(v, ['bpf', 'cpu_accounting'])),
    flush_interval_s: orDefault(map.flush_interval, d.flush_interval_s, (v) =>
      r.duration(v, ['bpf', 'flush_interval']),
    ),
    counter_entries: orDefault(map.counter_entries, d.counter_entries, (v) =>
      r.integer(v, ['bpf', 'counter_entries'], { min: 1 }),
    ),
  };
}

// ---- groups and resources ---------------------------------------------------------------------

interface SpecContext {
  /** cgroup.freeze exists only on cgroup v2. */
  v2: boolean;
  /** The group is made of whole cgroups (freeze acts on cgroups, not processes). */
  wholeCgroups: boolean;
}

function readRules(r: ConfigReader, value: unknown, defaults: ResourceLimits, ctx: SpecContext): GroupRule[] {
  const items = r.list(
    value,
    ['groups'],
    'a list of groups like [{name: web, match: {cgroup: /system.slice/nginx.service}}]',
  );
  const seen = new Map<string, number>();
  return items.map((item, i): GroupRule => {
    const path = ['groups', i];
    const map = r.mapping(item, path, ['name', 'match', 'resources', 'on_release']);
    const name = readName(r, map.name, [...path, 'name'], 'groups', seen, i);
    if (name === OVERFLOW_GROUP) {
      const what = `"${OVERFLOW_GROUP}" is reserved for the groups beyond group_settings.max_groups`;
      r.fail([...path, 'name'], what, 'another name');
    }
    const match = readMatch(r, map.match, [...path, 'match']);
    const ruleCtx = { ...ctx, wholeCgroups: isCgroupRule(match) };
    const resources = readResources(r, map.resources, [...path, 'resources'], ruleCtx);
    if (!ruleCtx.wholeCgroups) {
      // A default's freeze would reach this group through effectiveResources(): refuse it here,
      // so that whoever runs the actions never meets a freeze it cannot apply.
      for (const [res, spec] of Object.entries(effectiveResources(defaults, { name, match, resources }))) {
        if (resources[res as ResourceName] === undefined && hasFreeze(spec)) {
          r.fail(
            [...path, 'resources'],
            `inherits freeze from resources.${res}, but this group matches processes, not whole cgroups`,
            `its own ${res} spec without freeze`,
          );
        }
      }
    }
    const rule: GroupRule = { name, match, resources };
    if (map.on_release != null) rule.on_release = readOnRelease(r, map.on_release, [...path, 'on_release']);
    return rule;
  });
}

function hasFreeze(spec: ResourceSpec): boolean {
  return [...spec.on_barrier, ...spec.on_limit].some((a) => a.kind === 'freeze');
}

function readName(
  r: ConfigReader,
  value: unknown,
  path: KeyPath,
  list: string,
  seen: Map<string, number>,
  index: number,
): string {
  if (value == null) r.fail(path, 'missing', NAME_EXPECTED);
  const name = r.string(value, path, NAME_EXPECTED);
  if (!NAME.test(name) || name === '.' || name === '..') {
    r.fail(path, `${describe(name)} is not a valid name`, NAME_EXPECTED);
  }
  // Programs get a cgroup directory of this name, where cgroup.* are the kernel's own files.
  if (name.startsWith('cgroup.')) {
    r.fail(path, `${describe(name)} starts with "cgroup.", like the kernel's cgroup files`, 'another name');
  }
  const first = seen.get(name);
  if (first !== undefined) r.fail(path, `${describe(name)} is already used by ${list}[${first}]`, 'a unique name');
  seen.set(name, index);
  return name;
}

const MATCH_KEYS = ['cgroup', 'cgroup_regex', 'comm', 'exe', 'uid'] as const;

function readMatch(r: ConfigReader, value: unknown, path: KeyPath): GroupMatch {
  if (value == null) r.fail(path, 'missing', `a mapping with at least one of ${MATCH_KEYS.join(', ')}`);
  const map = r.mapping(value, path, MATCH_KEYS);
  const match: GroupMatch = {};
  if (map.cgroup != null) {
    const expected = 'a cgroup path glob starting with / (* within a segment, ** across)';
    const glob = r.string(map.cgroup, [...path, 'cgroup'], expected);
    if (!glob.startsWith('/')) r.fail([...path, 'cgroup'], `${describe(glob)} does not start with /`, expected);
    match.cgroup = glob;
  }
  if (map.cgroup_regex != null) match.cgroup_regex = r.regex(map.cgroup_regex, [...path, 'cgroup_regex']);
  if (map.comm != null) match.comm = r.regex(map.comm, [...path, 'comm']);
  if (map.exe != null) match.exe = r.regex(map.exe, [...path, 'exe']);
  if (map.uid != null) {
    const items = Array.isArray(map.uid) ? map.uid : [map.uid];
    if (items.length === 0) r.fail([...path, 'uid'], 'empty list', 'a uid or a list of uids');
    match.uid = items.map((u, i) =>
      r.integer(u, Array.isArray(map.uid) ? [...path, 'uid', i] : [...path, 'uid'], {
        min: 0,
        max: 2 ** 32 - 2,
        expected: 'a numeric uid (0 to 4294967294) or a list of them',
      }),
    );
  }
  if (Object.keys(match).length === 0) {
    r.fail(path, 'matches everything', `at least one of ${MATCH_KEYS.join(', ')}`);
  }
  return match;
}

function readResources(r: ConfigReader, value: unknown, path: KeyPath, ctx: SpecContext): ResourceLimits {
  const map = r.mapping(value, path, RESOURCE_NAMES);
  const out: ResourceLimits = {};
  for (const name of RESOURCE_NAMES) {
    if (name in map) out[name] = readSpec(r, name, map[name], [...path, name], ctx);
  }
  return out;
}

function readSpec(r: ConfigReader, name: ResourceName, value: unknown, path: KeyPath, ctx: SpecContext): ResourceSpec {
  const map = r.mapping(value, path, ['barrier', 'limit', 'on_barrier', 'on_limit']);
  const spec: ResourceSpec = { on_barrier: [], on_limit: [] };
  if (map.barrier != null) spec.barrier = readAmount(r, name, map.barrier, [...path, 'barrier']);
  if (map.limit != null) spec.limit = readAmount(r, name, map.limit, [...path, 'limit']);
  if (spec.barrier !== undefined && spec.limit !== undefined && spec.barrier > spec.limit) {
    r.fail(path, `barrier ${spec.barrier} is above limit ${spec.limit}`, 'barrier <= limit');
  }
  for (const [key, threshold] of [
    ['on_barrier', spec.barrier],
    ['on_limit', spec.limit],
  ] as const) {
    const actions = readActions(r, name, map[key], [...path, key], ctx);
    if (threshold !== undefined) spec[key] = actions;
    else if (actions.length > 1) {
      const which = key === 'on_barrier' ? 'barrier' : 'limit';
      r.fail([...path, key], `actions without a ${which}`, `a ${which} for them to act on`);
    }
  }
  return spec;
}

function readAmount(r: ConfigReader, name: ResourceName, value: unknown, path: KeyPath): number {
  switch (name) {
    case 'tasks':
    case 'threads':
      return r.integer(value, path, { min: 0 });
    case 'forks_per_second':
    case 'cpu_cores':
      return r.number(value, path, { min: 0 });
    case 'memory_bytes':
      return r.size(value, path);
  }
}

const ACTION_FORMS = 'event, kill, freeze or {exec: [command, args...], timeout: 10s}';

/** The actions of one threshold, `event` first and each plain action once. */
function readActions(r: ConfigReader, name: ResourceName, value: unknown, path: KeyPath, ctx: SpecContext): Action[] {
  const items = r.list(value, path, `a list of actions: ${ACTION_FORMS}`);
  const actions: Action[] = [{ kind: 'event' }];
  items.forEach((item, i) => {
    const at = [...path, i];
    if (typeof item === 'string') {
      if (item === 'event') return;
      if (item === 'kill') {
        if (name !== 'tasks') r.fail(at, `kill is only for tasks, not ${name}`, 'event, freeze or {exec: ...}');
      } else if (item === 'freeze') {
        if (!ctx.v2) {
          r.fail(at, 'freeze needs cgroup v2 (cgroup.freeze)', 'event, kill or {exec: ...} with a v1 hierarchy');
        }
        if (!ctx.wholeCgroups) {
          const what = 'freeze needs a group of whole cgroups, and this group matches processes';
          r.fail(at, what, 'event, kill or {exec: ...}');
        }
      } else {
        r.fail(at, `unknown action ${describe(item)}`, ACTION_FORMS);
      }
      if (!actions.some((a) => a.kind === item)) actions.push({ kind: item });
      return;
    }
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      r.fail(at, `${describe(item)} is not an action`, ACTION_FORMS);
    }
    const map = r.mapping(item, at, ['exec', 'timeout']);
    if (map.exec == null) r.fail(at, 'no exec', '{exec: [command, args...], timeout: 10s}');
    actions.push({
      kind: 'exec',
      command: r.command(map.exec, [...at, 'exec']),
      timeout_s: orDefault(map.timeout, DEFAULTS.command_timeout_s, (v) =>
        r.duration(v, [...at, 'timeout'], { positive: true }),
      ),
    });
  });
  return actions;
}

function readOnRelease(r: ConfigReader, value: unknown, path: KeyPath): NonNullable<GroupRule['on_release']> {
  if (typeof value === 'string' || Array.isArray(value)) {
    return { command: r.command(value, path), timeout_s: DEFAULTS.command_timeout_s };
  }
  const map = r.mapping(value, path, ['command', 'timeout']);
  if (map.command == null) r.fail(path, 'no command', '[command, args...] or {command: [...], timeout: 10s}');
  return {
    command: r.command(map.command, [...path, 'command']),
    timeout_s: orDefault(map.timeout, DEFAULTS.command_timeout_s, (v) =>
      r.duration(v, [...path, 'timeout'], { positive: true }),
    ),
  };
}

// ---- accounting, programs, api ----------------------------------------------------------------

function readAccounting(r: ConfigReader, value: unknown): Config['accounting'] {
  const map = r.mapping(value, ['accounting'], ['period', 'log']);
  const accounting: Config['accounting'] = {
    period_s: orDefault<number | null>(map.period, DEFAULTS.accounting.period_s, (v) =>
      r.duration(v, ['accounting', 'period'], { positive: true }),
    ),
  };
  if (map.log != null) {
    const path = ['accounting', 'log'];
    const log = r.mapping(map.log, path, ['path', 'max_bytes', 'keep']);
    if (log.path == null) r.fail([...path, 'path'], 'missing', 'an absolute path for the accounting log');
    accounting.log = {
      path: r.absolutePath(log.path, [...path, 'path']),
      max_bytes: orDefault(log.max_bytes, DEFAULTS.accounting.log.max_bytes, (v) =>
        r.size(v, [...path, 'max_bytes'], { min: 4096 }),
      ),
      keep: orDefault(log.keep, DEFAULTS.accounting.log.keep, (v) => r.integer(v, [...path, 'keep'], { min: 0 })),
    };
  }
  return accounting;
}

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
] as const;

function readPrograms(r: ConfigReader, value: unknown, rules: readonly GroupRule[]): ProgramSpec[] {
  const items = r.list(value, ['programs'], 'a list of programs like [{name: web, command: [/usr/bin/web]}]');
  const seen = new Map<string, number>();
  const d = DEFAULTS.program;
  return items.map((item, i): ProgramSpec => {
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
      success_exit_codes: orDefault(map.success_exit_codes, [...d.success_exit_codes], (v) =>
        readExitCodes(r, v, at('success_exit_codes')),
      ),
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
    };
    if (map.command != null) spec.command = r.command(map.command, at('command'));
    if (map.watch != null) spec.watch = readWatch(r, map.watch, at('watch'), rules);
    if (map.restart_command != null) spec.restart_command = r.command(map.restart_command, at('restart_command'));
    if (map.cwd != null) spec.cwd = r.absolutePath(map.cwd, at('cwd'));
    if (map.user != null) spec.user = readAccount(r, map.user, at('user'), 'a user name or uid');
    if (map.group != null) spec.group = readAccount(r, map.group, at('group'), 'a group name or gid');
    return spec;
  });
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

function readKubernetes(r: ConfigReader, value: unknown): NonNullable<Config['kubernetes']> {
  const map = r.mapping(value, ['kubernetes'], ['pods_url', 'token_file', 'ca_file', 'refresh']);
  const expected = 'an http:// or https:// URL of a pod list, e.g. https://kubernetes.default.svc/api/v1/pods?fieldSelector=spec.nodeName={node}';
  const url = r.string(map.pods_url, ['kubernetes', 'pods_url'], expected);
  let ok = false;
  try {
    ok = ['http:', 'https:'].includes(new URL(url.replace('{node}', 'n')).protocol);
  } catch {
    ok = false;
  }
  if (!ok) r.fail(['kubernetes', 'pods_url'], `"${url}" is not an http(s) URL`, expected);
  const k: NonNullable<Config['kubernetes']> = {
    pods_url: url,
    refresh_s: orDefault(map.refresh, 30, (v) => r.duration(v, ['kubernetes', 'refresh'], { min: 1 })),
  };
  if (map.token_file != null) k.token_file = r.absolutePath(map.token_file, ['kubernetes', 'token_file']);
  if (map.ca_file != null) k.ca_file = r.absolutePath(map.ca_file, ['kubernetes', 'ca_file']);
  return k;
}
