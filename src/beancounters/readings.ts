/**
 * The once-a-second readings: CPU from the agent's per-group totals, memory held and the kernel's
 * own refusals (pids.events / memory.events `max`, added to failcnt) from cgroupfs, for groups of
 * whole cgroups only. Refusals are read for the groups that have thresholds on that resource or a
 * rule of their own; reading every cgroup on the host each second would cost more than the
 * counters are worth.
 */
import type { ResourceName } from '../config/types.js';
import type { Group } from '../groups/registry.js';
import type { Logger } from '../log.js';
import type { Actions } from './actions.js';
import type { BeancounterIO, RefusalKind } from './cgroup-actions.js';
import { hasThreshold, outermost, type GroupCgroups, type GroupState } from './group-state.js';
import type { GroupLedger } from './model/ledger.js';
import type { BeancounterHost } from './types.js';

export interface ReadingDeps {
  host: BeancounterHost;
  io: BeancounterIO;
  ledger: GroupLedger;
  log: Logger;
  actions: Actions;
  cgroups: GroupCgroups;
  /** The state the service keeps for a group name. */
  state(name: string): GroupState | undefined;
  /** The cgroups where `enforce` set a group's limits: the kernel counts its refusals there. */
  enforced(group: string): string[];
}

export class Readings {
  /** cgroups that existed when the agent started: their kernel counters' history is not ours. */
  readonly #preexisting: Set<number>;

  constructor(private readonly d: ReadingDeps) {
    this.#preexisting = new Set([...d.host.source.names.entries()].map(([id]) => id));
  }

  /** cpu_cores of the groups with a threshold on it. */
  sampleCpu(live: Set<GroupState>, now: number): void {
    let any = false;
    for (const st of live) if (hasThreshold(st.group.resources.cpu_cores)) any = true;
    if (!any) return; // totals() reads the kernel's counter map: only when someone needs it
    for (const [g, t] of this.d.host.totals()) {
      if (!hasThreshold(g.resources.cpu_cores)) continue;
      const st = this.d.state(g.name);
      if (st?.group === g) this.d.actions.actAll(st, this.d.ledger.recordCpu(g.name, t.cpuNs / 1e9, now), undefined);
    }
  }

  /** memory_bytes, and the kernel's refusals, of the groups of whole cgroups that want them. */
  readCgroups(live: Set<GroupState>, now: number): void {
    const wanted = new Map<Group, { st: GroupState; memory: boolean; pids: boolean; ids: Set<number> }>();
    for (const st of live) {
      const g = st.group;
      if (!g.byCgroup) continue;
      const memory = hasThreshold(g.resources.memory_bytes);
      const pids = g.configured || hasThreshold(g.resources.tasks);
      if (memory || pids) wanted.set(g, { st, memory, pids, ids: new Set() });
    }
    if (wanted.size === 0) return;
    // One pass over the process table finds every wanted group's cgroups.
    for (const p of this.d.host.table.values()) {
      const g = this.d.host.tracker.groupOf(p.pid);
      if (g !== undefined) wanted.get(g)?.ids.add(p.cgroupId);
    }
    for (const w of wanted.values()) {
      const name = w.st.group.name;
      const live = this.d.cgroups.now(w.st, w.ids);
      const enforced = this.d.enforced(name);
      const cgroups = enforced.length === 0 ? live : outermost([...live, ...enforced]);
      if (w.memory) {
        let sum: number | undefined;
        for (const cg of cgroups) {
          const v = this.d.io.memoryBytes(cg);
          if (v !== undefined) sum = (sum ?? 0) + v;
        }
        if (sum !== undefined) this.d.actions.actAll(w.st, this.d.ledger.observe(name, 'memory_bytes', sum, now), undefined);
      }
      if (w.pids) this.#refusals(name, 'tasks', 'pids', cgroups);
      if (w.memory) this.#refusals(name, 'memory_bytes', 'memory', cgroups);
    }
  }

  /** Adds the kernel's refusals to failcnt and announces them (a `limit` event with `refused`). */
  #refusals(group: string, resource: ResourceName, kind: RefusalKind, cgroups: string[]): void {
    for (const cg of cgroups) {
      const v = this.d.io.refusals(cg, kind);
      if (v === undefined) continue;
      // A cgroup made while we watched has no history before us: all of its refusals are ours.
      const id = this.d.host.source.names.idOf(cg);
      const countExisting = id !== undefined && !this.#preexisting.has(id);
      const added = this.d.ledger.addKernelFailures(group, resource, v, cg, { countExisting });
      const now = added > 0 ? this.d.ledger.current(group, resource) : undefined;
      if (now !== undefined) this.d.actions.refused({ group, resource, ...now }, added, cg);
    }
  }
}
