/**
 * Prometheus exposition with prom-client. Values are read at scrape time from a Snapshot the agent
 * builds once per scrape (kernel maps included), never pushed from timers. One explicit Registry
 * per content type (Prometheus text, OpenMetrics), never the global one.
 */
import client from 'prom-client';
import { LOG_ERROR_REASONS, type LogErrorCounts } from '../beancounters/log.js';
import type { BeancounterSample } from '../beancounters/types.js';
import { signalName } from '../events/exit-status.js';
import { SIGNAL_SLOTS } from '../events/layout.js';
import { LIFETIME_BUCKETS, type KernelTotals } from '../groups/registry.js';
import { RESTART_LATENCY_BUCKETS, type ProgramSample } from '../supervisor/service.js';
import { METRICS, type MetricDef } from './definitions.js';
import { SnapshotRegistry, type Labels, type Sample } from './exposition.js';

export interface GroupSample {
  name: string;
  cgroup: string;
  kind: string;
  containerId?: string;
  podUid?: string;
  /** From the pod list (config `kubernetes`), when the pod is known there. */
  podName?: string;
  podNamespace?: string;
  /** The container's name and image from the pod's containerStatuses, when listed there. */
  container?: string;
  image?: string;
  /** The workload owning the pod (Deployment, StatefulSet, DaemonSet, Job, CronJob, ...). */
  workloadKind?: string;
  workloadName?: string;
  tasks: number;
  threads: number;
  totals: KernelTotals;
  lifetime: { buckets: Float64Array; sum: number; count: number };
  releases: number;
}

export const PROGRAM_STATES = ['running', 'starting', 'backoff', 'stopping', 'stopped', 'failed'] as const;

export const RECORD_MODES = ['all', 'watched'] as const;

export const EXPORT_OUTCOMES = ['sent', 'dropped'] as const;

/** One exporter's counts (src/export/exporter.ts ExportCounts), named by its `exporter` label. */
export interface ExportSample {
  exporter: string;
  sent: number;
  dropped: number;
  queued: number;
}

export const RESYNC_CHANGES = ['removed', 'added', 'updated'] as const;
export type ResyncChange = (typeof RESYNC_CHANGES)[number];

/** Everything one scrape shows, gathered once. */
export interface Snapshot {
  groups: GroupSample[];
  eventsRead: Record<string, number>;
  eventsLost: Record<string, number>;
  /** Records skipped because they did not decode (absent: not known). */
  eventsInvalid?: number;
  counterMapFull: number;
  /** Rows in the per-cgroup counter map (absent: not known). */
  counterMapRows?: number;
  groupsOverflow: number;
  /** Rebuilds of the live state after lost records, and the processes they corrected, by change. */
  resyncs: number;
  resyncCorrections: Record<ResyncChange, number>;
  bpf: { name: string; runTimeNs: number; runCount: number; recursionMisses: number }[];
  beancounters: BeancounterSample[];
  programs: ProgramSample[];
  /** Records on demand: which kernel events become records, and who reads the stream (absent: not known). */
  records?: { mode: 'all' | 'watched'; watchedCgroups: number; threads: boolean; subscribers: number };
  /** Failures of the accounting log by reason; absent counts as none. */
  accountingLogErrors?: LogErrorCounts;
  /** The configured exporters; absent or empty: none. */
  exports?: ExportSample[];
}

type Value = Sample;

/**
 * Label objects kept across scrapes. prom-client formats a value's `sharedLabels` once per object
 * (it caches the text by identity), so a group's `group="…"` is escaped and joined once, not for
 * each of its ~70 series on every scrape; a scrape of 2,000 groups is ~86,000 lines. Entries of
 * groups gone from the last snapshot are dropped when a new snapshot comes.
 */
class LabelCache {
  private map = new Map<string, Labels>();
  private seen = new Map<string, Labels>();
  private snapshot: Snapshot | undefined;

  /** `fixed`: labels every object carries after `key` (the node), so they print in that order. */
  constructor(
    private readonly key: string,
    private readonly fixed: Labels,
  ) {}

