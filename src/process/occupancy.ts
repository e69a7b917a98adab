/**
 * Live processes per cgroup, kept from the same records as the process table. The kernel's exit
 * record arrives before the task has left cgroup.procs, so "this cgroup just emptied" is decided
 * here, from events, not by reading cgroupfs. After lost records it is counted again from the
 * reconciled table (src/agent/resync.ts).
 */
import { EventType, Flags } from '../events/layout.js';
import type { RawEvent } from '../events/decode.js';
import type { ProcessInfo, TableChange } from './table.js';

export interface Emptied {
  cgroupId: number;
  /**
   * wait(2) status of the process whose exit emptied it; null when nobody knows it: it emptied by
   * a move, or while records were lost (a reused pid or a rescan showed its last process gone, or
   * the exit was of a process the table did not have).
   */
  status: number | null;
}

export class CgroupOccupancy {
  private live = new Map<number, number>();

  seed(processes: Iterable<ProcessInfo>): void {
    for (const p of processes) this.add(p.cgroupId, 1);
  }

  count(cgroupId: number): number {
    return this.live.get(cgroupId) ?? 0;
  }

  private add(id: number, n: number): boolean {
    const v = (this.live.get(id) ?? 0) + n;
    if (v > 0) {
      this.live.set(id, v);
      return false;
    }
    this.live.delete(id);
    return true;
  }

  /** Applies a record; returns the cgroup it emptied, if any. */
  apply(e: RawEvent, change: TableChange): Emptied | undefined {
    if (e.flags & Flags.THREAD) return undefined;
    const { before, after } = change;
    switch (e.type) {
      case EventType.FORK:
        if (before === after) return undefined; // already counted by a rescan
        if (after) this.add(after.cgroupId, 1);
        // A reused pid: the entry it replaces had exited unseen.
        if (before && this.add(before.cgroupId, -1)) return { cgroupId: before.cgroupId, status: null };
        return undefined;
      case EventType.EXEC:
        if (!before && after) this.add(after.cgroupId, 1); // its fork was lost: first seen here
        return undefined;
      case EventType.EXIT:
        if (before) return this.add(before.cgroupId, -1) ? { cgroupId: before.cgroupId, status: e.status } : undefined;
        // A process the table does not have (its fork was lost, or a rescan already took it out)
        // left a cgroup believed empty: that may have been its last process. Its status is not the
        // cgroup's: it may be any late process's (a child's 0 after a program's main exited 3), so
        // the emptying carries none. Repeats are harmless; the supervisor checks cgroup.procs.
        return this.count(e.cgroupId) === 0 ? { cgroupId: e.cgroupId, status: null } : undefined;
      case EventType.MIGRATE: {
        const from = before?.cgroupId;
        if (from === after?.cgroupId) return undefined;
        if (after) this.add(after.cgroupId, 1);
        if (from !== undefined && this.add(from, -1)) return { cgroupId: from, status: null };
        return undefined;
      }
    }
    return undefined;
  }

  /**
   * Counts again from the reconciled table; returns the cgroups that had processes and have none
   * now (they emptied while records were lost: how their last process ended is unknown).
   */
  rebuild(processes: Iterable<ProcessInfo>): number[] {
    const was = this.live;
    this.live = new Map();
    this.seed(processes);
    const emptied: number[] = [];
    for (const id of was.keys()) if (!this.live.has(id)) emptied.push(id);
    return emptied;
  }
}
