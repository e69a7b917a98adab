/**
 * CPU per cgroup on cgroup v2 without a sched_switch program: the kernel already keeps it, in each
 * cgroup's cpu.stat usage_usec (the same clock as se.sum_exec_runtime, which the v1 path charges).
 * usage_usec is hierarchical (a cgroup's descendants are in it, the removed ones too), so a cgroup's
 * own CPU is its usage minus its live children's, minus what its removed children had when last
 * read. Counted from the agent's start, as the kernel counters are: a cgroup that existed then
 * starts from its usage at that moment, one made later from zero.
 *
 * Read at scrape, for the cgroups a group of whole cgroups shows (those with processes or kernel
 * counter rows; once shown, for as long as they live) and their children. Parents are read before
 * their children, so a reading never counts a child's CPU as its parent's; every group's value is
 * kept from going back (a cgroup moving to another group on reload takes its CPU with it).
 * Where it is not exact: CPU a child used after its last read before its removal, or the whole CPU
 * of a child made and removed between two reads of a parent that is shown, is its parent's.
 */

import { parentOf } from '../events/cgroup-names.js';
import type { AgentHost } from './host.js';

/** What the computation reads; paths are relative to the hierarchy's mount ("/" its root). */
export interface CgroupCpuInputs<G extends object> {
  /** Live cgroups: id -> path. */
  cgroups(): Iterable<[number, string]>;
  /** cpu.stat usage_usec of a cgroup, in µs; undefined when it cannot be read (gone). */
  usageUs(path: string): number | undefined;
  /** Cgroups that are to be shown now (processes, kernel rows); unknown or gone ids are ignored. */
  active(): Iterable<number>;
  /** The group a cgroup's own CPU goes to; undefined: none (a group not made of whole cgroups). */
  groupOf(cgroupId: number): G | undefined;
}

interface Seen<G> {
  path: string;
  parent: number | undefined;
  /** Usage since the agent started (µs) at the last read. */
  used: number;
  /** Own CPU (µs) at the last read, for a shown cgroup. */
  own: number;
  group: G | undefined;
}

export class CgroupCpu<G extends object> {
  /** Usage (µs) of the cgroups that existed when the agent started, at that moment. */
  private readonly base = new Map<number, number>();
  private readonly seen = new Map<number, Seen<G>>();
  /** Cgroups ever shown, while they live. */
  private readonly shown = new Set<number>();
  /** Usage of removed children at their last read, by parent id. */
  private readonly removedUs = new Map<number, number>();
  /** Own CPU of a group's removed cgroups (µs); weak, so evicted groups go. */
  private readonly retiredUs = new WeakMap<G, number>();
  /** The last value given per group (ns): values never go back. */
  private readonly given = new WeakMap<G, number>();

  /** Takes every live cgroup's usage now as its starting point. */
  constructor(private readonly inputs: CgroupCpuInputs<G>) {
    for (const [id, path] of inputs.cgroups()) {
      const u = inputs.usageUs(path);
      if (u !== undefined) this.base.set(id, u);
    }
  }

