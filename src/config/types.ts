import type { LinearRegExp } from './regex.js';

/**
 * The agent's configuration after validation: every default filled in, durations in seconds,
 * sizes in bytes. src/config/load.ts turns a YAML file (or the embedded default) into this.
 */

/** Resources a group is accounted for (beancounters). */
export const RESOURCE_NAMES = ['tasks', 'threads', 'forks_per_second', 'cpu_cores', 'memory_bytes'] as const;
export type ResourceName = (typeof RESOURCE_NAMES)[number];

/**
 * What happens when held crosses a barrier or a limit. `event` always happens: the loader puts
 * it first in every list whose threshold is set, so consumers simply run the list in order.
 */
export type Action =
  | { kind: 'event' }
  | { kind: 'exec'; command: string[]; timeout_s: number }
  | { kind: 'kill' } // tasks only: SIGKILL the newest processes above the limit
  | { kind: 'freeze' } // cgroup groups: cgroup.freeze, thawed when held falls back to the barrier
  | { kind: 'enforce' }; // a rule's cgroups: the kernel's own limit (pids.max, memory.max, memory.high), so forks and charges past it are refused

/**
 * Thresholds of one resource, in its unit (count, forks/s, cores, bytes); barrier <= limit.
 * A list is empty when its threshold is unset; a spec with neither threshold clears a default.
 */
export interface ResourceSpec {
  barrier?: number;
  limit?: number;
  on_barrier: Action[];
  on_limit: Action[];
}

export type ResourceLimits = Partial<Record<ResourceName, ResourceSpec>>;

/** How a user-defined group is recognised; every given field must match (AND). */
export interface GroupMatch {
  cgroup?: string; // glob on the cgroup path ("/system.slice/*.service"; ** crosses slashes)
  cgroup_regex?: LinearRegExp;
  comm?: LinearRegExp;
  exe?: LinearRegExp; // on the executable path (exec filename)
  uid?: number[];
}

export interface GroupRule {
  name: string;
  match: GroupMatch;
  resources: ResourceLimits;
  on_release?: { command: string[]; timeout_s: number };
}

export type RestartPolicy = 'always' | 'on-failure' | 'on-abnormal' | 'never';

export interface ProgramSpec {
  name: string;
  /** argv of the program to run; absent for a program that only watches a group. */
  command?: string[];
  cwd?: string;
  env: Record<string, string>;
  user?: string;
  group?: string;
  /** Watch an existing group (cgroup path, or a configured group's name) instead of starting one. */
  watch?: string;
  /** Run when a watched group empties. */
  restart_command?: string[];
  restart: RestartPolicy;
  success_exit_codes: number[];
  backoff: { initial_s: number; factor: number; max_s: number; reset_after_s: number };
  start_limit: { burst: number; interval_s: number };
  /** After `failed`, try again this much later; null: stay failed until started by hand. */
  retry_failed_after_s: number | null;
  stop_signal: NodeJS.Signals;
  stop_timeout_s: number;
  /** Leave the program running when the agent stops. */
  keep_running: boolean;
  /** Programs that must be running (and healthy, when checked) before this one starts; it stops before them. */
  after: string[];
  /** A liveness check; a program that fails it is restarted as after an abnormal exit. */
  health?: HealthCheckSpec;
}

/** What a health check asks: a command's exit status, an HTTP GET's status code, or a TCP connect. */
export type HealthProbe = { exec: string[] } | { http: string } | { tcp: { host: string; port: number } };

/** A program's health check and its timing. */
export interface HealthCheckSpec {
  probe: HealthProbe;
  interval_s: number;
  timeout_s: number;
  /** Failures this long after a start do not count (until the first success). */
  start_period_s: number;
  /** Consecutive failures that make the program unhealthy. */
  failure_threshold: number;
}

/** An exporter's filter: /events query parameters (cgroup, comm, pid, tree, events, threads, failed, group, ancestors). */
export type ExportFilter = Record<string, string>;

/** Who an agent is to NATS: at most one of user (with password_file), token_file, nkey_file (absolute paths, read at start). */
export interface NatsAuthConfig {
  user?: string;
  password_file?: string;
  token_file?: string;
  nkey_file?: string;
}

/**
 * TLS to NATS (absolute paths, read at start). Present: TLS is required, a server without it is
 * refused. ca_file: the servers' CA (absent: the system's); cert_file with key_file: this client's
 * certificate, for servers that verify clients (mutual TLS).
 */
export interface NatsTlsConfig {
  ca_file?: string;
  cert_file?: string;
  key_file?: string;
}

