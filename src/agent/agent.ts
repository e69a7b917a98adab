/**
 * The agent's pipeline: the stages, connected.
 *
 *   EventSource (kernel) -> ProcessTable -> GroupRegistry/GroupTracker -> listeners (beancounters,
 *   supervisor, stream) -> pods (names for pod uids) -> Snapshot / GroupView -> /metrics, /api
 *
 * It does no I/O of its own: the kernel, cgroupfs, procfs and the clocks are its host (host.ts),
 * passed in; compose.ts passes the real one. Being built attaches the programs and seeds the
 * process table, through the host. When the kernel lost records, the tick rebuilds the live state
 * from procfs (resync.ts).
 */
import type { Hierarchy } from '../host/cgroupfs.js';
import type { Config } from '../config/types.js';
import { TYPE_NAMES, type RawEvent } from '../events/decode.js';
import { EVENT_TYPE_MAX, EventType } from '../events/layout.js';
import { EventSource } from '../events/source.js';
import { groupTotals, lifetimeCount } from '../groups/kernel-totals.js';
import { addTotals, GroupRegistry, type Group, type KernelTotals, type RegistryOptions } from '../groups/registry.js';
import { GroupTracker, type GroupNotice } from '../groups/tracker.js';
import { kubeNames, podLabels, type PodLabels, type PodLookup } from '../k8s/pods.js';
import type { Logger } from '../log.js';
import type { Snapshot, GroupSample } from '../metrics/registry.js';
import { CgroupOccupancy } from '../process/occupancy.js';
import { liveProcesses } from '../process/scan.js';
import { ProcessTable, type ProcessInfo, type TableChange } from '../process/table.js';
import type { AgentHost } from './host.js';
import { activeCgroups, cgroupCpuFor, type CgroupCpu } from './cgroup-cpu.js';
import { Interest } from './interest.js';
import { describeResync, Resync, RESYNC_LIMITS, type ResyncLimits, type ResyncReport } from './resync.js';

/** Listens to what the agent sees, after the groups are updated (beancounters, supervisor, streams). */
export interface AgentListener {
  onEvent?(e: RawEvent, notices: GroupNotice[], change: TableChange): void;
  /**
   * A cgroup's last process left (exit: its wait(2) status; null when unknown: a move, or an
   * emptying found after lost records).
   */
  onCgroupEmpty?(cgroupId: number, status: number | null): void;
  /** A cgroup was made or removed (its mkdir or rmdir record), with its path. */
  onCgroup?(cgroupId: number, path: string, made: boolean): void;
  onTick?(now: number): void;
}

export interface GroupView {
  group: string;
  kind: string;
  cgroup: string;
  container_id?: string;
  pod_uid?: string;
  /** With pod_uid and config kubernetes: what the pod list says ('' while unknown). */
  pod_name?: string;
  pod_namespace?: string;
  container?: string;
  image?: string;
  workload_kind?: string;
  workload_name?: string;
  configured: boolean;
  tasks: number;
  threads: number;
  forks: number;
  execs: number;
  exits: { success: number; failure: number; signaled: number };
  cpu_seconds: number;
}

export interface AgentOptions {
  bpfStats?: boolean;
  resync?: ResyncLimits;
  /** Records on demand (default: config bpf.records_on_demand); false: every event becomes a record. */
  recordsOnDemand?: boolean;
  /** The pod list (config kubernetes): pods' groups named and labelled by it; without it, uids only. */
  pods?: PodLookup;
}

export class Agent {
  readonly source: EventSource;
  readonly hierarchy: Hierarchy;
  readonly table: ProcessTable;
  readonly registry: GroupRegistry;
  readonly tracker: GroupTracker;
  readonly occupancy = new CgroupOccupancy();
  readonly resync: Resync;
  /** Which kernel events become records (records on demand). */
  readonly interest: Interest;
  private rescanQueued = false;
  private renameQueued = false;
  /** Records read, by record type (index: EventType). */
  private readonly eventsRead = new Float64Array(EVENT_TYPE_MAX);
  private readonly listeners: AgentListener[] = [];
  private pendingRetire: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private config: Config;
  private readonly now: () => number;
  private readonly pods: AgentOptions['pods'];
  /** CPU per cgroup from cpu.stat (cgroup v2 with cpu_accounting); v1 charges it at sched_switch. */
  private readonly cgroupCpu: CgroupCpu<Group> | undefined;