  get(s: Snapshot, value: string): Labels {
    if (s !== this.snapshot) {
      this.snapshot = s;
      this.map = this.seen.size > 0 ? this.seen : this.map;
      this.seen = new Map();
    }
    let labels = this.seen.get(value);
    if (labels) return labels;
    labels = this.map.get(value) ?? Object.freeze({ [this.key]: value, ...this.fixed });
    this.seen.set(value, labels);
    return labels;
  }
}

const NO_LABELS: Labels = Object.freeze({});
const labelObjects = (key: string, values: readonly (string | number)[]): Labels[] => values.map((v) => Object.freeze({ [key]: v }));
const OUTCOMES = labelObjects('outcome', ['success', 'failure', 'signaled']);
/** The `signal` label of each kernel slot (bounded: 32 names); slot 0 holds real-time signals. */
const SIGNALS = labelObjects(
  'signal',
  Array.from({ length: SIGNAL_SLOTS }, (_, n) => (n === 0 ? 'SIGRT' : signalName(n))),
);
/** Slots exported even at zero, so a rate over them starts at the first kill. */
const ALWAYS_SIGNALS = new Set([9, 15, 11, 6]);
const RESOURCES = new Map<string, Labels>();
/** The `resource` label object of a resource (a handful of names, kept for the process's life). */
const resourceLabels = (resource: string): Labels => {
  let labels = RESOURCES.get(resource);
  if (!labels) RESOURCES.set(resource, (labels = Object.freeze({ resource })));
  return labels;
};

/** A prom-client metric whose values come from the current snapshot. */
class SnapshotMetric {
  readonly aggregator = 'sum';
  name: string;
  readonly help: string;
  readonly type: string;
  constructor(
    def: MetricDef,
    private readonly current: () => Snapshot,
    private readonly values: (s: Snapshot, name: string) => Value[],
  ) {
    this.name = def.name;
    this.help = def.help;
    this.type = def.type;
  }
  samples(): Value[] {
    // `name` may have lost its _total suffix: OpenMetrics registries rename counters in place.
    return this.values(this.current(), this.name);
  }
  get() {
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.samples() });
  }
}

/** One histogram's series; `le` label objects come from `bounds` (made once per bucket ladder). */
function histogram(shared: Labels, le: Labels[], h: { buckets: Float64Array; sum: number; count: number }, name: string): Value[] {
  const out: Value[] = [];
  const bucket = `${name}_bucket`;
  let cum = 0;
  for (let i = 0; i < le.length - 1; i++) {
    cum += h.buckets[i];
    out.push({ labels: le[i], sharedLabels: shared, value: cum, metricName: bucket });
  }
  out.push({ labels: le[le.length - 1], sharedLabels: shared, value: h.count, metricName: bucket });
  out.push({ labels: NO_LABELS, sharedLabels: shared, value: h.sum, metricName: `${name}_sum` });
  out.push({ labels: NO_LABELS, sharedLabels: shared, value: h.count, metricName: `${name}_count` });
  return out;
}

const leLabels = (bounds: readonly number[]): Labels[] => labelObjects('le', [...bounds, '+Inf']);

const perRecordType = (pick: (s: Snapshot) => Record<string, number>) => (s: Snapshot) =>
  Object.entries(pick(s)).map(([type, value]) => ({ labels: { type }, value }));

const perProgram = (pick: (p: Snapshot['bpf'][number]) => number) => (s: Snapshot) => s.bpf.map((p) => ({ labels: { program: p.name }, value: pick(p) }));

