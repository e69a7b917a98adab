/**
 * The live process table: seeded from procfs, then kept by fork / exec / exit / migrate records.
 * It answers what events do not carry: a process's previous cgroup on migrate, its executable,
 * its descendants. After the kernel lost records it is reconciled with procfs again
 * (src/agent/resync.ts): a process is the same one when its pid and its start time agree.
 */
import { EventType, Flags } from '../events/layout.js';
import type { RawEvent } from '../events/decode.js';
import { START_TICK_NS, type ProcCwd } from '../host/procfs.js';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
  uid: number;
  cgroupId: number;
  startNs: number;
  threads: number;
  exe?: string;
  /** argv of the last exec (inherited across a fork), as the record carried it; absent when not seen. */
  argv?: string[];
  /** That exec record's argv was cut to the kernel's budget (FW_F_ARGV_TRUNC); absent with argv. */
  argvTruncated?: boolean;
  /**
   * Working directory when the exec record was read (inherited across a fork); absent when not
   * read, or when the pid was by then another process's (its start time was not the record's).
   */
  cwd?: string;
}

/**
 * What a record changed in the table. Both fields are always there (one object shape).
 *
 * A fork reports `before` only in two cases: `before === after` when the process was already in
 * the table (a procfs scan that ran after the fork put it there: count the fork, not the task
 * again); another entry when its pid was reused, so that entry's exit record was lost.
 */
export interface TableChange {
  /** The process as it was before (migrate: its previous cgroup; exit: the removed entry). */
  before: ProcessInfo | undefined;
  /** The process after the change (absent after its exit). */
  after: ProcessInfo | undefined;
}

/** What a reconcile with procfs corrected, in processes. */
export interface Reconciled {
  /** In the table but not running (their exit records were lost), or their pid now another process's. */
  removed: number;
  /** Running but not in the table (their fork records were lost). */
  added: number;
  /** In both, with a cgroup, thread count, name or parent that records had not told (lost too). */
  updated: number;
}

/**
 * Whether two start times (CLOCK_BOOTTIME ns) are one process's: records carry the exact time,
 * procfs the time rounded down to a tick, so they are compared in ticks. A pid reused within the
 * same 10 ms tick would need the whole pid space to wrap in that time.
 */
export const sameStart = (a: number, b: number): boolean => Math.floor(a / START_TICK_NS) === Math.floor(b / START_TICK_NS);

/**
 * Every entry is made here, with all fields in one order, so V8 gives every entry one hidden
 * class: the stages after the table read them through monomorphic property loads. (Spreading an
 * entry and adding `exe` made a new hidden class per process, and every load a cache miss.)
 */
function entry(
  pid: number,
  ppid: number,
  comm: string,
  uid: number,
  cgroupId: number,
  startNs: number,
  threads: number,
  exe: string | undefined,
  argv: string[] | undefined,
  argvTruncated: boolean | undefined,
  cwd: string | undefined,
): ProcessInfo {
  return { pid, ppid, comm, uid, cgroupId, startNs, threads, exe, argv, argvTruncated, cwd };
}

const copy = (p: ProcessInfo): ProcessInfo => entry(p.pid, p.ppid, p.comm, p.uid, p.cgroupId, p.startNs, p.threads, p.exe, p.argv, p.argvTruncated, p.cwd);

/** An entry for a process first seen by this record (it predates the table, or its fork was lost): what it runs, from its parent or its exec. */
const entryFrom = (e: RawEvent, from: Pick<ProcessInfo, 'exe' | 'argv' | 'argvTruncated' | 'cwd'> | undefined): ProcessInfo =>
  entry(e.pid, e.ppid, e.comm, e.uid, e.cgroupId, e.startNs, 1, from?.exe, from?.argv, from?.argvTruncated, from?.cwd);

const change = (before: ProcessInfo | undefined, after: ProcessInfo | undefined): TableChange => ({ before, after });

const NO_CHANGE: TableChange = Object.freeze(change(undefined, undefined));

export class ProcessTable {
  private readonly procs = new Map<number, ProcessInfo>();

  /**
   * @param readCwd a pid's working directory now and the start time of the process that pid is
   * (the host's procfs), read at an exec record; none: not kept
   */
  constructor(private readonly readCwd?: (pid: number) => ProcCwd | undefined) {}

  /** The working directory of the process that exec'd, if its pid is still that process. */
  private cwdAtExec(e: RawEvent): string | undefined {
    const r = this.readCwd?.(e.pid);
    return r && sameStart(r.startNs, e.startNs) ? r.cwd : undefined;
  }

  /** Adds processes found in procfs at start. */
  seed(list: Iterable<ProcessInfo>): void {
    for (const p of list) this.procs.set(p.pid, copy(p));
  }