  constructor(
    host: AgentHost,
    config: Config,
    private readonly log: Logger,
    opts: AgentOptions = {},
  ) {
    this.config = config;
    this.now = () => host.clock.now();
    this.pods = opts.pods;
    this.hierarchy = host.hierarchy;
    this.source = new EventSource(host.binding, {
      hierarchy: this.hierarchy,
      log,
      cgroups: host.cgroupfs,
      preflight: () => host.preflight(),
      monotonicNs: () => host.clock.monotonicNs(),
      probe: {
        ringBytes: config.bpf.ring_buffer_bytes,
        argvMax: config.bpf.argv_max_bytes,
        counterEntries: config.bpf.counter_entries,
        wakeupNs: Math.round(config.bpf.flush_interval_s * 1e9),
        cpuAccounting: config.bpf.cpu_accounting && host.hierarchy.id !== 0, // v2: cpu.stat (cgroup-cpu.ts)
        // Nothing but cgroup names until the interest says, right below (the table is seeded from
        // /proc after that, so nothing born in between is missed); no record of the window between
        // the load and the first decision reaches the ring.
        recordAll: false,
        threadEvents: false,
        bpfStats: opts.bpfStats === true,
      },
    });
    this.registry = new GroupRegistry(this.registryOptions(config));
    // Records on demand: decided before the table is seeded, which holds only what records keep.
    this.interest = new Interest(
      {
        kernel: this.source,
        cgroups: () => host.cgroupfs.scan(),
        idOf: (path) => host.cgroupfs.idOf(path),
        rescan: () => this.rescan(),
        log,
      },
      config,
      opts.recordsOnDemand ?? config.bpf.records_on_demand,
    );
    this.interest.start();
    // A cgroup made so recently that its mkdir record is not read yet (or was lost) is looked up
    // on cgroupfs.
    const scan = () =>
      liveProcesses({
        processes: () => host.procfs.processes(),
        hierarchyId: this.hierarchy.id,
        cgroupId: (path) => this.source.names.idOf(path) ?? host.cgroupfs.idOf(path),
        bootNow: () => this.source.clock.bootNow(),
      }).filter((p) => this.interest.keeps(p.cgroupId));
    // Seed after attaching: a process born in between is both in /proc and in the first batch,
    // and the table knows its fork (same pid and start time), so it is counted once.
    this.table = new ProcessTable(host.procfs.cwd && ((pid) => host.procfs.cwd!(pid)));
    this.table.seed(scan());
    this.tracker = new GroupTracker(this.registry, this.now);
    this.tracker.seed(this.table.values());
    this.occupancy.seed(this.table.values());
    this.resync = new Resync(
      {
        table: this.table,
        tracker: this.tracker,
        occupancy: this.occupancy,
        drain: () => this.source.drain(),
        scan,
        exits: () => new Map(this.source.counters({ live: false }).map((r) => [r.cgroupId, r.exitsSuccess + r.exitsFailure + r.exitsSignaled])),
        // Emptied cgroups whose records do not flow are not reported: their processes left the table.
        exists: (id) => this.interest.keeps(id) && this.source.names.idOf(this.source.names.path(id)) === id,
        clock: () => host.clock.monotonicMs(),
      },
      opts.resync ?? RESYNC_LIMITS,
    );
    this.cgroupCpu = cgroupCpuFor(host, config.bpf.cpu_accounting, {
      cgroups: () => this.source.names.entries(),
      active: () => activeCgroups(this.source.countedCgroups, this.table.values()),
      groupOf: (id) => {
        const g = this.registry.forCgroup(id);
        return g.byCgroup ? g : undefined;
      },
    });
  }

  private registryOptions(c: Config): RegistryOptions {
    return {
      rules: c.groups.rules,
      defaults: c.resources,
      maxGroups: c.groups.max_groups,
      evictAfterS: c.groups.evict_after_s,
      cgroupPath: (id) => this.source.names.path(id),
      now: this.now,
      kubeNames: this.pods && ((uid, containerId) => kubeNames(this.pods!, uid, containerId)),
    };
  }

  get currentConfig(): Config {
    return this.config;
  }

  addListener(l: AgentListener): void {
    this.listeners.push(l);
  }

