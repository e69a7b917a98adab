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

/** What a record changed in the table. */
export interface TableChange {
  /** The process as it was before (migrate: its previous cgroup; exit: the removed entry). */
  before?: ProcessInfo;
  /** The process after the change (absent after its exit). */
  after?: ProcessInfo;
}

/** An entry for a process first seen by this record (it predates the table, or its fork was lost). */
function entryFrom(e: RawEvent): ProcessInfo {
  return { pid: e.pid, ppid: e.ppid, comm: e.comm, uid: e.uid, cgroupId: e.cgroupId, startNs: e.startNs, threads: 1 };
}

export class ProcessTable {
  private readonly procs = new Map<number, ProcessInfo>();

  /** Adds processes found in procfs at start. */
  seed(list: Iterable<ProcessInfo>): void {
    for (const p of list) this.procs.set(p.pid, { ...p });
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
          return { after: p };
        }
        const p: ProcessInfo = { ...entryFrom(e), exe: this.procs.get(e.ppid)?.exe };
        this.procs.set(e.pid, p);
        return { after: p };
      }
      case EventType.EXEC: {
        let p = this.procs.get(e.pid);
        if (!p) {
          p = entryFrom(e);
          this.procs.set(e.pid, p);
        }
        const before = { ...p };
        p.comm = e.comm;
        p.exe = e.filename;
        p.uid = e.uid;
        // exec kills the other threads (de_thread) before this record is written.
        p.threads = 1;
        return { before, after: p };
      }
      case EventType.EXIT: {
        const p = this.procs.get(e.pid);
        if (thread) {
          if (p && p.threads > 1) p.threads--;
          return { after: p };
        }
        this.procs.delete(e.pid);
        return { before: p };
      }
      case EventType.MIGRATE: {
        let p = this.procs.get(e.pid);
        if (!p) {
          p = entryFrom(e);
          this.procs.set(e.pid, p);
          return { after: p };
        }
        const before = { ...p };
        p.cgroupId = e.cgroupId;
        return { before, after: p };
      }
    }
    return {};
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
