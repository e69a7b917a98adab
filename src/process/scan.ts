/**
 * The processes procfs shows now, as process-table entries: one home for the seed at start
 * (the agent, `forkwatch tail`) and for the rescan after lost records (src/agent/resync.ts). The
 * reads are passed in (the agent's host), so the agent's scans run on a fake procfs in tests.
 */
import { cgroupIdOf, type Hierarchy } from '../host/cgroupfs.js';
import type { EventSource } from '../events/source.js';
import { readCwd, scanProcesses, type ProcSnapshot } from '../host/procfs.js';
import { ProcessTable, type ProcessInfo } from './table.js';

export interface EntryContext {
  hierarchyId: number;
  /** A cgroup path in the grouping hierarchy -> its id; undefined when it is gone (the entry gets 0). */
  cgroupId(path: string): number | undefined;
  /** CLOCK_BOOTTIME now, ns: no start time is later. */
  bootNow: number;
}

/**
 * A zombie has exited (its exit record is written before it turns zombie) unless it is a leader
 * whose other threads still run: the kernel counts a zombie leader in num_threads until it is
 * reaped, so a dead process shows 1 and a live one more.
 */
export const hasExited = (p: Pick<ProcSnapshot, 'state' | 'threads'>): boolean => (p.state === 'Z' || p.state === 'X') && p.threads <= 1;

/** Table entries for the running processes of a procfs listing. */
export function toEntries(list: Iterable<ProcSnapshot>, ctx: EntryContext): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const p of list) {
    if (hasExited(p)) continue;
    out.push({
      pid: p.pid,
      ppid: p.ppid,
      comm: p.comm,
      uid: p.uid,
      cgroupId: ctx.cgroupId(p.cgroups.get(ctx.hierarchyId) ?? '/') ?? 0,
      startNs: Math.min(p.startNs, ctx.bootNow),
      threads: p.threads,
      exe: p.exe,
    });
  }
  return out;
}

/** Where a scan reads from: procfs, and the cgroup ids of the paths it shows. */
export interface ScanReads {
  /** The processes procfs shows now. */
  processes(): Iterable<ProcSnapshot>;
  hierarchyId: number;
  /** A cgroup path -> its id (the names the records keep, else cgroupfs); undefined when gone. */
  cgroupId(path: string): number | undefined;
  /** CLOCK_BOOTTIME now, ns. */
  bootNow(): number;
}

/** The running processes, as table entries, read through `reads` (the agent's host). */
export function liveProcesses(reads: ScanReads): ProcessInfo[] {
  const list = reads.processes();
  return toEntries(list, { hierarchyId: reads.hierarchyId, cgroupId: (p) => reads.cgroupId(p), bootNow: reads.bootNow() });
}

/**
 * A process table seeded from this host's /proc (for `forkwatch tail`, which has no agent host).
 * Cgroups are named by the source; one made so recently that its mkdir record is not read yet
 * (or was lost) is looked up on cgroupfs.
 */
export function seedTable(source: EventSource, hierarchy: Hierarchy): ProcessTable {
  const table = new ProcessTable((pid) => readCwd(pid));
  table.seed(
    liveProcesses({
      processes: () => scanProcesses(),
      hierarchyId: hierarchy.id,
      cgroupId: (path) => source.names.idOf(path) ?? cgroupIdOf(hierarchy.mount, path),
      bootNow: () => source.clock.bootNow(),
    }),
  );
  return table;
}
