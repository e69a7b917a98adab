/**
 * What a config's actions need from where the agent runs, checked once at start: `kill` needs
 * CAP_KILL; `freeze` and programs need a writable cgroup v2 hierarchy; `enforce` a writable
 * hierarchy with the controller (pids, memory; memory.high only on v2); a program with a user or a
 * group needs CAP_SETUID, CAP_SETGID and CAP_KILL (to signal it once it is someone else's); the
 * accounting log needs a writable directory. A systemd unit's CapabilityBoundingSet=, a pod's
 * capabilities or its read-only /sys/fs/cgroup can take any of these away. A config asking for
 * what cannot work is refused with one line before anything is loaded, rather than started and
 * left to fail at the first crossing, hours later, in a log nobody reads.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseMounts, type MountedHierarchies } from '../host/cgroupfs.js';
import { effectiveCaps } from '../host/kernel.js';
import type { Action, Config, ResourceLimits } from '../config/types.js';
import { UsageError } from '../errors.js';
import { DEFAULT_PROGRAMS_ROOT } from '../supervisor/launcher.js';

/** What the agent has where it runs. */
export interface Host {
  /** Effective capabilities (CapEff of /proc/self/status). */
  caps: bigint;
  /** Why cgroup v2 files (cgroup.freeze) cannot be written here, or null when they can. */
  cgroupUnwritable: string | null;
  /** Why program cgroups cannot be made under the programs' root here, or null when they can. */
  programsUnwritable: string | null;
  /** Why a file cannot be created in `dir` (its nearest existing ancestor is checked), or null. */
  unwritable(dir: string): string | null;
  /**
   * Why `enforce` cannot write a controller's limits here (the controller in neither the v2
   * root's cgroup.controllers nor a v1 hierarchy, or its hierarchy read-only), or null when it
   * can. `v2Only`: a limit v1 does not have (memory.high).
   */
  limitsUnwritable(controller: 'pids' | 'memory', v2Only: boolean): string | null;
}

const CAP_BITS = { CAP_KILL: 5n, CAP_SETGID: 6n, CAP_SETUID: 7n } as const;
type CapName = keyof typeof CAP_BITS;

const CAPS_EXPECTED = 'the capability (systemd: CapabilityBoundingSet=, deploy/forkwatch.service; a pod: securityContext.capabilities.add)';
const CGROUP_EXPECTED = 'a writable cgroup v2 hierarchy (a pod: the /sys/fs/cgroup mount without readOnly)';

function lacking(host: Host, names: CapName[]): CapName[] {
  return names.filter((n) => (host.caps & (1n << CAP_BITS[n])) === 0n);
}

/** Every action in `limits`, with its key path (`resources.tasks.on_limit`). */
function* actionsOf(where: string, limits: ResourceLimits): Generator<{ key: string; action: Action }> {
  for (const [resource, spec] of Object.entries(limits)) {
    if (!spec) continue;
    for (const list of ['on_barrier', 'on_limit'] as const) {
      for (const action of spec[list]) yield { key: `${where}.${resource}.${list}`, action };
    }
  }
}

