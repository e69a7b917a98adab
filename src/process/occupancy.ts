/**
 * Live processes per cgroup, kept from the same records as the process table. The kernel's exit
 * record arrives before the task has left cgroup.procs, so "this cgroup just emptied" is decided
 * here, from events, not by reading cgroupfs.
 */
import { EventType, Flags } from '../events/layout.js';
import type { RawEvent } from '../events/decode.js';
import type { ProcessInfo, TableChange } from './table.js';

export interface Emptied {
  cgroupId: number;
  /** wait(2) status of the process whose exit emptied it; null when it emptied by a move. */
  status: number | null;
}

export class CgroupOccupancy {
  private readonly live = new Map<number, number>();

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
    switch (e.type) {
      case EventType.FORK:
        if (change.after) this.add(change.after.cgroupId, 1);
        return undefined;
      case EventType.EXIT:
        if (change.before && this.add(change.before.cgroupId, -1)) return { cgroupId: change.before.cgroupId, status: e.status };
        return undefined;
      case EventType.MIGRATE: {
        const from = change.before?.cgroupId;
        if (change.after) this.add(change.after.cgroupId, 1);
        if (from !== undefined && from !== change.after?.cgroupId && this.add(from, -1)) return { cgroupId: from, status: null };
        return undefined;
      }
    }
    return undefined;
  }
}