  get(pid: number): ProcessInfo | undefined {
    return this.procs.get(pid);
  }

  get size(): number {
    return this.procs.size;
  }

  values(): IterableIterator<ProcessInfo> {
    return this.procs.values();
  }

  /** Applies one record; returns what changed (used for migrate's from_cgroup and exit's entry). */
  apply(e: RawEvent): TableChange {
    const thread = (e.flags & Flags.THREAD) !== 0;
    switch (e.type) {
      case EventType.FORK: {
        if (thread) {
          const p = this.procs.get(e.pid);
          if (p) p.threads++;
          return change(undefined, p);
        }
        const known = this.procs.get(e.pid);
        if (known && sameStart(known.startNs, e.startNs)) return change(known, known);
        const p = entryFrom(e, this.procs.get(e.ppid));
        this.procs.set(e.pid, p);
        return change(known, p);
      }
      case EventType.EXEC: {
        const p = this.procs.get(e.pid);
        const cwd = this.cwdAtExec(e);
        const argv = e.argv ?? undefined;
        const argvTruncated = argv && (e.flags & Flags.ARGV_TRUNC) !== 0;
        if (!p) {
          // Its fork record was lost: the process enters the table here.
          const adopted = entryFrom(e, { exe: e.filename, argv, argvTruncated, cwd });
          this.procs.set(e.pid, adopted);
          return change(undefined, adopted);
        }
        const before = copy(p);
        p.comm = e.comm;
        p.exe = e.filename;
        p.argv = argv;
        p.argvTruncated = argvTruncated;
        p.cwd = cwd;
        p.uid = e.uid;
        // exec kills the other threads (de_thread) before this record is written.
        p.threads = 1;
        return change(before, p);
      }
      case EventType.EXIT: {
        const p = this.procs.get(e.pid);
        if (thread) {
          if (p && p.threads > 1) p.threads--;
          return change(undefined, p);
        }
        this.procs.delete(e.pid);
        return change(p, undefined);
      }
      case EventType.MIGRATE: {
        let p = this.procs.get(e.pid);
        if (!p) {
          p = entryFrom(e, undefined);
          this.procs.set(e.pid, p);
          return change(undefined, p);
        }
        const before = copy(p);
        p.cgroupId = e.cgroupId;
        return change(before, p);
      }
    }
    return NO_CHANGE;
  }

  /**
   * Makes the table what procfs shows now (`live`, read after every record before it was
   * applied): entries whose process is gone or whose pid is another process's now are dropped,
   * missing processes are added, and the facts records would have changed are taken from procfs.
   * The exact start time and the executable from records are kept: procfs has the start rounded
   * and the exe resolved through symlinks, and an exe rule must not flip on a rescan.
   */
  reconcile(live: Iterable<ProcessInfo>): Reconciled {
    const out: Reconciled = { removed: 0, added: 0, updated: 0 };
    const seen = new Set<number>();
    for (const s of live) {
      seen.add(s.pid);
      const p = this.procs.get(s.pid);
      if (p && sameStart(p.startNs, s.startNs)) {
        if (this.update(p, s)) out.updated++;
        continue;
      }
      if (p) out.removed++;
      this.procs.set(s.pid, copy(s));
      out.added++;
    }
    for (const pid of this.procs.keys()) {
      if (seen.has(pid)) continue;
      this.procs.delete(pid);
      out.removed++;
    }
    return out;
  }

  /**
   * Takes from procfs what lost records would have changed (cgroup, threads; name and exe after
   * an exec) and what no record reports (a new parent after reparenting, a uid changed without
   * exec); true when the former differed.
   */
  private update(p: ProcessInfo, s: ProcessInfo): boolean {
    p.ppid = s.ppid;
    p.uid = s.uid;
    const execd = p.comm !== s.comm; // an exec record was lost (or the process renamed itself)
    if (!execd && p.cgroupId === s.cgroupId && p.threads === s.threads) return false;
    p.cgroupId = s.cgroupId;
    p.threads = s.threads;
    if (execd) {
      p.comm = s.comm;
      p.exe = s.exe;
      p.argv = s.argv;
      p.argvTruncated = s.argvTruncated;
      p.cwd = s.cwd;
    }
    return true;
  }

  /** pid and every live descendant of it. */
  descendants(pid: number): Set<number> {
    const children = new Map<number, number[]>();
    for (const p of this.procs.values()) {
      const list = children.get(p.ppid);
      if (list) list.push(p.pid);
      else children.set(p.ppid, [p.pid]);
    }
    const out = new Set<number>([pid]);
    const stack = [pid];
    while (stack.length) {
      for (const c of children.get(stack.pop()!) ?? []) {
        if (!out.has(c)) {
          out.add(c);
          stack.push(c);
        }
      }
    }
    return out;
  }
}