/** The first thing `config` asks for that cannot work on `host`, as a message; undefined if none. */
export function impossibleAction(config: Config, host: Host): string | undefined {
  const limits: [string, ResourceLimits][] = [
    ['resources', config.resources],
    ...config.groups.rules.map((r, i): [string, ResourceLimits] => [`groups[${i}].resources`, r.resources]),
  ];
  for (const [where, l] of limits) {
    for (const { key, action } of actionsOf(where, l)) {
      if (action.kind === 'kill' && lacking(host, ['CAP_KILL']).length > 0) {
        return `${key}: kill cannot work where the agent runs: it lacks CAP_KILL; expected ${CAPS_EXPECTED}, or no kill action`;
      }
      if (action.kind === 'freeze' && host.cgroupUnwritable !== null) {
        return `${key}: freeze cannot work where the agent runs: ${host.cgroupUnwritable}; expected ${CGROUP_EXPECTED}, or no freeze action`;
      }
      if (action.kind === 'enforce') {
        const memory = key.includes('.memory_bytes.');
        const why = host.limitsUnwritable(memory ? 'memory' : 'pids', memory && key.endsWith('.on_barrier'));
        if (why !== null)
          return `${key}: enforce cannot work where the agent runs: ${why}; expected a writable cgroup hierarchy with that controller, or no enforce action`;
      }
    }
  }
  for (const [i, p] of config.programs.entries()) {
    if (p.command === undefined) continue; // watching a group writes no cgroup
    const at = `programs[${i}] (${p.name})`;
    if (host.programsUnwritable !== null) return `${at}: cannot start programs where the agent runs: ${host.programsUnwritable}; expected ${CGROUP_EXPECTED}`;
    const who = [p.user, p.group].filter((x) => x !== undefined && x !== 'root' && x !== '0');
    const missing = who.length > 0 ? lacking(host, ['CAP_SETUID', 'CAP_SETGID', 'CAP_KILL']) : [];
    if (missing.length > 0) {
      const as = p.user !== undefined ? `user "${p.user}"` : `group "${p.group}"`;
      return `${at}: ${as} cannot work where the agent runs: it lacks ${missing.join(', ')}; expected ${CAPS_EXPECTED}`;
    }
  }
  const log = config.accounting.log;
  if (log !== undefined) {
    const why = host.unwritable(path.dirname(log.path));
    if (why !== null)
      return `accounting.log.path ${log.path}: cannot be written where the agent runs: ${why}; expected a path in a writable directory (with deploy/forkwatch.service: /var/log/forkwatch/)`;
  }
  return undefined;
}

/** Why `file` cannot be written, or null when it can. */
function unwritable(file: string): string | null {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return `${file} is ${code === 'EROFS' ? 'on a read-only file system' : 'not writable'} (${code})`;
  }
}

/** Why a file cannot be created in `dir` or, while it does not exist, in its nearest ancestor. */
export function unwritableDir(dir: string): string | null {
  let d = path.resolve(dir);
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  return unwritable(d);
}

/** The host as the agent sees it now: its capabilities, the cgroup v2 mount, the programs' root. */
export function readHost(read = (p: string) => fs.readFileSync(p, 'utf8')): Host {
  const mounts = parseMounts(read('/proc/self/mounts'));
  const v2 = mounts.v2;
  const none = 'no cgroup v2 hierarchy is mounted';
  return {
    caps: effectiveCaps(read('/proc/self/status')),
    // The root cgroup's cgroup.procs is root's to write (its directory may not be): what is left is the mount's own flag.
    cgroupUnwritable: v2 === undefined ? none : unwritable(path.join(v2, 'cgroup.procs')),
    programsUnwritable: v2 === undefined ? none : unwritableDir(path.join(v2, DEFAULT_PROGRAMS_ROOT)),
    unwritable: unwritableDir,
    limitsUnwritable: (controller, v2Only) => limitsUnwritable(read, mounts, controller, v2Only),
  };
}

/** Where a controller's limits live here, and why they cannot be written (null: they can). */
function limitsUnwritable(read: (p: string) => string, mounts: MountedHierarchies, controller: 'pids' | 'memory', v2Only: boolean): string | null {
  let v2Controllers: string[] = [];
  if (mounts.v2 !== undefined) {
    try {
      v2Controllers = read(path.join(mounts.v2, 'cgroup.controllers')).trim().split(/\s+/);
    } catch {
      /* no such file: none */
    }
  }
  if (mounts.v2 !== undefined && v2Controllers.includes(controller)) return unwritable(path.join(mounts.v2, 'cgroup.procs'));
  const v1 = mounts.v1.find((m) => m.options.includes(controller));
  if (v1 !== undefined && v2Only) {
    return `the ${controller} controller is bound to the cgroup v1 hierarchy at ${v1.mount}, which has no memory.high (a barrier the kernel holds needs cgroup v2)`;
  }
  if (v1 !== undefined) return unwritable(path.join(v1.mount, 'cgroup.procs'));
  const where = mounts.v2 === undefined ? 'no cgroup v2 hierarchy is mounted' : `it is not in ${path.join(mounts.v2, 'cgroup.controllers')}`;
  return `the ${controller} controller is not available: ${where}, and no cgroup v1 hierarchy has it`;
}

/** Refuses (one line, exit 2) a config whose actions cannot work here. */
export function refuseImpossibleActions(config: Config, host: Host = readHost()): void {
  const why = impossibleAction(config, host);
  if (why !== undefined) throw new UsageError(`${config.source}: ${why}`);
}