export interface NatsExportConfig extends NatsAuthConfig {
  /** nats:// or tls:// URLs of the cluster's servers; the client moves between them. */
  servers: string[];
  /** TLS required (a tls:// URL or the tls key); absent: plain TCP, unless the server offers TLS. */
  tls?: NatsTlsConfig;
  /** The JetStream stream the subjects `<subject_prefix>.<node>.<type>` are stored in. */
  stream: string;
  subject_prefix: string;
  /** Create the stream (replicas, max_age) when it does not exist; false: an operator made it. */
  create_stream: boolean;
  replicas: number;
  /** How long the stream keeps an event (0: until limits); used when creating it. */
  max_age_s: number;
  /** Publishes out at once, before their acks (at most buffer_events of them). */
  batch: number;
  /** Events held while the server is away; past this the oldest are dropped (counted). */
  buffer_events: number;
  filter: ExportFilter;
}

export interface FileExportConfig {
  /** An absolute path, or '-' for standard output. */
  path: string;
  /** The file is rotated (path.1, path.2, …) before a line would take it past this. */
  max_bytes: number;
  /** Rotated files kept. */
  keep: number;
  filter: ExportFilter;
}

export interface OtlpExportConfig {
  /** The collector's OTLP/HTTP logs URL, e.g. http://127.0.0.1:4318/v1/logs. */
  endpoint: string;
  /** Sent with every request (e.g. authorization); names lower-cased. */
  headers: Record<string, string>;
  compression: 'none' | 'gzip';
  /** One request, with the SDK's own retries of 429/502/503/504 inside it. */
  timeout_s: number;
  /** Records per request at most. */
  batch_size: number;
  /** The longest a record waits for a fuller batch. */
  flush_interval_s: number;
  /** Records held at most (waiting and in flight); past it the oldest waiting are dropped, counted. */
  buffer: number;
  /** Failed requests are tried again after 1s, doubling up to this. */
  max_backoff_s: number;
  filter: ExportFilter;
}

export interface Config {
  /** Where the config came from ("<embedded default>" or a file path), for messages. */
  source: string;
  listen: { host: string; port: number };
  node_name: string;
  cgroup: {
    /** 'v2', or a cgroup v1 hierarchy named by a controller or name= ("cpuacct", "name=systemd"). */
    hierarchy: string;
  };
  bpf: {
    ring_buffer_bytes: number;
    argv_max_bytes: number;
    cpu_accounting: boolean;
    flush_interval_s: number;
    counter_entries: number;
    /** Records only for the cgroups that need them (src/agent/interest.ts); false: every event. */
    records_on_demand: boolean;
  };
  groups: {
    rules: GroupRule[];
    /** At most this many groups are exported; more go to the `other` group. */
    max_groups: number;
    /** Groups nobody configured are forgotten after being empty this long. */
    evict_after_s: number;
  };
  /** Defaults for every group; a rule's own resources override them per resource. */
  resources: ResourceLimits;
  accounting: {
    /** beancounter period for maxheld/minheld; null: the agent's life. */
    period_s: number | null;
    log?: { path: string; max_bytes: number; keep: number };
  };
  programs: ProgramSpec[];
  /** Each program's stdout/stderr to DIR/<name>.log through a log relay; absent: to the agent's log. */
  program_logs?: { dir: string; max_bytes: number; keep: number };
  api: {
    /** Root-only unix socket for the API that changes state. */
    socket: string;
    /** A bearer token file for reading on TCP: /events. */
    token_file?: string;
    /** A bearer token file for control on TCP: POST /api/programs/… (and reading too). */
    control_token_file?: string;
    /** argv words matching one of these are redacted in the event stream. */
    redact: LinearRegExp[];
    /** Events each stream subscriber may have queued before its oldest are dropped (and counted). */
    subscriber_queue: number;
    /** Bytes (of JSON) each stream subscriber may have queued before its oldest are dropped. */
    subscriber_queue_bytes: number;
    /** /events streams served at once; more are answered 503. */
    max_subscribers: number;
  };
  /** Where the event stream leaves the host; each exporter absent when not configured. */
  export: { nats?: NatsExportConfig; file?: FileExportConfig; otlp?: OtlpExportConfig };
  /** Pods' groups named by the Kubernetes pod list (namespace, pod, container, image, workload); absent: uids only. */
  kubernetes?: {
    /** A PodList URL (API server: listed and watched; kubelet: polled); `{node}` is replaced by node_name. */
    pods_url: string;
    /** Bearer token sent with the request (a service account token). */
    token_file?: string;
    /** CA bundle for an https URL (the service account's ca.crt). */
    ca_file?: string;
    /** For a URL that cannot be watched: how often the list is read again (an unknown pod uid also asks for it, at most this often). */
    refresh_s: number;
  };
}