  /** Own CPU (µs) of the live shown cgroups, summed per group, as of now. */
  private readOwn(): Map<G, number> {
    const live = new Map<number, string>();
    const idOf = new Map<string, number>();
    for (const [id, path] of this.inputs.cgroups()) {
      live.set(id, path);
      idOf.set(path, id);
    }
    this.forgetRemoved(live);
    for (const id of this.inputs.active()) if (live.has(id)) this.shown.add(id);

    // What to read: the shown cgroups and their children, parents first.
    const parentIdOf = (path: string): number | undefined => (path === '/' ? undefined : idOf.get(parentOf(path)));
    const children = new Map<number, number[]>();
    for (const [id, path] of live) {
      const p = parentIdOf(path);
      if (p === undefined || !this.shown.has(p)) continue;
      const list = children.get(p);
      if (list) list.push(id);
      else children.set(p, [id]);
    }
    const toRead = new Set<number>(this.shown);
    for (const list of children.values()) for (const id of list) toRead.add(id);
    const order = [...toRead].map((id) => ({ id, depth: depth(live.get(id)!) })).sort((a, b) => a.depth - b.depth);

    for (const { id } of order) {
      const path = live.get(id)!;
      const u = this.inputs.usageUs(path);
      const prev = this.seen.get(id);
      // Unreadable (removed meanwhile): as last read, until it is known to be gone.
      const used = u === undefined ? (prev?.used ?? 0) : Math.max(0, u - (this.base.get(id) ?? 0));
      if (prev) {
        prev.path = path;
        prev.parent = parentIdOf(path);
        prev.used = used;
      } else this.seen.set(id, { path, parent: parentIdOf(path), used, own: 0, group: undefined });
    }

    const out = new Map<G, number>();
    for (const id of this.shown) {
      const s = this.seen.get(id)!;
      let own = s.used - (this.removedUs.get(id) ?? 0);
      for (const c of children.get(id) ?? []) own -= this.seen.get(c)!.used;
      s.own = Math.max(s.own, own); // a parent is read before its children: never above the truth
      s.group = this.inputs.groupOf(id);
      if (s.group) out.set(s.group, (out.get(s.group) ?? 0) + s.own);
    }
    return out;
  }

  /**
   * Writes the CPU of each group of whole cgroups into `totals` (ns); other groups are left as
   * they are. A group the map lacks gets its CPU at the next read.
   */
  fill(totals: Map<G, { cpuNs: number }>): void {
    const own = this.readOwn();
    for (const [g, t] of totals) {
      const o = own.get(g);
      const r = this.retiredUs.get(g);
      const before = this.given.get(g);
      if (o === undefined && r === undefined && before === undefined) continue;
      const ns = Math.max(((o ?? 0) + (r ?? 0)) * 1000, before ?? 0);
      this.given.set(g, ns);
      t.cpuNs = ns;
    }
  }

  /** Folds the cgroups gone since the last read into their parents and groups. */
  private forgetRemoved(live: Map<number, string>): void {
    for (const [id, s] of this.seen) {
      if (live.has(id)) continue;
      if (s.parent !== undefined && live.has(s.parent)) this.removedUs.set(s.parent, (this.removedUs.get(s.parent) ?? 0) + s.used);
      if (s.group && this.shown.has(id)) this.retiredUs.set(s.group, (this.retiredUs.get(s.group) ?? 0) + s.own);
      this.seen.delete(id);
      this.shown.delete(id);
      this.removedUs.delete(id);
    }
    for (const id of this.base.keys()) if (!live.has(id)) this.base.delete(id);
  }
}

function depth(path: string): number {
  if (path === '/') return 0;
  let n = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}

/**
 * The CPU-per-cgroup reader for this host: on cgroup v2 with CPU accounting on, where the kernel
 * keeps the CPU in cpu.stat; undefined elsewhere (a v1 hierarchy is charged by sched_switch).
 */
export function cgroupCpuFor<G extends object>(
  host: Pick<AgentHost, 'hierarchy' | 'cgroupfs'>,
  cpuAccounting: boolean,
  inputs: Omit<CgroupCpuInputs<G>, 'usageUs'>,
): CgroupCpu<G> | undefined {
  const fs = host.cgroupfs;
  if (!cpuAccounting || host.hierarchy.id !== 0 || !fs.cpuUsageUs) return undefined;
  return new CgroupCpu({ ...inputs, usageUs: (path) => fs.cpuUsageUs?.(path) });
}

/** The cgroups to show: those with kernel counter rows, and those with a process now. */
export function* activeCgroups(counted: Iterable<number>, processes: Iterable<{ cgroupId: number }>): Iterable<number> {
  yield* counted;
  for (const p of processes) yield p.cgroupId;
}
