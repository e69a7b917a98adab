/**
 * The public event model: what `forkwatch tail --json` prints (one object a line) and what the
 * agent's event stream carries.
 */
import { EventType, Flags, SenderFlags } from './layout.js';
import type { RawEvent } from './decode.js';
import { decodeWaitStatus, signalName } from './exit-status.js';

export const PROCESS_EVENT_TYPES = ['fork', 'exec', 'exit', 'migrate'] as const;
export type ProcessEventType = (typeof PROCESS_EVENT_TYPES)[number];

export interface ProcessEvent {
  type: ProcessEventType;
  /** ISO 8601, UTC. */
  time: string;
  /** Host tgid. */
  pid: number;
  tid: number;
  ppid: number;
  comm: string;
  uid: number;
  /** Path under the cgroup root, e.g. /system.slice/cron.service. */
  cgroup: string;
  cgroup_id: number;
  /** The pid as seen inside the process's own pid namespace. */
  ns_pid: number;
  /** Present and true on thread create / thread exit records (tail --threads). */
  thread?: boolean;
  filename?: string;
  argv?: string[];
  argv_truncated?: boolean;
  exit_code?: number | null;
  signal?: string | null;
  core_dumped?: boolean;
  lifetime_s?: number;
  cpu_s?: number;
  /** exit: true when the OOM killer chose the process (its SIGKILL ended it). */
  oom_killed?: boolean;
  /** exit, OOM-killed: whose memory ran out, a memory cgroup at its limit or the whole system. */
  oom_scope?: 'cgroup' | 'system';
  /** exit, OOM-killed in a cgroup: that memory cgroup's id (its directory's inode under the memory controller's mount). */
  oom_cgroup_id?: number;
  /** exit by a signal seen sent: "kernel" (a fault, the OOM killer), or the process that sent it. */
  signal_sender?: SignalSender;
  /** exit: its working directory when it exec'd (with `filename`, `argv` and `argv_truncated` of that exec). */
  cwd?: string;
  /** exit: its parent's comm and executable, when the process table has the parent. */
  parent_comm?: string;
  parent_filename?: string;
  /** exit, with ancestors asked for: parent first, up to the last one in the same cgroup. */
  ancestors?: Ancestor[];
  from_cgroup?: string;
  /** Set by the agent's stream (not by tail on the host): which host, which group, which process. */
  node?: string;
  group?: string;
  /** Cluster-unique process id (boot id, pid, start time): stable across pid reuse and hosts. */
  id?: string;
  /** fork: the parent's cluster-unique id. */
  parent_id?: string;
  /** Position in the agent's stream, consecutive per stream run (a gap is a loss). */
  seq?: number;
}

/** The process that sent a fatal signal, as it was when it sent it; or "kernel". */
export type SignalSender = 'kernel' | { pid: number; comm: string; cgroup: string };

/** One ancestor of an exiting process, as the process table knows it. */
export interface Ancestor {
  /** Cluster-unique id, where the reader knows the boot (the agent's stream, tail). */
  id?: string;
  pid: number;
  comm: string;
  filename?: string;
}

/** What the process table knew of a process when it exited (src/process/identity.ts builds it). */
export interface ExitIdentity {
  filename?: string;
  argv?: string[];
  /** With argv: that exec's argv was cut to the kernel's budget, as `argv_truncated` of the exec event. */
  argv_truncated?: boolean;
  cwd?: string;
  parent_comm?: string;
  parent_filename?: string;
  ancestors?: Ancestor[];
}

/** A wait(2) status as the public model's exit_code / signal / core_dumped. */
export function decodeStatus(status: number): { exit_code: number | null; signal: string | null; core_dumped: boolean } {
  const s = decodeWaitStatus(status);
  return { exit_code: s.code, signal: s.signal === null ? null : signalName(s.signal), core_dumped: s.coreDumped };
}

