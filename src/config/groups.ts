/**
 * The groups section (rules: name, match, resources, on_release) and the resource specs of
 * `resources` and of each rule, with their actions.
 */
import { DEFAULTS } from './default.js';
import { effectiveResources, isCgroupRule } from './match.js';
import { readName } from './names.js';
import { ConfigReader, describe, orDefault, type KeyPath } from './reader.js';
import { RESOURCE_NAMES, type Action, type GroupMatch, type GroupRule, type ResourceLimits, type ResourceName, type ResourceSpec } from './types.js';

/** Metrics put groups beyond max_groups here, so no rule may take the name. */
const OVERFLOW_GROUP = 'other';

export interface SpecContext {
  /** cgroup.freeze exists only on cgroup v2. */
  v2: boolean;
  /** The group is made of whole cgroups (freeze acts on cgroups, not processes). */
  wholeCgroups: boolean;
  /** A rule's own resources, not the top-level defaults (enforce is per rule). */
  rule?: boolean;
}

/** The rules of `groups`, in order; `defaults` are the top-level resources a rule inherits. */
export function readRules(r: ConfigReader, value: unknown, defaults: ResourceLimits, ctx: SpecContext): GroupRule[] {
  const items = r.list(value, ['groups'], 'a list of groups like [{name: web, match: {cgroup: /system.slice/nginx.service}}]');
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
    const ruleCtx = { ...ctx, wholeCgroups: isCgroupRule(match), rule: true };
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

/** A resources mapping (the top level or a rule's): one spec per resource named. */
export function readResources(r: ConfigReader, value: unknown, path: KeyPath, ctx: SpecContext): ResourceLimits {
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

const ACTION_FORMS = 'event, kill, freeze, enforce or {exec: [command, args...], timeout: 10s}';

/** The kernel limit `enforce` sets for each resource and threshold it can hold (see beancounters/enforcer.ts). */
const ENFORCEABLE: Partial<Record<ResourceName, { on_barrier?: string; on_limit: string }>> = {
  tasks: { on_limit: 'pids.max' },
  memory_bytes: { on_barrier: 'memory.high', on_limit: 'memory.max' },
};

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
      } else if (item === 'enforce') {
        const list = path[path.length - 1] as 'on_barrier' | 'on_limit';
        if (ENFORCEABLE[name]?.[list] === undefined) {
          r.fail(
            at,
            `enforce has no kernel limit for ${name} ${list}`,
            'enforce under tasks.on_limit (pids.max), memory_bytes.on_limit (memory.max) or memory_bytes.on_barrier (memory.high)',
          );
        }
        if (!ctx.rule) r.fail(at, 'enforce in the top-level resources would set limits on every cgroup of the host', "enforce in a group's own resources");
        if (!ctx.wholeCgroups) r.fail(at, 'enforce needs a group of whole cgroups, and this group matches processes', 'event, kill or {exec: ...}');
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
      timeout_s: orDefault(map.timeout, DEFAULTS.command_timeout_s, (v) => r.duration(v, [...at, 'timeout'], { positive: true })),
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
    timeout_s: orDefault(map.timeout, DEFAULTS.command_timeout_s, (v) => r.duration(v, [...path, 'timeout'], { positive: true })),
  };
}
