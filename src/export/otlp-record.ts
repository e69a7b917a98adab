/**
 * One stream event as one OpenTelemetry log record: attributes named by the semantic conventions
 * where one exists (process.*, thread.id), forkwatch.* for the rest, and what the event says about
 * where it ran (container.id, k8s.pod.uid) as resource attributes, because a collector's
 * k8sattributes processor associates a pod by its resource, not by a record's attributes. Pure: the
 * exporter (otlp.ts) hands the result to the SDK.
 */
import type { AnyValue, LogAttributes } from '@opentelemetry/api-logs';
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { ProcessEvent } from '../events/model.js';
import { nameCgroup } from '../groups/naming.js';
import type { StreamEvent } from '../stream/bus.js';

/** Where the process ran, beyond the agent's own resource: container and pod, when the cgroup names them. */
export interface RecordOrigin {
  'container.id'?: string;
  'k8s.pod.uid'?: string;
}

/** What the SDK's Logger.emit takes, plus the origin that picks the record's resource. */
export interface EventRecord {
  eventName: string;
  /** [seconds, nanoseconds] since the epoch, from the event's time (microseconds). */
  timestamp: [number, number];
  severityNumber: SeverityNumber;
  severityText: string;
  body: string;
  attributes: LogAttributes;
  origin: RecordOrigin;
}

const PROCESS_TYPES = new Set(['fork', 'exec', 'exit', 'migrate']);

/** `2026-12-05T16:20:56.123456Z` as HrTime; a time that does not parse is the epoch (never thrown). */
export function hrTimeOf(iso: string): [number, number] {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return [0, 0];
  const seconds = Math.floor(ms / 1000);
  const frac = /\.(\d{1,9})Z$/.exec(iso);
  const nanos = frac ? Number(frac[1].padEnd(9, '0')) : (ms - seconds * 1000) * 1e6;
  return [seconds, nanos];
}

/**
 * The origin of a cgroup path, kept per path: the same few cgroups carry most events, and naming
 * one walks its segments. Cleared whole when it grows past its bound (paths come and go).
 */
export class OriginCache {
  private readonly byPath = new Map<string, RecordOrigin>();
  constructor(private readonly max = 4096) {}

  of(cgroup: string): RecordOrigin {
    let o = this.byPath.get(cgroup);
    if (o === undefined) {
      const id = nameCgroup(cgroup);
      o = {};
      if (id.container_id) o['container.id'] = id.container_id;
      if (id.pod_uid) o['k8s.pod.uid'] = id.pod_uid;
      if (this.byPath.size >= this.max) this.byPath.clear();
      this.byPath.set(cgroup, o);
    }
    return o;
  }
}

/** The log record of one event. */
export function eventRecord(e: StreamEvent, origins: OriginCache): EventRecord {
  return PROCESS_TYPES.has(e.type) ? processRecord(e as ProcessEvent, origins) : agentRecord(e);
}

function processRecord(e: ProcessEvent, origins: OriginCache): EventRecord {
  const a: LogAttributes = {
    'process.pid': e.pid,
    'process.parent_pid': e.ppid,
    'thread.id': e.tid,
    'process.vpid': e.ns_pid,
    'process.executable.name': e.comm,
    'process.user.id': e.uid,
    'forkwatch.cgroup.path': e.cgroup,
    'forkwatch.cgroup.id': e.cgroup_id,
  };
  let body = `${e.type} ${e.comm}[${e.pid}]`;
  let severity = SeverityNumber.INFO;
  if (e.thread) a['forkwatch.thread'] = true;
  if (e.filename !== undefined) {
    a['process.executable.path'] = e.filename;
    body += ` ${e.filename}`;
  }
  if (e.argv !== undefined) a['process.command_args'] = e.argv;
  if (e.argv_truncated) a['forkwatch.argv_truncated'] = true;
  if (e.type === 'exit') {
    if (e.exit_code !== undefined && e.exit_code !== null) {
      a['process.exit.code'] = e.exit_code;
      body += ` code ${e.exit_code}`;
    }
    if (e.signal) {
      a['forkwatch.exit.signal'] = e.signal;
      body += ` ${e.signal}`;
    }
    if (e.core_dumped) a['forkwatch.exit.core_dumped'] = true;
    if (e.lifetime_s !== undefined) a['forkwatch.process.lifetime_s'] = e.lifetime_s;
    if (e.cpu_s !== undefined) a['forkwatch.process.cpu_s'] = e.cpu_s;
    if ((e.exit_code !== undefined && e.exit_code !== null && e.exit_code !== 0) || e.signal) severity = SeverityNumber.WARN;
  }
  if (e.from_cgroup !== undefined) a['forkwatch.cgroup.from'] = e.from_cgroup;
  if (e.group !== undefined) a['forkwatch.group'] = e.group;
  if (e.id !== undefined) a['forkwatch.process.id'] = e.id;
  if (e.parent_id !== undefined) a['forkwatch.process.parent_id'] = e.parent_id;
  if (e.seq !== undefined) a['forkwatch.seq'] = e.seq;
  return {
    eventName: `forkwatch.${e.type}`,
    timestamp: hrTimeOf(e.time),
    severityNumber: severity,
    severityText: severity === SeverityNumber.WARN ? 'WARN' : 'INFO',
    body,
    attributes: a,
    origin: origins.of(e.cgroup),
  };
}

/** Keys every agent event has, carried elsewhere (event name, timestamp, the resource's host). */
const AGENT_SKIP = new Set(['type', 'time', 'node']);

/** Barrier, limit, release, restart: their own fields as forkwatch.<key>; a limit is a warning. */
function agentRecord(e: StreamEvent): EventRecord {
  const a: LogAttributes = {};
  for (const [k, v] of Object.entries(e)) {
    if (AGENT_SKIP.has(k) || v === undefined || v === null) continue;
    // The process a crossing or restart names is a process as the conventions name one.
    a[k === 'pid' && typeof v === 'number' ? 'process.pid' : `forkwatch.${k}`] = attributeValue(v);
  }
  const severity = e.type === 'limit' ? SeverityNumber.WARN : SeverityNumber.INFO;
  const subject = (e as { group?: string }).group ?? (e as { program?: string }).program ?? '';
  return {
    eventName: `forkwatch.${e.type}`,
    timestamp: hrTimeOf(e.time),
    severityNumber: severity,
    severityText: severity === SeverityNumber.WARN ? 'WARN' : 'INFO',
    body: subject ? `${e.type} ${subject}` : e.type,
    attributes: a,
    origin: {},
  };
}

/** A scalar or a list of scalars as it is; anything else as its JSON. */
function attributeValue(v: unknown): AnyValue {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')) return v;
  return JSON.stringify(v);
}
