/** What the service keeps per group besides the ledger's counters, and the group's cgroups. */
import type { ResourceLimits, ResourceSpec } from '../config/types.js';
import { OVERFLOW_GROUP, type Group } from '../groups/registry.js';
import { GroupLife } from './model/release.js';

export interface GroupState {
  group: Group;
  /** The resources object last given to the ledger (the registry replaces it on reload). */
  resources: ResourceLimits | undefined;
  /** The tasks limit, when reaching it calls for `kill`. */
  killLimit: number | undefined;
  /** Processes SIGKILLed whose exit has not been seen yet: they still count in tasks. */
  killed: Set<number>;
  killedSinceTick: number;
  life: GroupLife | undefined;
  /** The group's outermost cgroups, as of the last tick that looked (kept while it has no process). */
  cgroups: string[];
}

export function newState(group: Group): GroupState {
  return { group, resources: undefined, killLimit: undefined, killed: new Set(), killedSinceTick: 0, life: undefined, cgroups: [] };
}

export const hasThreshold = (spec: ResourceSpec | undefined): boolean => spec !== undefined && (spec.barrier !== undefined || spec.limit !== undefined);
const literalPath = (p: string): boolean => p.startsWith('/') && !/[*?]/.test(p);

/** The group that holds what max_groups turned away: never a target of actions. */
export function isOverflow(g: Group): boolean {
  return g.name === OVERFLOW_GROUP && !g.configured;
}

/** Keeps only the outermost of a set of cgroup paths (memory and freeze are hierarchical). */
export function outermost(paths: Iterable<string>): string[] {
  const sorted = [...new Set(paths)].sort((a, b) => a.length - b.length || a.localeCompare(b));
  const out: string[] = [];
  for (const p of sorted) if (!out.some((a) => a === '/' || p === a || p.startsWith(a + '/'))) out.push(p);
  return out;
}

/** The cgroups of groups, by the names the event source keeps. */
export class GroupCgroups {
  constructor(
    private readonly host: {
      readonly source: { readonly names: { path(id: number): string } };
      processesOf(group: Group): Iterable<{ cgroupId: number }>;
    },
  ) {}

  /** The one cgroup a hook or a record names for a group. */
  of(st: GroupState, cgroupId?: number): string | undefined {
    const g = st.group;
    if (g.byCgroup && literalPath(g.cgroup)) return g.cgroup;
    if (st.cgroups.length > 0) return st.cgroups[0];
    if (cgroupId !== undefined) return this.host.source.names.path(cgroupId);
    return g.cgroup === '' ? undefined : g.cgroup;
  }

  /** The group's outermost cgroups now: those of its live processes, and its rule's literal path. */
  now(st: GroupState, ids?: Set<number>): string[] {
    if (ids === undefined) {
      ids = new Set();
      for (const p of this.host.processesOf(st.group)) ids.add(p.cgroupId);
    }
    const names = [...ids].map((id) => this.host.source.names.path(id)).filter((p) => p.startsWith('/'));
    if (literalPath(st.group.cgroup)) names.push(st.group.cgroup);
    const tops = outermost(names);
    if (tops.length > 0) st.cgroups = tops;
    return st.cgroups;
  }

  /** Starts the record of a group's life (at its first process, or at start for a running group). */
  startLife(st: GroupState, cgroupId: number | undefined, now: number): GroupLife {
    const cgroup = this.of(st, cgroupId);
    st.life = new GroupLife(st.group.name, now, cgroup === undefined ? {} : { cgroup });
    st.life.tasks(st.group.tasks);
    return st.life;
  }
}
