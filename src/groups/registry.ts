/**
 * Groups: which group a cgroup or a process belongs to, the cap on how many there are, and
 * eviction of the empty ones nobody configured. Pure: paths come from a resolver passed in.
 *
 * Membership: the config's rules are tried in order (first match wins); a process that matches
 * none belongs to the group named after its cgroup (src/groups/naming.ts). A group is "by cgroup"
 * when its members are whole cgroups (a default group, or a rule that matches on the path alone):
 * its counters then come from the kernel's exact per-cgroup maps. Groups defined by comm, exe or
 * uid count from events.
 */
import { effectiveResources, isCgroupRule, matchGroup, type MatchFacts } from '../config/match.js';
import type { GroupRule, ResourceLimits } from '../config/types.js';
import type { CgroupCounters } from '../events/decode.js';
import { LIFETIME_SLOTS, SIGNAL_SLOTS } from '../events/layout.js';
import { kubernetesName, nameCgroup, type GroupIdentity, type KubeNames } from './naming.js';

/**
 * Upper bounds (seconds) of the process lifetime histogram: the kernel's log2 slots, 2^i ms for
 * i = 0 .. LIFETIME_SLOTS - 2 (1 ms to about 37 hours), +Inf after. Every group uses this ladder.
 */
export const LIFETIME_BUCKETS: readonly number[] = Array.from({ length: LIFETIME_SLOTS - 1 }, (_, i) => 2 ** i / 1000);

/** The slot of a lifetime, as the kernel picks it (bpf/lifetime.h fw_lifetime_slot; test/groups/lifetime-slot.test.ts holds the two together): the bit length of whole ms. */
export function lifetimeSlot(ns: number): number {
  const ms = Math.floor(Math.max(0, ns) / 1e6);
  const bits = ms === 0 ? 0 : Math.floor(Math.log2(ms)) + 1;
  return Math.min(bits, LIFETIME_SLOTS - 1);
}

/** Kernel counters summed over a group's cgroups (or the same counted from events). */
export interface KernelTotals extends Omit<CgroupCounters, 'cgroupId' | 'threadExits' | 'lifetime' | 'signals'> {
  lifetime: Float64Array;
  signals: Float64Array;
}

/** The kernel's slot of an exit's signal (bpf/proc.bpf.c count_signaled): its number, or 0 from SIGNAL_SLOTS on. */
export const signalSlot = (signal: number): number => (signal < SIGNAL_SLOTS ? signal : 0);

export const zeroTotals = (): KernelTotals => ({
  forks: 0,
  threads: 0,
  execs: 0,
  exitsSuccess: 0,
  exitsFailure: 0,
  exitsSignaled: 0,
  cpuNs: 0,
  liveTasks: 0,
  liveThreads: 0,
  lifetime: new Float64Array(LIFETIME_SLOTS),
  lifetimeSumNs: 0,
  releases: 0,
  oomKills: 0,
  signals: new Float64Array(SIGNAL_SLOTS),
});

export function addTotals(
  into: KernelTotals,
  from: Omit<KernelTotals, 'lifetime' | 'signals'> & { lifetime: ArrayLike<number>; signals: ArrayLike<number> },
): void {
  into.forks += from.forks;
  into.threads += from.threads;
  into.execs += from.execs;
  into.exitsSuccess += from.exitsSuccess;
  into.exitsFailure += from.exitsFailure;
  into.exitsSignaled += from.exitsSignaled;
  into.cpuNs += from.cpuNs;
  into.liveTasks += from.liveTasks;
  into.liveThreads += from.liveThreads;
  for (let i = 0; i < LIFETIME_SLOTS; i++) into.lifetime[i] += from.lifetime[i] ?? 0;
  into.lifetimeSumNs += from.lifetimeSumNs;
  into.releases += from.releases;
  into.oomKills += from.oomKills;
  for (let i = 0; i < SIGNAL_SLOTS; i++) into.signals[i] += from.signals[i] ?? 0;
}

export class Group {
  /** Live processes and threads, kept by events. */
  tasks = 0;
  threads = 0;
  /** Counted from events (used for groups whose members are not whole cgroups). */
  readonly events: KernelTotals = zeroTotals();
  /** Kernel counters of this group's cgroups that are gone (folded in before their map rows go). */
  readonly retired: KernelTotals = zeroTotals();
  /** Times the group's last process exited (counted from events; by-cgroup groups export the kernel's). */
  releases = 0;
  /** Since when (ms) the group has had no process; null while it has some. */
  emptySince: number | null;
  /** The cgroup path the group was first seen in (for group_info). */
  cgroup: string;
  /** Named by Kubernetes (`<namespace>/<pod>/<container>`): never renamed again. */
  kubeNamed = false;

  constructor(
    /** Changes at most once: a pod's group takes the name Kubernetes gives it (GroupRegistry.nameFromKubernetes). */
    public name: string,
    readonly identity: GroupIdentity,
    cgroup: string,
    public rule: GroupRule | undefined,
    public byCgroup: boolean,
    public resources: ResourceLimits,
    now: number,
  ) {
    this.cgroup = cgroup;
    this.emptySince = now;
  }

