/**
 * YAML text -> validated Config. parseConfig() is pure (the host name comes in as a parameter)
 * and walks the top level; each section is read in its own module (sections.ts, groups.ts,
 * programs.ts, api.ts). loadConfig() is the thin adapter that reads the file.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import YAML from 'yaml';
import { UsageError } from '../errors.js';
import { readApi } from './api.js';
import { readExport } from './export.js';
import { DEFAULT_CONFIG_YAML, DEFAULTS } from './default.js';
import { readResources, readRules, type SpecContext } from './groups.js';
import { readPrograms } from './programs.js';
import { ConfigReader, orDefault } from './reader.js';
import { readAccounting, readBpf, readHierarchy, readKubernetes, readListen, readProgramLogs } from './sections.js';
import type { Config } from './types.js';

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
  'program_logs',
  'api',
  'kubernetes',
  'export',
] as const;

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
      max_groups: orDefault(settings.max_groups, DEFAULTS.groups.max_groups, (v) => r.integer(v, ['group_settings', 'max_groups'], { min: 1 })),
      evict_after_s: orDefault(settings.evict_after, DEFAULTS.groups.evict_after_s, (v) => r.duration(v, ['group_settings', 'evict_after'])),
    },
    resources,
    accounting: readAccounting(r, top.accounting),
    programs: readPrograms(r, top.programs, rules),
    api: readApi(r, top.api),
    export: readExport(r, top.export),
  };
  if (top.program_logs != null) config.program_logs = readProgramLogs(r, top.program_logs);
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