/** Builds the registry for one content type; `current` returns the snapshot of this scrape. */
export function buildRegistry(contentType: 'prometheus' | 'openmetrics', current: () => Snapshot, node?: string): client.Registry<client.RegistryContentType> {
  const reg = new SnapshotRegistry();
  // Every series names its host, so series from many agents stay apart after federation.
  if (node !== undefined) reg.setDefaultLabels({ node });
  reg.setContentType(contentType === 'openmetrics' ? client.Registry.OPENMETRICS_CONTENT_TYPE : client.Registry.PROMETHEUS_CONTENT_TYPE);
  // `node` rides with the group in the shared labels, so a group's series read {group, node}.
  const fixed: Labels = node !== undefined ? { node } : {};
  const groupLabels = new LabelCache('group', fixed);
  const programLabels = new LabelCache('program', fixed);
  const lifetimeLe = leLabels(LIFETIME_BUCKETS);
  const latencyLe = leLabels(RESTART_LATENCY_BUCKETS);
  const perGroup = (pick: (g: GroupSample) => number) => (s: Snapshot) =>
    s.groups.map((g) => ({ labels: NO_LABELS, sharedLabels: groupLabels.get(s, g.name), value: pick(g) }));
  const perBean = (pick: (b: BeancounterSample) => number | undefined) => (s: Snapshot) =>
    s.beancounters
      .filter((b) => pick(b) !== undefined)
      .map((b) => ({ labels: resourceLabels(b.resource), sharedLabels: groupLabels.get(s, b.group), value: pick(b)! }));
  const add = (def: MetricDef, values: (s: Snapshot, name: string) => Value[]) =>
    reg.registerMetric(new SnapshotMetric(def, current, values) as unknown as client.Metric);
  const M = METRICS;

  add(
    M.forks,
    perGroup((g) => g.totals.forks),
  );
  add(
    M.threadsCreated,
    perGroup((g) => g.totals.threads),
  );
  add(
    M.execs,
    perGroup((g) => g.totals.execs),
  );
  add(M.exits, (s) =>
    s.groups.flatMap((g) => {
      const shared = groupLabels.get(s, g.name);
      return [
        { labels: OUTCOMES[0], sharedLabels: shared, value: g.totals.exitsSuccess },
        { labels: OUTCOMES[1], sharedLabels: shared, value: g.totals.exitsFailure },
        { labels: OUTCOMES[2], sharedLabels: shared, value: g.totals.exitsSignaled },
      ];
    }),
  );
  add(
    M.oomKills,
    perGroup((g) => g.totals.oomKills),
  );
  add(M.exitsBySignal, (s) =>
    s.groups.flatMap((g) => {
      const shared = groupLabels.get(s, g.name);
      const out: Value[] = [];
      g.totals.signals.forEach((value, n) => {
        if (value > 0 || ALWAYS_SIGNALS.has(n)) out.push({ labels: SIGNALS[n], sharedLabels: shared, value });
      });
      return out;
    }),
  );
  add(
    M.tasks,
    perGroup((g) => g.tasks),
  );
  add(
    M.threads,
    perGroup((g) => g.threads),
  );
  add(
    M.cpu,
    perGroup((g) => g.totals.cpuNs / 1e9),
  );
  add(M.lifetime, (s, name) => s.groups.flatMap((g) => histogram(groupLabels.get(s, g.name), lifetimeLe, g.lifetime, name)));
  add(M.groupInfo, (s) =>
    s.groups.map((g) => ({
      labels: {
        group: g.name,
        cgroup: g.cgroup,
        kind: g.kind,
        container_id: g.containerId ?? '',
        pod_uid: g.podUid ?? '',
        pod_name: g.podName ?? '',
        pod_namespace: g.podNamespace ?? '',
        container: g.container ?? '',
        image: g.image ?? '',
        workload_kind: g.workloadKind ?? '',
        workload_name: g.workloadName ?? '',
      },
      value: 1,
    })),
  );
  add(
    M.releases,
    perGroup((g) => g.releases),
  );
  add(
    M.events,
    perRecordType((s) => s.eventsRead),
  );
  add(
    M.eventsLost,
    perRecordType((s) => s.eventsLost),
  );
  add(M.eventsInvalid, (s) => (s.eventsInvalid === undefined ? [] : [{ labels: {}, value: s.eventsInvalid }]));
  add(M.counterMapFull, (s) => [{ labels: {}, value: s.counterMapFull }]);
  add(M.counterMapRows, (s) => (s.counterMapRows === undefined ? [] : [{ labels: {}, value: s.counterMapRows }]));
  add(M.groups, (s) => [{ labels: {}, value: s.groups.length }]);
  add(M.groupsOverflow, (s) => [{ labels: {}, value: s.groupsOverflow }]);
  add(M.resyncs, (s) => [{ labels: {}, value: s.resyncs }]);
  add(M.recordInterest, (s) => (s.records ? RECORD_MODES.map((mode) => ({ labels: { mode }, value: s.records!.mode === mode ? 1 : 0 })) : []));
  add(M.recordThreads, (s) => (s.records ? [{ labels: {}, value: s.records.threads ? 1 : 0 }] : []));
  add(M.watchedCgroups, (s) => (s.records ? [{ labels: {}, value: s.records.watchedCgroups }] : []));
  add(M.subscribers, (s) => (s.records ? [{ labels: {}, value: s.records.subscribers }] : []));
  add(M.resyncCorrections, (s) => RESYNC_CHANGES.map((change) => ({ labels: { change }, value: s.resyncCorrections[change] })));
  add(
    M.bpfRunSeconds,
    perProgram((p) => p.runTimeNs / 1e9),
  );
  add(
    M.bpfRuns,
    perProgram((p) => p.runCount),
  );
  add(
    M.bpfMisses,
    perProgram((p) => p.recursionMisses),
  );

  add(
    M.held,
    perBean((b) => b.held),
  );
  add(
    M.maxheld,
    perBean((b) => b.maxheld),
  );
  add(
    M.minheld,
    perBean((b) => b.minheld),
  );
  add(
    M.barrier,
    perBean((b) => b.barrier),
  );
  add(
    M.limit,
    perBean((b) => b.limit),
  );
  add(
    M.barrierHits,
    perBean((b) => b.barrierHits),
  );
  add(
    M.failcnt,
    perBean((b) => b.failcnt),
  );
  add(M.accountingLogErrors, (s) => LOG_ERROR_REASONS.map((reason) => ({ labels: { reason }, value: s.accountingLogErrors?.[reason] ?? 0 })));

  add(M.exportEvents, (s) =>
    (s.exports ?? []).flatMap((e) => EXPORT_OUTCOMES.map((outcome) => ({ labels: { exporter: e.exporter, outcome }, value: e[outcome] }))),
  );
  add(M.exportQueued, (s) => (s.exports ?? []).map((e) => ({ labels: { exporter: e.exporter }, value: e.queued })));

  add(M.programUp, (s) => s.programs.map((p) => ({ labels: { program: p.name }, value: p.state === 'running' ? 1 : 0 })));
  add(M.programHealthy, (s) =>
    s.programs.filter((p) => p.health !== undefined).map((p) => ({ labels: { program: p.name }, value: p.health === 'healthy' ? 1 : 0 })),
  );
  add(M.programRestarts, (s) => s.programs.map((p) => ({ labels: { program: p.name }, value: p.restarts })));
  add(M.programState, (s) =>
    s.programs.flatMap((p) => PROGRAM_STATES.map((st) => ({ labels: { program: p.name, state: st }, value: p.state === st ? 1 : 0 }))),
  );
  add(M.programLastExit, (s) => s.programs.filter((p) => p.lastExitCode !== null).map((p) => ({ labels: { program: p.name }, value: p.lastExitCode! })));
  add(M.programRestartLatency, (s, name) => s.programs.flatMap((p) => histogram(programLabels.get(s, p.name), latencyLe, p.latency, name)));

  // The event-loop delay monitor is a libuv timer: prom-client's default 10 ms period wakes an
  // idle agent 100 times a second per registry. 100 ms still catches every blocked loop.
  client.collectDefaultMetrics({ register: reg, eventLoopMonitoringPrecision: 100 });
  // prom-client names a few gauges *_total (nodejs_active_handles_total…), which breaks the
  // Prometheus naming rule promtool checks: drop those, keep the rest of the process metrics.
  for (const m of reg.getMetricsAsArray()) {
    const t = (m as unknown as { type: string }).type;
    if (t !== 'counter' && m.name.endsWith('_total')) reg.removeSingleMetric(m.name);
  }
  return reg;
}
