/**
 * Per-group totals at a scrape. Groups of whole cgroups (Group.byCgroup) take everything from the
 * kernel's per-cgroup rows: counters, live tasks and threads (kept per process in the kernel and
 * seeded at start), the lifetime histogram and releases, plus what their removed cgroups held
 * (Group.retired). Groups defined by comm, exe or uid keep what the tracker counted from records.
 * Pure: the rows and the group of a cgroup are passed in.
 */
import type { CounterRow } from '../events/decode.js';
import { addTotals, zeroTotals, type Group, type KernelTotals } from './registry.js';

export interface TotalsInput {
  groups: Iterable<Group>;
  rows: readonly CounterRow[];
  forCgroup: (cgroupId: number) => Group;
  /** CPU not yet charged at a switch, per cgroup (CPU accounting on); undefined: CPU from events. */
  uncharged?: ReadonlyMap<number, number>;
  /**
   * A rule places processes by comm, exe or uid: it takes processes out of their cgroup's group,
   * so live counts, lifetimes and releases come from the tracker for every group (the records that
   * rule needs flow anyway); the kernel's event counters stay the cgroups' own, as before.
   */
  processRules?: boolean;
}

/** An event-counted group's totals: its record counts, with its tracker's live counts and releases. */
function fromEvents(g: Group): KernelTotals {
  const t = zeroTotals();
  addTotals(t, g.events);
  t.liveTasks = g.tasks;
  t.liveThreads = g.threads;
  t.releases = g.releases;
  return t;
}

/** Totals of every group; a cgroup only the kernel's rows knew of may add its group here. */
export function groupTotals(input: TotalsInput): Map<Group, KernelTotals> {
  const out = new Map<Group, KernelTotals>();
  const fromRetired = (g: Group) => {
    const t = zeroTotals();
    addTotals(t, g.retired);
    return t;
  };
  for (const g of input.groups) out.set(g, g.byCgroup ? fromRetired(g) : fromEvents(g));
  for (const row of input.rows) {
    const g = input.forCgroup(row.cgroupId);
    if (!g.byCgroup) continue;
    let t = out.get(g);
    if (!t) {
      t = fromRetired(g);
      out.set(g, t);
    }
    addTotals(t, row);
    t.cpuNs += input.uncharged?.get(row.cgroupId) ?? 0;
  }
  for (const [g, t] of out) {
    if (!input.uncharged) t.cpuNs = g.events.cpuNs;
    if (input.processRules && g.byCgroup) {
      t.liveTasks = g.tasks;
      t.liveThreads = g.threads;
      t.lifetime = Float64Array.from(g.events.lifetime);
      t.lifetimeSumNs = g.events.lifetimeSumNs;
      t.releases = g.releases;
    }
    // Per-CPU deltas read one CPU after another can sum below zero for an instant.
    t.liveTasks = Math.max(0, t.liveTasks);
    t.liveThreads = Math.max(0, t.liveThreads);
  }
  return out;
}

/** Processes in a group's lifetime histogram. */
export const lifetimeCount = (t: KernelTotals): number => t.lifetime.reduce((a, b) => a + b, 0);
