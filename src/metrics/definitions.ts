/**
 * Every metric forkwatch exports, in one place: name, type, help, labels. The README's metric
 * reference and the dashboards' checks read this list. Never a pid or another unbounded value as
 * a label: `group` is capped (groups.max_groups), `program` and `resource` come from the config.
 */
export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDef {
  name: string;
  type: MetricType;
  help: string;
  labelNames: readonly string[];
}

const def = (name: string, type: MetricType, labelNames: readonly string[], help: string): MetricDef => ({ name, type, help, labelNames });

export const METRICS = {
  forks: def('forkwatch_forks_total', 'counter', ['group'], 'Processes created (fork/clone without CLONE_THREAD) in the group.'),
  threadsCreated: def('forkwatch_threads_created_total', 'counter', ['group'], 'Threads created in the group (not counting processes).'),
  execs: def('forkwatch_execs_total', 'counter', ['group'], 'Successful execve/execveat calls in the group.'),
  exits: def(
    'forkwatch_exits_total',
    'counter',
    ['group', 'outcome'],
    'Processes that ended, by outcome: success (status 0), failure (non-zero status), signaled (killed by a signal).',
  ),
  oomKills: def(
    'forkwatch_oom_kills_total',
    'counter',
    ['group'],
    "Processes of the group the OOM killer ended (its SIGKILL), from the kernel's mark_victim tracepoint.",
  ),
  exitsBySignal: def(
    'forkwatch_exits_signaled_total',
    'counter',
    ['group', 'signal'],
    'Processes of the group a signal ended, by signal (SIGHUP .. SIGSYS; SIGRT for real-time ones). SIGKILL, SIGTERM, SIGSEGV and SIGABRT are always exported, others once seen.',
  ),
  tasks: def('forkwatch_tasks', 'gauge', ['group'], 'Live processes in the group.'),
  threads: def('forkwatch_threads', 'gauge', ['group'], 'Live threads in the group (a single-threaded process counts one).'),
  cpu: def('forkwatch_cpu_seconds_total', 'counter', ['group'], 'CPU time spent by the group, user and system, in seconds.'),
  lifetime: def(
    'forkwatch_process_lifetime_seconds',
    'histogram',
    ['group'],
    'How long processes of the group lived, observed when they exit; buckets double from 1 ms (le = 2^i / 1000).',
  ),
  groupInfo: def(
    'forkwatch_group_info',
    'gauge',
    ['group', 'cgroup', 'kind', 'container_id', 'pod_uid', 'pod_name', 'pod_namespace', 'container', 'image', 'workload_kind', 'workload_name'],
    'Always 1: what a group is (its cgroup path, runtime kind, container and pod ids; with config kubernetes the pod, namespace, container, image and owning workload).',
  ),
  events: def('forkwatch_events_total', 'counter', ['type'], 'Kernel records read by the agent, by type.'),
  eventsLost: def(
    'forkwatch_events_lost_total',
    'counter',
    ['type'],
    'Kernel records dropped because the ring buffer was full, by type (counters in maps stay exact).',
  ),
  eventsInvalid: def(
    'forkwatch_events_invalid_total',
    'counter',
    [],
    'Kernel records skipped because they did not decode (a layout mismatch between the BPF object and the agent).',
  ),
  counterMapFull: def('forkwatch_cgroup_map_full_total', 'counter', [], 'Times the per-cgroup counter map had no room for a new cgroup.'),
  counterMapRows: def(
    'forkwatch_cgroup_map_rows',
    'gauge',
    [],
    'Rows in use in the per-cgroup counter map, of bpf.counter_entries: one per cgroup seen since start, until its removal is folded into its group.',
  ),
  groups: def('forkwatch_groups', 'gauge', [], 'Groups currently tracked.'),
  resyncs: def(
    'forkwatch_resyncs_total',
    'counter',
    [],
    'Times the agent rebuilt its process table from /proc: because the kernel lost records (at most one per 2 s), or because which records flow changed (a subscriber came, the last left, a cgroup became watched).',
  ),
  recordInterest: def(
    'forkwatch_record_interest',
    'gauge',
    ['mode'],
    'Which kernel events become records: 1 for the mode in force, all (an event stream subscriber, a rule by comm/exe/uid, default resources) or watched (only cgroups that beancounters or supervised programs watch). Counters count every event either way.',
  ),
  recordThreads: def(
    'forkwatch_record_threads',
    'gauge',
    [],
    '1 while thread create / exit records flow for every recorded cgroup (a subscriber asked for threads).',
  ),
  watchedCgroups: def('forkwatch_watched_cgroups', 'gauge', [], "Cgroups in the kernel's watched map, whose events become records in watched mode."),
  subscribers: def('forkwatch_event_subscribers', 'gauge', [], 'Event stream (/events) subscribers connected now, tail --from included.'),
  resyncCorrections: def(
    'forkwatch_resync_corrections_total',
    'counter',
    ['change'],
    'Processes those rebuilds corrected: removed (their exit was lost), added (their fork was lost), updated (a move, exec or threads was lost).',
  ),
  groupsOverflow: def(
    'forkwatch_groups_overflow_total',
    'counter',
    [],
    'Groups not created because groups.max_groups was reached; their processes count in group "other".',
  ),
  bpfRunSeconds: def(
    'forkwatch_bpf_program_run_seconds_total',
    'counter',
    ['program'],
    'Time the kernel spent running each forkwatch BPF program (needs kernel.bpf_stats_enabled or --bpf-stats).',
  ),
  bpfRuns: def(
    'forkwatch_bpf_program_runs_total',
    'counter',
    ['program'],
    'Times each forkwatch BPF program ran (needs kernel.bpf_stats_enabled or --bpf-stats).',
  ),
  bpfMisses: def(
    'forkwatch_bpf_program_recursion_misses_total',
    'counter',
    ['program'],
    'Times a forkwatch BPF program was skipped because it was already running on that CPU.',
  ),
  // Beancounters (per group and resource).
  held: def(
    'forkwatch_resource_held',
    'gauge',
    ['group', 'resource'],
    'Current value of a resource for the group (tasks, threads, forks_per_second, cpu_cores, memory_bytes).',
  ),
  maxheld: def('forkwatch_resource_maxheld', 'gauge', ['group', 'resource'], 'Highest value held within the accounting period.'),
  minheld: def('forkwatch_resource_minheld', 'gauge', ['group', 'resource'], 'Lowest value held within the accounting period.'),
  barrier: def('forkwatch_resource_barrier', 'gauge', ['group', 'resource'], 'Soft limit of the resource (absent when none is set).'),
  limit: def('forkwatch_resource_limit', 'gauge', ['group', 'resource'], 'Hard limit of the resource (absent when none is set).'),
  barrierHits: def('forkwatch_resource_barrier_hits_total', 'counter', ['group', 'resource'], 'Times held rose above the barrier (once per crossing).'),
  failcnt: def(
    'forkwatch_resource_failcnt_total',
    'counter',
    ['group', 'resource'],
    'Refusals: tasks and threads count each one past the limit (with kill: each process killed), other resources each rise above it; plus the forks and charges the kernel refused (pids.events, memory.events max).',
  ),
  releases: def(
    'forkwatch_group_releases_total',
    'counter',
    ['group'],
    "Groups of whole cgroups: times one of their cgroups that held tasks became empty (its last task, or the last below it, exited or moved out; the kernel's populated flag went to 0). Groups by comm, exe or uid: times the group's last process exited.",
  ),
  accountingLogErrors: def(
    'forkwatch_accounting_log_errors_total',
    'counter',
    ['reason'],
    'Failures of the accounting log, by reason: write (a write failed, a full disk for one; the record waits and is written later), rotate (a rotation failed; the file grows on), dropped (a waiting record was dropped: more than 1 MiB waited).',
  ),
  // Exporters (config export).
  exportEvents: def(
    'forkwatch_export_events_total',
    'counter',
    ['exporter', 'outcome'],
    'Events given to an exporter (nats, file, otlp), by outcome: sent (the engine took them: an ack, a write, a 2xx), dropped (lost for good: the buffer was full, retries were given up, the engine refused them, or the agent stopped with them queued).',
  ),
  exportQueued: def(
    'forkwatch_export_queued_events',
    'gauge',
    ['exporter'],
    "Events an exporter holds now (buffered while its engine is away, in flight, waiting for a retry): with the counter's outcomes, exactly what it was given.",
  ),
  // Supervised programs.
  programUp: def('forkwatch_program_up', 'gauge', ['program'], '1 while the program has a running process, else 0.'),
  programHealthy: def(
    'forkwatch_program_healthy',
    'gauge',
    ['program'],
    "1 while the program's health check passes, 0 while it is starting, failing or not running; only programs with a health check.",
  ),
  programRestarts: def('forkwatch_program_restarts_total', 'counter', ['program'], 'Times the supervisor restarted the program.'),
  programState: def(
    'forkwatch_program_state',
    'gauge',
    ['program', 'state'],
    "1 for the program's current state (running, starting, unhealthy, backoff, stopping, stopped, failed), 0 for the others.",
  ),
  programLastExit: def(
    'forkwatch_program_last_exit_code',
    'gauge',
    ['program'],
    "Exit status of the program's last run (128+signal when killed by a signal); absent before the first exit.",
  ),
  programRestartLatency: def('forkwatch_program_restart_latency_seconds', 'histogram', ['program'], 'From the last exit seen to the new process running.'),
} as const satisfies Record<string, MetricDef>;

export type MetricKey = keyof typeof METRICS;
