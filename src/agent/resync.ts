/**
 * Resynchronisation after lost records. The process table, the groups' live counts and the
 * cgroups' occupancy are kept by records; a full ring drops records (the kernel counts the drops
 * per type), and an exit that never arrives leaves a phantom task no later record removes, a fork
 * that never arrives a process nobody counts. When the kernel's lost counters rise, that state is
 * rebuilt from what the kernel shows now: procfs for the processes, the per-cgroup counter map for
 * the cgroups that saw exits.
 *
 * When: the agent reads the lost counters once a second (its housekeeping tick), not per batch.
 * Under load a batch comes every flush interval (2 ms): a map read per batch would put 500 extra
 * syscalls a second on the busiest path to learn of a loss under a second sooner, for a rescan
 * that the rate limit below holds back anyway.
 *
 * Cost: a rescan reads four files per process, on the event loop (1-2 ms per hundred processes
 * on a busy 2-core machine). It starts at most once per `minGapMs`, and never sooner than
 * `costFactor` times the last rescan's own duration after it, so a storm that keeps losing
 * records spends at most 1/costFactor of the loop on rescans; the first rescan after the losses
 * stop makes the state right.
 *
 * Records written while procfs is read are applied after the rescan: the process table knows a
 * fork it already has (same pid and start time) and does not count the task twice; an exit of a
 * process the rescan no longer saw finds no entry and changes nothing. Thread records in that
 * window can leave a process's thread count off by the threads that came or went during the read,
 * until the process exits or the next rescan.
 */
import type { GroupCorrection, GroupTracker } from '../groups/tracker.js';
import type { CgroupOccupancy } from '../process/occupancy.js';
import type { ProcessInfo, ProcessTable, Reconciled } from '../process/table.js';

export interface ResyncDeps {
  table: ProcessTable;
  tracker: GroupTracker;
  occupancy: CgroupOccupancy;
  /** Applies what the ring holds now, so that the rescan is newer than every record applied. */
  drain(): void;
  /** The running processes, from procfs now. */
  scan(): ProcessInfo[];
  /** Process exits per cgroup id, as the kernel's counters have them (cumulative). */
  exits(): Map<number, number>;
  /** Whether a cgroup id still exists (an emptied cgroup that is gone is not reported). */
  exists(cgroupId: number): boolean;
  /** Monotonic milliseconds. */
  clock(): number;
}

export interface ResyncLimits {
  minGapMs: number;
  costFactor: number;
}

/** At most one rescan per 2 s, and at most 2% of the event loop (1/50) while losses go on. */
export const RESYNC_LIMITS: ResyncLimits = { minGapMs: 2000, costFactor: 50 };

/** What one resync found and did. */
export interface ResyncReport extends Reconciled {
  /** Records lost since the previous resync (by the kernel's counters). */
  lost: number;
  groups: GroupCorrection[];
  /** Cgroups that emptied while records were lost (reported with an unknown status). */
  emptied: number[];
  ms: number;
}

export class Resync {
  /** Resyncs done, and processes they corrected: for forkwatch_resync*_total. */
  readonly totals = { resyncs: 0, removed: 0, added: 0, updated: 0, forced: 0 };
  /** The lost total the last resync covered. */
  private covered = 0;
  private lastEnd = -Infinity;
  private lastCostMs = 0;
  private exitsSeen = new Map<number, number>();

  constructor(
    private readonly d: ResyncDeps,
    private readonly limits: ResyncLimits = RESYNC_LIMITS,
  ) {}

  /** When the next resync may start (monotonic ms). */
  get notBefore(): number {
    return this.lastEnd + Math.max(this.limits.minGapMs, this.limits.costFactor * this.lastCostMs);
  }

  /** Given the kernel's lost total: resyncs when records were lost since the last one and the limit allows. */
  maybe(lostTotal: number): ResyncReport | undefined {
    if (lostTotal <= this.covered) return undefined;
    if (this.d.clock() < this.notBefore) return undefined;
    return this.run(lostTotal);
  }

  /**
   * A rescan asked for because which records flow changed (src/agent/interest.ts): now, whatever
   * the rate limit (a new subscriber must not wait for it), and counted like the others.
   */
  force(lostTotal: number): ResyncReport {
    this.totals.forced++;
    return this.run(lostTotal);
  }

  /** Rebuilds the live state from the kernel now (`lostTotal`: the lost counters read just before). */
  run(lostTotal: number): ResyncReport {
    const start = this.d.clock();
    const lost = lostTotal - this.covered;
    this.covered = lostTotal;
    this.d.drain();
    const fixed = this.d.table.reconcile(this.d.scan());
    const groups = this.d.tracker.resync(this.d.table.values());
    const emptied = new Set(this.d.occupancy.rebuild(this.d.table.values()));
    // A cgroup the table never knew to be populated (its forks were lost too) may have emptied as
    // well: any cgroup with exits since the last resync that has no process now is reported.
    const exits = this.d.exits();
    for (const [id, n] of exits) {
      if (n > (this.exitsSeen.get(id) ?? 0) && this.d.occupancy.count(id) === 0) emptied.add(id);
    }
    this.exitsSeen = exits;
    const end = this.d.clock();
    this.lastEnd = end;
    this.lastCostMs = end - start;
    this.totals.resyncs++;
    this.totals.removed += fixed.removed;
    this.totals.added += fixed.added;
    this.totals.updated += fixed.updated;
    return { ...fixed, lost, groups, emptied: [...emptied].filter((id) => this.d.exists(id)), ms: end - start };
  }
}

/** The log line of a resync: what was lost, what was corrected, and where (names quoted: they come from cgroup paths). */
export function describeResync(r: ResyncReport): string {
  const shown = [...r.groups].sort((a, b) => Math.abs(b.tasks.now - b.tasks.was) - Math.abs(a.tasks.now - a.tasks.was)).slice(0, 5);
  const groups = shown.map((g) => `${JSON.stringify(g.group.name)} ${g.tasks.was}->${g.tasks.now}`).join(', ');
  const more = r.groups.length > shown.length ? ` and ${r.groups.length - shown.length} more` : '';
  return (
    `records lost: ${r.lost} since the last check; rebuilt the process table from /proc in ${r.ms.toFixed(0)} ms: ` +
    `${r.removed} gone, ${r.added} missing, ${r.updated} changed; ` +
    (r.groups.length ? `live counts corrected in ${r.groups.length} groups (tasks ${groups}${more})` : 'no group count changed') +
    (r.emptied.length ? `; ${r.emptied.length} cgroups emptied unseen` : '') +
    '; a larger bpf.ring_buffer_bytes loses fewer'
  );
}
