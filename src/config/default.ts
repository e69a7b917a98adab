/**
 * The one home of default values: those the loader fills in for every key a config leaves out,
 * the embedded default config the agent runs with when given none (a test checks that the two
 * agree), the BPF loader's options (the addon and the BPF object have no defaults of their own:
 * every value is passed from here), and the clients' and tail's own.
 */

/** Values filled in for absent keys; durations in seconds, sizes in bytes. */
export const DEFAULTS = {
  // The Prometheus exporter port range (9100-9999) is fully allocated, so forkwatch takes a port
  // outside it rather than squatting on another exporter's.
  listen: { host: '127.0.0.1', port: 10510 },
  cgroup_hierarchy: 'v2',
  bpf: {
    ring_buffer_bytes: 8 * 2 ** 20,
    argv_max_bytes: 2048,
    cpu_accounting: true,
    // Batching wake-ups this long costs little latency and saves most of the reader's wake-ups
    // under fork storms; 0 wakes the reader on every record.
    flush_interval_s: 0.002,
    counter_entries: 16384,
    // Records only where someone needs them (src/agent/interest.ts); the metrics of groups of
    // whole cgroups come from the kernel's rows either way.
    records_on_demand: true,
  },
  groups: { max_groups: 2000, evict_after_s: 300 },
  accounting: { period_s: null, log: { max_bytes: 16 * 2 ** 20, keep: 3 } },
  // Where the log relays write (program_logs): the unit's LogsDirectory, root's only.
  program_logs: { dir: '/var/log/forkwatch/programs', max_bytes: 16 * 2 ** 20, keep: 3 },
  /** Timeout for `exec` actions and `on_release` commands. */
  command_timeout_s: 10,
  // Like systemd's: restart what failed, back off, give up after a burst.
  program: {
    restart: 'on-failure',
    success_exit_codes: [0],
    backoff: { initial_s: 0.1, factor: 2, max_s: 30, reset_after_s: 60 },
    start_limit: { burst: 5, interval_s: 10 },
    retry_failed_after_s: null,
    stop_signal: 'SIGTERM',
    stop_timeout_s: 10,
    keep_running: false,
    // Docker's timing, but a first check at once (not after one interval) so `after:` waits less.
    health: { interval_s: 10, timeout_s: 5, start_period_s: 0, failure_threshold: 3 },
  },
  api: { socket: '/run/forkwatch/api.sock', subscriber_queue: 10_000, subscriber_queue_bytes: 4 * 2 ** 20, max_subscribers: 32 },
  /** The exporters (config/export.ts); nats.url, file.path and otlp.endpoint have no default. */
  export: {
    nats: { stream: 'FORKWATCH', subject_prefix: 'forkwatch', create_stream: true, replicas: 1, max_age_s: 86400, batch: 256, buffer_events: 100_000 },
    file: { max_bytes: 100 * 2 ** 20, keep: 5 },
    otlp: { compression: 'none', timeout_s: 10, batch_size: 512, flush_interval_s: 1, buffer: 10_000, max_backoff_s: 30 },
  },
  /** Talking to an agent (src/client): the CLI's calls, tail --from and watch(). */
  client: {
    /** A JSON call that has no answer by then fails. */
    timeout_s: 10,
    /** A lost event stream is opened again after retry_s, doubling up to retry_max_s. */
    retry_s: 0.5,
    retry_max_s: 5,
    /** Unread events a watcher holds before it stops reading (the agent then drops, and says so). */
    high_water: 4096,
  },
  /** tail --from: how long an event may wait for a slower agent, and how often the order is flushed. */
  tail: { window_s: 0.3, flush_s: 0.1 },
} as const;

/**
 * Every option of the addon's Probe (src/host/binding.ts ProbeOptions). The addon refuses an
 * option left out, and the BPF object's rodata starts at zero: the values come from here only.
 */
export interface FullProbeOptions {
  ringBytes: number;
  counterEntries: number;
  /** Direct-mapped counter rows (bpf/proc.bpf.c cg_fast): at most this many, rounded down to a power of two and to a memory budget. */
  fastRows: number;
  /** 0 for cgroup v2, else the v1 hierarchy id whose cgroups define groups. */
  cgroupHierarchy: number;
  argvMax: number;
  /** Thread records at start (records on demand: src/agent/interest.ts changes them later). */
  threadEvents: boolean;
  /** Records of every cgroup at start; the agent narrows them to watched cgroups once it knows them. */
  recordAll: boolean;
  /** Cgroups the kernel's watched map can hold; past it the agent asks for every record. */
  watchedEntries: number;
  /** Records waiting before the reader is woken, in bytes and in time (0 ns: every record). */
  wakeupBytes: number;
  wakeupNs: number;
  cpuAccounting: boolean;
  bpfStats: boolean;
  exitClaim: boolean;
  stageGapUs: number;
}

export const PROBE_DEFAULTS: Readonly<FullProbeOptions> = Object.freeze({
  ringBytes: DEFAULTS.bpf.ring_buffer_bytes,
  counterEntries: DEFAULTS.bpf.counter_entries,
  // Not a config key: cgroups beyond it (or sharing a slot) count as before, through the hash.
  fastRows: 1024,
  cgroupHierarchy: 0,
  argvMax: DEFAULTS.bpf.argv_max_bytes,
  threadEvents: false,
  // A probe that nobody narrows (forkwatch tail, tests) records everything, as before #13.
  recordAll: true,
  watchedEntries: 4096,
  // Not a config key: a burst this large wakes the reader before the flush interval ends.
  wakeupBytes: 256 * 2 ** 10,
  wakeupNs: Math.round(DEFAULTS.bpf.flush_interval_s * 1e9),
  cpuAccounting: DEFAULTS.bpf.cpu_accounting,
  bpfStats: false,
  exitClaim: false,
  stageGapUs: 0,
});

/** The Probe's options with every one set: those given (undefined counts as not given), else PROBE_DEFAULTS. */
export function probeOptions(given: Partial<FullProbeOptions>): FullProbeOptions {
  const out: FullProbeOptions = { ...PROBE_DEFAULTS };
  for (const key of Object.keys(PROBE_DEFAULTS) as (keyof FullProbeOptions)[]) {
    const v = given[key];
    if (v !== undefined) (out as unknown as Record<string, unknown>)[key] = v;
  }
  return out;
}

/** Largest argv budget the BPF program accepts (FW_ARGV_CAP in bpf/proc.h). */
export const ARGV_CAP = 16384;

/** The config the agent uses without `--config`; parseConfig() reads it like any file. */
export const DEFAULT_CONFIG_YAML = `# forkwatch embedded default: every cgroup is a group; no rules, no programs.
# Every key is described in docs/config.md.
listen: "127.0.0.1:10510"
# node_name: the host name
cgroup:
  hierarchy: v2
bpf:
  ring_buffer_bytes: 8MiB
  argv_max_bytes: 2048
  cpu_accounting: true
  flush_interval: 2ms
  counter_entries: 16384
  records_on_demand: true
groups: []
group_settings:
  max_groups: 2000
  evict_after: 5m
resources: {}
accounting:
  period: null
programs: []
api:
  socket: /run/forkwatch/api.sock
  redact: []
  subscriber_queue: 10000
  subscriber_queue_bytes: 4MiB
  max_subscribers: 32
`;
