/**
 * Per-group live state from the event stream: which group each process is in, live tasks and
 * threads, counts from events, lifetimes. Pure: events and the process table's changes come in,
 * notices of what changed go out (for beancounters, release records, the supervisor). After lost
 * records, live counts are rebuilt from the reconciled table (resync), never from guesses.
 */
import type { RawEvent } from '../events/decode.js';
import { decodeWaitStatus } from '../events/exit-status.js';
import { EventType, Flags } from '../events/layout.js';
import type { ProcessInfo, TableChange } from '../process/table.js';
import { signalSlot, type Group, type GroupRegistry } from './registry.js';

/** What an event did to groups, for the stages after this one. */
export interface GroupNotice {
  kind: 'entered' | 'left';
  group: Group;
  /** The process, as the table had it. */
  process: ProcessInfo;
  /** 'left' through exit: the wait(2) status; through a move: null. */
  status: number | null;
  /** Set on exits: the process's lifetime and CPU, seconds. */
  lifetimeS?: number;
  cpuS?: number;
}

/** A group whose live counts a resync corrected. */
export interface GroupCorrection {
  group: Group;
  tasks: { was: number; now: number };
  threads: { was: number; now: number };
}

export class GroupTracker {
  private readonly member = new Map<number, Group>();

  constructor(
    private readonly registry: GroupRegistry,
    private readonly now: () => number,
  ) {}

  private facts(p: ProcessInfo) {
    return { comm: p.comm, exe: p.exe, uid: p.uid };
  }

  private enter(g: Group, p: ProcessInfo, threads: number): void {
    this.member.set(p.pid, g);
    g.tasks++;
    g.threads += threads;
    g.emptySince = null;
  }

  private leave(g: Group, threads: number): void {
    g.tasks = Math.max(0, g.tasks - 1);
    g.threads = Math.max(0, g.threads - threads);
    if (g.tasks === 0) g.emptySince = this.now();
  }

  /** Places the processes found at start (from the seeded process table). */
  seed(processes: Iterable<ProcessInfo>): void {
    for (const p of processes) this.enter(this.registry.forProcess(p.cgroupId, this.facts(p)), p, p.threads);
  }

  /** The group a live process is in. */
  groupOf(pid: number): Group | undefined {
    return this.member.get(pid);
  }

  /** Moves a live process to the group its facts now say (after exec, migrate or a reload). */
  private place(p: ProcessInfo, out: GroupNotice[]): Group {
    const was = this.member.get(p.pid);
    const now = this.registry.forProcess(p.cgroupId, this.facts(p));
    if (was === now) return now;
    if (was) {
      this.leave(was, p.threads);
      out.push({ kind: 'left', group: was, process: p, status: null });
    }
    this.enter(now, p, p.threads);
    out.push({ kind: 'entered', group: now, process: p, status: null });
    return now;
  }

  /** Re-places every live process (after a config reload changed the rules). */
  replace(processes: Iterable<ProcessInfo>): GroupNotice[] {
    const out: GroupNotice[] = [];
    for (const p of processes) this.place(p, out);
    return out;
  }

  /**
   * After the process table was reconciled with procfs: every live process is placed again, and
   * every group's tasks and threads are counted from its members, so nothing a lost record left
   * behind survives. No exit is invented: a group emptied here gets no release (that needs the
   * status of its last exit). Returns the groups whose counts changed.
   */
  resync(processes: Iterable<ProcessInfo>): GroupCorrection[] {
    const was = new Map<Group, { tasks: number; threads: number }>();
    const note = (g: Group) => {
      if (!was.has(g)) was.set(g, { tasks: g.tasks, threads: g.threads });
    };
    for (const g of this.member.values()) note(g);
    for (const g of this.registry.all()) note(g);
    this.member.clear();
    for (const g of was.keys()) {
      g.tasks = 0;
      g.threads = 0;
    }
    for (const p of processes) {
      const g = this.registry.forProcess(p.cgroupId, this.facts(p));
      note(g);
      this.member.set(p.pid, g);
      g.tasks++;
      g.threads += p.threads;
    }
    const now = this.now();
    const out: GroupCorrection[] = [];
    for (const [g, w] of was) {
      if (g.tasks > 0) g.emptySince = null;
      else if (w.tasks > 0) g.emptySince = now;
      if (g.tasks !== w.tasks || g.threads !== w.threads)
        out.push({ group: g, tasks: { was: w.tasks, now: g.tasks }, threads: { was: w.threads, now: g.threads } });
    }
    return out;
  }

  /** Applies one record (after the process table has); returns what changed group-wise. */
  apply(e: RawEvent, change: TableChange): GroupNotice[] {
    const thread = (e.flags & Flags.THREAD) !== 0;
    switch (e.type) {
      case EventType.FORK: {
        if (thread) {
          const g = this.member.get(e.pid);
          if (g) {
            g.threads++;
            g.events.threads++;
          }
          return [];
        }
        const p = change.after!;
        const out: GroupNotice[] = [];
        const known = change.before === p ? this.member.get(p.pid) : undefined;
        if (change.before && !known) {
          // The pid was reused: its previous process exited unseen (no status, so no release).
          const was = this.member.get(p.pid);
          if (was) {
            this.leave(was, change.before.threads);
            out.push({ kind: 'left', group: was, process: change.before, status: null });
          }
        }
        // A rescan that ran after this fork already counted the task: count the fork only.
        const g = known ?? this.registry.forProcess(p.cgroupId, this.facts(p));
        if (!known) this.enter(g, p, 1);
        g.events.forks++;
        out.push({ kind: 'entered', group: g, process: p, status: null });
        return out;
      }
      case EventType.EXIT: {
        if (thread) {
          const g = this.member.get(e.pid);
          if (g) g.threads = Math.max(0, g.threads - 1);
          return [];
        }
        const p = change.before;
        const g = this.member.get(e.pid);
        this.member.delete(e.pid);
        if (!g || !p) return [];
        this.leave(g, p.threads);
        const exit = decodeWaitStatus(e.status);
        if (exit.signal !== null) {
          g.events.exitsSignaled++;
          g.events.signals[signalSlot(exit.signal)]++;
          if (e.flags & Flags.OOM) g.events.oomKills++;
        } else if (exit.code !== 0) g.events.exitsFailure++;
        else g.events.exitsSuccess++;
        g.events.cpuNs += e.cpuNs;
        const lifetimeS = Math.max(0, e.ts - e.startNs) / 1e9;
        g.observeLifetime(lifetimeS);
        return [{ kind: 'left', group: g, process: p, status: e.status, lifetimeS, cpuS: e.cpuNs / 1e9 }];
      }
      case EventType.EXEC:
      case EventType.MIGRATE: {
        const out: GroupNotice[] = [];
        const now = this.place(change.after!, out);
        if (e.type === EventType.EXEC) now.events.execs++;
        return out;
      }
    }
    return [];
  }
}