export const TYPE_OF: Record<number, ProcessEventType | undefined> = {
  [EventType.FORK]: 'fork',
  [EventType.EXEC]: 'exec',
  [EventType.EXIT]: 'exit',
  [EventType.MIGRATE]: 'migrate',
};

/** Names that a RawEvent needs from outside the kernel record. */
export interface EnrichContext {
  iso(bootNs: number): string;
  cgroupPath(id: number): string;
}

/**
 * A process record in the public model; `fromCgroupId` is the previous cgroup on migrate, and
 * `identity` what the process table knew of a process that exited.
 */
export function toProcessEvent(e: RawEvent, ctx: EnrichContext, fromCgroupId?: number, identity?: ExitIdentity): ProcessEvent | undefined {
  const type = TYPE_OF[e.type];
  if (!type) return undefined;
  const out: ProcessEvent = {
    type,
    time: ctx.iso(e.ts),
    pid: e.pid,
    tid: e.tid,
    ppid: e.ppid,
    comm: e.comm,
    uid: e.uid,
    cgroup: ctx.cgroupPath(e.cgroupId),
    cgroup_id: e.cgroupId,
    ns_pid: e.nsPid,
  };
  if (e.flags & Flags.THREAD) out.thread = true;
  switch (e.type) {
    case EventType.EXEC:
      out.filename = e.filename;
      out.argv = e.argv ?? [];
      out.argv_truncated = (e.flags & Flags.ARGV_TRUNC) !== 0;
      break;
    case EventType.EXIT:
      Object.assign(out, decodeStatus(e.status));
      out.lifetime_s = round6(Math.max(0, e.ts - e.startNs) / 1e9);
      out.cpu_s = round6(e.cpuNs / 1e9);
      if (e.flags & Flags.SENDER) out.signal_sender = senderOf(e, ctx);
      if (e.flags & Flags.OOM) {
        out.oom_killed = true;
        out.oom_scope = e.oomMemcgId ? 'cgroup' : 'system';
        if (e.oomMemcgId) out.oom_cgroup_id = e.oomMemcgId;
      }
      if (identity && !out.thread) Object.assign(out, identity);
      break;
    case EventType.MIGRATE:
      out.from_cgroup = fromCgroupId === undefined ? undefined : ctx.cgroupPath(fromCgroupId);
      break;
  }
  return out;
}

/** An exit record's fatal signal came from the kernel (a fault, the OOM killer), not a process. */
export const sentByKernel = (e: RawEvent): boolean => (e.senderFlags & SenderFlags.KERNEL) !== 0 || e.senderPid === 0;

function senderOf(e: RawEvent, ctx: EnrichContext): SignalSender {
  if (sentByKernel(e)) return 'kernel';
  return { pid: e.senderPid, comm: e.senderComm, cgroup: ctx.cgroupPath(e.senderCgroupId) };
}

/** Seconds rounded to the microsecond, as the model prints durations. */
export function round6(x: number): number {
  return micros(x) / 1e6;
}

/** Seconds as whole microseconds, rounded as round6 rounds them. */
const micros = (seconds: number): number => Math.round(seconds * 1e6);

/**
 * `String(round6(ns / 1e9))` without printing a double (the slow kind of number printing): the
 * value is u micro-units, and for 0 <= u < 1e15 the shortest text of u / 1e6 is u's digits with the
 * point six from the right and the trailing zeros dropped (a decimal of at most 15 significant
 * digits is what its nearest double prints as). Anything else goes the general way.
 */
export function secondsJson(ns: number): string {
  const u = micros(ns / 1e9);
  if (!(u >= 0 && u < 1e15)) return String(u / 1e6);
  const whole = Math.floor(u / 1e6);
  const frac = u - whole * 1e6;
  if (frac === 0) return `${whole}`;
  const digits = `${frac}`.padStart(6, '0');
  let end = 6;
  while (digits.charCodeAt(end - 1) === 48) end--;
  return `${whole}.${end === 6 ? digits : digits.slice(0, end)}`;
}