  /** Configured groups are always exported, even empty. */
  get configured(): boolean {
    return this.rule !== undefined;
  }

  /** A process of the group exited after `seconds` (into `events`, in the kernel's slots). */
  observeLifetime(seconds: number): void {
    const ns = Math.max(0, seconds) * 1e9;
    this.events.lifetime[lifetimeSlot(ns)]++;
    this.events.lifetimeSumNs += ns;
  }
}

export interface RegistryOptions {
  rules: GroupRule[];
  defaults: ResourceLimits;
  maxGroups: number;
  evictAfterS: number;
  /** cgroup id -> path under the hierarchy root. */
  cgroupPath: (id: number) => string;
  now: () => number;
  /** What Kubernetes calls a pod uid's pod and a container id in it (config kubernetes); absent: uid names. */
  kubeNames?: (podUid: string, containerId: string | undefined) => KubeNames | undefined;
}

export const OVERFLOW_GROUP = 'other';

export class GroupRegistry {
  private readonly groups = new Map<string, Group>();
  /**
   * Default groups by the cgroup their name came from (src/groups/naming.ts). A name can be
   * shared by two cgroups (ids alike in their first 12 digits, one unit name under two slices, a
   * configured group's name): membership goes by this, so they never merge into one group.
   */
  private readonly byAnchor = new Map<string, Group>();
  private readonly byCgroupId = new Map<number, Group>();
  /** Anchors of earlier groups a group took over (nameFromKubernetes), dropped with it. */
  private readonly extraAnchors = new Map<Group, string[]>();
  private processRules = false;
  /** Groups not from the config: they count against max_groups. */
  private dynamic = 0;
  /** Groups refused because the cap was reached (their members went to `other`). */
  overflows = 0;

  constructor(private opts: RegistryOptions) {
    this.reconfigure(opts);
  }

  /**
   * Applies a new config (SIGHUP): counters stay with their groups; memberships are decided
   * again as processes are looked up (the tracker re-places every live process).
   */
  reconfigure(opts: RegistryOptions): void {
    this.opts = opts;
    this.processRules = opts.rules.some((r) => !isCgroupRule(r.match));
    this.byCgroupId.clear();
    const names = new Set(opts.rules.map((r) => r.name));
    for (const g of this.groups.values()) {
      if (g.rule && !names.has(g.name)) {
        g.rule = undefined; // no longer configured: evictable like any other
        this.dynamic++;
      }
      if (!g.rule) g.resources = opts.defaults;
    }
    for (const rule of opts.rules) this.ensureRule(rule);
  }

  private ensureRule(rule: GroupRule): Group {
    let g = this.groups.get(rule.name);
    if (g && !g.rule && g.identity.kind !== 'config') {
      // A default group held the name: the rule takes the name, not that group's cgroups, which
      // are named again (by their path) when next looked up.
      this.forget(g);
      g = undefined;
    }
    if (!g) {
      g = new Group(
        rule.name,
        { name: rule.name, kind: 'config' },
        rule.match.cgroup ?? '',
        rule,
        isCgroupRule(rule.match),
        effectiveResources(this.opts.defaults, rule),
        this.opts.now(),
      );
      this.groups.set(rule.name, g);
    } else {
      if (!g.rule) this.dynamic--;
      g.rule = rule;
      g.byCgroup = isCgroupRule(rule.match);
      g.resources = effectiveResources(this.opts.defaults, rule);
    }
    return g;
  }

  private ensureDefault(path: string): Group {
    const id = nameCgroup(path);
    const anchor = id.anchor ?? path;
    let g = this.byAnchor.get(anchor);
    if (g && this.groups.get(g.name) === g) return g;
    if (this.dynamic >= this.opts.maxGroups) {
      this.overflows++;
      g = this.groups.get(OVERFLOW_GROUP);
      if (g) return g;
      // `other` itself is not capped: it is the one group overflow can always go to.
      g = new Group(OVERFLOW_GROUP, { name: OVERFLOW_GROUP, kind: 'cgroup' }, '', undefined, true, this.opts.defaults, this.opts.now());
      this.groups.set(OVERFLOW_GROUP, g);
      return g;
    }
    const name = this.freeName(id.name, anchor);
    g = new Group(name, id, path, undefined, true, this.opts.defaults, this.opts.now());
    this.groups.set(name, g);
    this.byAnchor.set(anchor, g);
    this.dynamic++;
    this.nameFromKubernetes(g);
    return g;
  }

  /**
   * Pods' groups not yet named by Kubernetes take its names where it now knows them (the pod list
   * changed). Returns how many were renamed.
   */
  nameKnownPods(): number {
    let n = 0;
    for (const g of [...this.groups.values()]) if (this.nameFromKubernetes(g)) n++;
    return n;
  }