  /** Starts reading events and the housekeeping tick. */
  start(): void {
    this.source.start((events) => this.onBatch(events));
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  private onBatch(events: RawEvent[]): void {
    for (const e of events) {
      this.eventsRead[e.type]++;
      if (e.type === EventType.CGROUP_RMDIR) {
        this.pendingRetire.push(e.cgroupId);
        this.interest.cgroupGone(e.cgroupId);
        this.cgroupChanged(e.cgroupId, false);
        continue;
      }
      if (e.type === EventType.CGROUP_MKDIR) {
        if (this.interest.cgroupMade(e.cgroupId, this.source.names.path(e.cgroupId))) this.rescanSoon();
        this.cgroupChanged(e.cgroupId, true);
        continue;
      }
      // Migrate records always flow: one into a cgroup whose records do not takes the process out
      // of the table (by a rescan) when it was there, and is not applied when it was not.
      if (e.type === EventType.MIGRATE && !this.interest.keeps(e.cgroupId)) {
        if (!this.table.get(e.pid)) continue;
        this.rescanSoon();
      }
      const change = this.table.apply(e);
      const notices = this.tracker.apply(e, change);
      for (const n of notices) if (n.kind === 'left' && n.status !== null && n.group.tasks === 0) n.group.releases++;
      const emptied = this.occupancy.apply(e, change);
      for (const l of this.listeners) {
        l.onEvent?.(e, notices, change);
        if (emptied) l.onCgroupEmpty?.(emptied.cgroupId, emptied.status);
      }
    }
  }

  private cgroupChanged(id: number, made: boolean): void {
    const path = this.source.names.path(id);
    for (const l of this.listeners) l.onCgroup?.(id, path, made);
  }

  /**
   * Once a second: rebuild the live state if records were lost, fold removed cgroups' counters,
   * evict long-empty groups, let listeners tick (beancounters then read the corrected counts).
   */
  tick(): void {
    if (this.source.closed) return;
    this.resyncAfterLoss();
    this.retireCgroups();
    this.liveFromKernel();
    const evicted = this.registry.evict(this.now());
    if (evicted.length) this.log.debug(`evicted ${evicted.length} empty groups`);
    for (const l of this.listeners) l.onTick?.(this.now());
  }

  /**
   * Groups of whole cgroups whose records do not flow (records on demand): their live tasks and
   * threads, which the beancounters' ledger and eviction read from the group, are the kernel's.
   * Groups whose records flow keep the tracker's, which moves with each record (a kernel count
   * read ahead of an unread record would count that record twice).
   */
  private liveFromKernel(): void {
    if (this.interest.mode === 'all' && this.interest.sample().threads) return;
    // One read of the rows (not totals(): its CPU pass reads cpu.stat); a removed cgroup's live
    // counts are 0, so the live rows are the whole of them.
    const live = new Map<Group, { tasks: number; threads: number; tasksOff: boolean; threadsOff: boolean }>();
    for (const row of this.source.counters()) {
      const g = this.registry.forCgroup(row.cgroupId);
      if (!g.byCgroup) continue;
      let l = live.get(g);
      if (!l) live.set(g, (l = { tasks: 0, threads: 0, tasksOff: false, threadsOff: false }));
      l.tasks += row.liveTasks;
      l.threads += row.liveThreads;
      l.tasksOff ||= !this.interest.keeps(row.cgroupId);
      l.threadsOff ||= !this.interest.keepsThreads(row.cgroupId);
    }
    const now = this.now();
    for (const [g, l] of live) {
      // Per-CPU deltas read one CPU after another can sum below zero for an instant.
      if (l.tasksOff) {
        g.tasks = Math.max(0, l.tasks);
        if (g.tasks > 0) g.emptySince = null;
        else g.emptySince ??= now;
      }
      if (l.threadsOff) g.threads = Math.max(0, l.threads);
    }
  }

  /** Checks the kernel's lost counters; after a loss, rebuilds from procfs (rate-limited, resync.ts). */
  private resyncAfterLoss(): void {
    let report;
    try {
      report = this.resync.maybe(this.source.stats().lostTotal);
    } catch (err) {
      // A bug, not the host: logged with its stack; the tick (and the agent) goes on.
      this.log.error(`resync after lost records failed: ${(err as Error)?.stack ?? String(err)}`);
      return;
    }
    if (!report) return;
    this.log.warn(describeResync(report));
    for (const id of report.emptied) for (const l of this.listeners) l.onCgroupEmpty?.(id, null);
  }

  /**
   * Removed cgroups (rmdir records read, or rows the kernel marked when records were lost): their
   * final kernel counters move into their group as their map rows go.
   */
  private retireCgroups(): void {
    const gone = this.pendingRetire;
    this.pendingRetire = [];
    for (const row of this.source.retireCounters(gone)) {
      addTotals(this.registry.forCgroup(row.cgroupId).retired, row);
      this.registry.dropCgroup(row.cgroupId);
    }
    for (const id of gone) this.registry.dropCgroup(id);
  }

  /** Applies a new config without resetting counters (SIGHUP). */
  reload(config: Config): void {
    this.config = config;
    this.registry.reconfigure(this.registryOptions(config));
    this.tracker.replace(this.table.values());
    this.interest.reload(config);
  }

  /**
   * Records on demand changed what the table keeps: drain and rescan now (not rate-limited, still
   * counted). Never from inside a batch (the ring is being read): see rescanSoon.
   */
  private rescan(): ResyncReport | undefined {
    if (this.source.closed || !this.resync) return undefined;
    const report = this.resync.force(this.source.stats().lostTotal);
    if (report.lost) this.log.warn(describeResync(report));
    for (const id of report.emptied) for (const l of this.listeners) l.onCgroupEmpty?.(id, null);
    return report;
  }

  /** A rescan after the batch being read (a cgroup became watched, a process left the watched ones). */
  private rescanSoon(): void {
    if (this.rescanQueued) return;
    this.rescanQueued = true;
    setImmediate(() => {
      this.rescanQueued = false;
      this.rescan();
    });
  }

  /** Per-group totals: kernel maps for groups of whole cgroups, events for the others (kernel-totals.ts). */
  totals(): Map<Group, KernelTotals> {
    const out = groupTotals({
      groups: this.registry.all(),
      rows: this.source.counters(),
      forCgroup: (id) => this.registry.forCgroup(id),
      uncharged: this.config.bpf.cpu_accounting ? this.source.unchargedCpuNs() : undefined,
      processRules: this.registry.hasProcessRules,
    });
    this.cgroupCpu?.fill(out);
    return out;
  }

  /**
   * The pod list changed: pods' groups not yet named by Kubernetes take its names (once per
   * batch of changes, after the batch).
   */
  podsChanged(): void {
    if (this.renameQueued) return;
    this.renameQueued = true;
    setImmediate(() => {
      this.renameQueued = false;
      const n = this.registry.nameKnownPods();
      if (n) this.log.debug(`kubernetes: ${n} groups named by the pod list`);
    });
  }

  /** A group's pod labels: empty while its pod is unknown (or without config kubernetes). */
  private podOf(g: Group): PodLabels | undefined {
    return this.pods && g.identity.pod_uid ? podLabels(this.pods, g.identity.pod_uid, g.identity.container_id) : undefined;
  }

  /** Everything /metrics shows, read once per scrape. */
  snapshot(extra: Pick<Snapshot, 'beancounters' | 'programs'> = { beancounters: [], programs: [] }): Snapshot {
    const groups: GroupSample[] = [];
    for (const [g, totals] of this.totals()) {
      const pod = this.podOf(g);
      groups.push({
        name: g.name,
        cgroup: g.cgroup,
        kind: g.identity.kind,
        containerId: g.identity.container_id,
        podUid: g.identity.pod_uid,
        podName: pod?.pod_name,
        podNamespace: pod?.pod_namespace,
        container: pod?.container,
        image: pod?.image,
        workloadKind: pod?.workload_kind,
        workloadName: pod?.workload_name,
        tasks: totals.liveTasks,
        threads: totals.liveThreads,
        totals,
        lifetime: { buckets: totals.lifetime, sum: totals.lifetimeSumNs / 1e9, count: lifetimeCount(totals) },
        releases: totals.releases,
      });
    }
    const stats = this.source.stats();
    const progs = this.source.progStats().filter((p) => p.runCount > 0 || p.runTimeNs > 0);
    return {
      groups,
      eventsRead: Object.fromEntries(Object.entries(TYPE_NAMES).map(([t, name]) => [name, this.eventsRead[Number(t)]])),
      eventsLost: stats.lost,
      eventsInvalid: this.source.badRecords,
      counterMapFull: stats.counterFull,
      counterMapRows: this.source.counterRows,
      groupsOverflow: this.registry.overflows,
      resyncs: this.resync.totals.resyncs,
      resyncCorrections: { removed: this.resync.totals.removed, added: this.resync.totals.added, updated: this.resync.totals.updated },
      bpf: progs,
      ...extra,
    };
  }

  /** Live processes of a group, oldest first. */
  processesOf(group: Group): ProcessInfo[] {
    const out: ProcessInfo[] = [];
    for (const p of this.table.values()) if (this.tracker.groupOf(p.pid) === group) out.push(p);
    return out.sort((a, b) => a.startNs - b.startNs);
  }

  /** The groups as `forkwatch groups` shows them. */
  groups(): GroupView[] {
    return [...this.totals()].map(([g, t]) => ({
      group: g.name,
      kind: g.identity.kind,
      cgroup: g.cgroup,
      container_id: g.identity.container_id,
      pod_uid: g.identity.pod_uid,
      ...this.podOf(g),
      configured: g.configured,
      tasks: t.liveTasks,
      threads: t.liveThreads,
      forks: t.forks,
      execs: t.execs,
      exits: { success: t.exitsSuccess, failure: t.exitsFailure, signaled: t.exitsSignaled },
      cpu_seconds: t.cpuNs / 1e9,
    }));
  }

  /** Detaches everything; what is still in the ring is read first. */
  close(): void {
    clearInterval(this.timer);
    this.source.close();
  }
}
