/**
 * The live process table: seeded once from procfs, then kept by fork / exec / exit / migrate
 * records alone (no rescans). It answers what events do not carry: a process's previous cgroup on
 * migrate, its executable, its descendants.
 */
import { EventType, Flags } from '../events/layout.js';
import type { RawEvent } from '../events/decode.js';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
  uid: number;
  cgroupId: number;
  startNs: number;
  threads: number;
  exe?: string;
}

/** What a record changed in the table. Both fields are always there (one object shape). */
export interface TableChange {
  /** The process as it was before (migrate: its previous cgroup; exit: the removed entry). */
  before: ProcessInfo | undefined;
  /** The process after the change (absent after its exit). */
  after: ProcessInfo | undefined;
}

/**
 * Every entry is made here, with all fields in one order, so V8 gives every entry one hidden
 * class: the stages after the table read them through monomorphic property loads. (Spreading an
 * entry and adding `exe` made a new hidden class per process, and every load a cache miss.)
 */
function entry(pid: number, ppid: number, comm: string, uid: number, cgroupId: number, startNs: number, threads: number, exe: string | undefined): ProcessInfo {
  return { pid, ppid, comm, uid, cgroupId, startNs, threads, exe };
}

const copy = (p: ProcessInfo): ProcessInfo => entry(p.pid, p.ppid, p.comm, p.uid, p.cgroupId, p.startNs, p.threads, p.exe);

/** An entry for a process first seen by this record (it predates the table, or its fork was lost). */
const entryFrom = (e: RawEvent, exe: string | undefined): ProcessInfo => entry(e.pid, e.ppid, e.comm, e.uid, e.cgroupId, e.startNs, 1, exe);

const change = (before: ProcessInfo | undefined, after: ProcessInfo | undefined): TableChange => ({ before, after });

const NO_CHANGE: TableChange = Object.freeze(change(undefined, undefined));

export class ProcessTable {
  private readonly procs = new Map<number, ProcessInfo>();

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
        const p = entryFrom(e, this.procs.get(e.ppid)?.exe);
        this.procs.set(e.pid, p);
        return change(undefined, p);
      }
      case EventType.EXEC: {
        let p = this.procs.get(e.pid);
        if (!p) {
          p = entryFrom(e, undefined);
          this.procs.set(e.pid, p);
        }
        const before = copy(p);
        p.comm = e.comm;
        p.exe = e.filename;
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