  /**
   * A pod's group takes its Kubernetes name, once: a container's cgroup exists (and its group with
   * it) before the kubelet reports the container's id. A restarted container (a new id, a new
   * cgroup, the same pod and container name) continues the group of its earlier run when that one
   * has no process left: the newer group takes the earlier one's counters and cgroups, so a
   * crash loop is one group whose exits add up, not one group per run. A name held by anything
   * else (a live group, a configured one) leaves the uid name.
   */
  private nameFromKubernetes(g: Group): boolean {
    const id = g.identity;
    if (g.kubeNamed || g.rule || id.kind !== 'kubernetes' || id.pod_uid === undefined || !this.opts.kubeNames) return false;
    const names = this.opts.kubeNames(id.pod_uid, id.container_id);
    const target = names && kubernetesName(id, names);
    if (target === undefined) return false;
    const holder = this.groups.get(target);
    if (holder !== undefined) {
      if (holder === g || holder.rule || !holder.kubeNamed || holder.tasks > 0) return false;
      this.takeOver(g, holder);
    }
    this.groups.delete(g.name);
    g.name = target;
    g.kubeNamed = true;
    this.groups.set(target, g);
    return true;
  }

  /** `g` continues `earlier` (same Kubernetes name, no process left): its counters, cgroups and anchors. */
  private takeOver(g: Group, earlier: Group): void {
    addTotals(g.retired, earlier.retired);
    addTotals(g.events, earlier.events);
    g.releases += earlier.releases;
    const anchors = [...(this.extraAnchors.get(earlier) ?? []), ...(earlier.identity.anchor !== undefined ? [earlier.identity.anchor] : [])];
    this.forget(earlier);
    for (const a of anchors) this.byAnchor.set(a, g);
    this.extraAnchors.set(g, [...(this.extraAnchors.get(g) ?? []), ...anchors]);
    // Its cgroups' rows (a cgroup not removed yet) are looked up again, and now find `g`.
    for (const [cg, owner] of this.byCgroupId) if (owner === earlier) this.byCgroupId.delete(cg);
  }

  /** The name of a new group from `anchor`: its own, else (held by another group) its cgroup path. */
  private freeName(name: string, anchor: string): string {
    if (!this.groups.has(name)) return name;
    // Paths are unique and no other kind of name starts with "/"; the suffix is only a safeguard.
    for (let n = 1, candidate = anchor; ; candidate = `${anchor}#${++n}`) if (!this.groups.has(candidate)) return candidate;
  }

  /** Removes a group nobody configured (evicted, or its name taken by a rule). */
  private forget(g: Group): void {
    this.groups.delete(g.name);
    if (g.name !== OVERFLOW_GROUP) this.dynamic--;
    for (const anchor of [g.identity.anchor, ...(this.extraAnchors.get(g) ?? [])]) {
      if (anchor !== undefined && this.byAnchor.get(anchor) === g) this.byAnchor.delete(anchor);
    }
    this.extraAnchors.delete(g);
  }

  /** The group whose kernel counters a cgroup's map row feeds. */
  forCgroup(cgroupId: number): Group {
    const cached = this.byCgroupId.get(cgroupId);
    if (cached && this.groups.get(cached.name) === cached) return cached;
    const path = this.opts.cgroupPath(cgroupId);
    const rule = this.ruleOfCgroup(path);
    const g = rule ? this.ensureRule(rule) : this.ensureDefault(path);
    this.byCgroupId.set(cgroupId, g);
    return g;
  }

  /** The rule whose group a cgroup's processes belong to by its path alone (none: a default group). Makes no group. */
  ruleOfCgroup(path: string): GroupRule | undefined {
    return this.opts.rules.find((r) => isCgroupRule(r.match) && matchGroup([r], { cgroup: path }));
  }

  /** The group of a process, from what is known about it. */
  forProcess(cgroupId: number, facts: Omit<MatchFacts, 'cgroup'>): Group {
    if (!this.processRules) return this.forCgroup(cgroupId);
    const rule = matchGroup(this.opts.rules, { ...facts, cgroup: this.opts.cgroupPath(cgroupId) });
    return rule ? this.ensureRule(rule) : this.forCgroup(cgroupId);
  }

  /** Whether a rule places processes by comm, exe or uid (then cgroups' groups are not whole cgroups' sums). */
  get hasProcessRules(): boolean {
    return this.processRules;
  }

  get(name: string): Group | undefined {
    return this.groups.get(name);
  }

  all(): IterableIterator<Group> {
    return this.groups.values();
  }

  get size(): number {
    return this.groups.size;
  }

  /** A cgroup is gone: it maps to nothing once its counters are folded. */
  dropCgroup(cgroupId: number): void {
    this.byCgroupId.delete(cgroupId);
  }

  /** Removes groups nobody configured that have been empty for evict_after; returns them. */
  evict(now: number): Group[] {
    const out: Group[] = [];
    for (const g of this.groups.values()) {
      if (g.configured || g.tasks > 0 || g.emptySince === null) continue;
      if (now - g.emptySince >= this.opts.evictAfterS * 1000) out.push(g);
    }
    for (const g of out) this.forget(g);
    if (out.length) for (const [id, g] of this.byCgroupId) if (!this.groups.has(g.name)) this.byCgroupId.delete(id);
    return out;
  }
}
