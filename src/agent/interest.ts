/**
 * Records on demand: which kernel events become records (bpf/proc.bpf.c want_record()). The
 * kernel counts every event either way; records are for whoever needs them per event:
 *
 * - all of them while someone reads the event stream (/events, which `tail --from` uses), while a
 *   group rule matches by comm, exe or uid (membership is decided per process, from its records),
 *   while every group has beancounter resources (the config's defaults) or the accounting log is on;
 * - otherwise only those of watched cgroups: the cgroups of groups with beancounter resources or
 *   an on_release command, and of supervised programs (their exits restart them).
 *
 * Thread records flow while a subscriber asked for threads, and for the watched cgroups of groups
 * held to a `threads` resource. Migrate records always flow (the tracepoint fires after the move,
 * so it does not know the source cgroup; a process leaving a watched cgroup must be seen leave).
 *
 * The process table holds only processes whose records flow (keeps()): widening drains the ring
 * and rescans /proc before the new subscriber's first event; narrowing, and a cgroup that becomes
 * watched, rescan too (scoped by keeps()). Pure decisions here; the kernel, the rescan and
 * cgroupfs come in as deps.
 */
import { isCgroupRule, effectiveResources, matchGroup } from '../config/match.js';
import type { Config } from '../config/types.js';
import { under } from '../events/filter.js';
import { Watch } from '../events/layout.js';
import type { Logger } from '../log.js';
import type { StreamDemand } from '../stream/bus.js';

/** What the interest writes in the kernel (the addon's Probe, through the event source). */
export interface InterestKernel {
  setInterest(all: boolean, threads: boolean): void;
  /** Returns how many ids the full watched map could not take. */
  setWatched(ids: number[], flags: number): number;
}

export interface InterestDeps {
  kernel: InterestKernel;
  /** Every cgroup of the grouping hierarchy now: id -> path. */
  cgroups(): Map<number, string>;
  /** The id of a cgroup path now, or undefined when there is none. */
  idOf(path: string): number | undefined;
  /** Drain the ring and rebuild the process table from /proc, scoped by keeps() (not rate-limited). */
  rescan(reason: string): void;
  log: Logger;
}

/** Why records flow for every cgroup, or undefined when only watched cgroups need them. */
export function allReason(config: Config, demand: StreamDemand): string | undefined {
  if (demand.subscribers > 0) return 'event stream subscribers';
  if (config.groups.rules.some((r) => !isCgroupRule(r.match))) return 'a group rule matches by comm, exe or uid';
  if (Object.keys(config.resources).length > 0) return 'default resources hold every group';
  if (config.accounting.log) return 'the accounting log';
  return undefined;
}

/** A cgroup path's watch flags (Watch.*): 0 when nobody needs its records. */
export function watchFlags(path: string, config: Config, supervised: readonly string[]): number {
  let flags = supervised.some((s) => under(path, s)) ? Watch.RECORDS : 0;
  const rule = config.groups.rules.find((r) => isCgroupRule(r.match) && matchGroup([r], { cgroup: path }));
  const resources = effectiveResources(config.resources, rule);
  if (Object.keys(resources).length > 0 || rule?.on_release) flags |= Watch.RECORDS;
  if (resources.threads) flags |= Watch.RECORDS | Watch.THREADS;
  return flags;
}

/** For /metrics: which records flow. */
export interface InterestSample {
  mode: 'all' | 'watched';
  watchedCgroups: number;
  threads: boolean;
}

export class Interest {
  private config: Config;
  private supervised: readonly string[] = [];
  private demand: StreamDemand = { subscribers: 0, threads: 0 };
  /** Watched cgroups: id -> flags, kept whatever the mode, so narrowing only flips the mode. */
  private readonly watched = new Map<number, number>();
  /** The watched map was full: records flow for all until a recompute finds room. */
  private full = false;
  private all = true;
  private threads = false;
  private why: string | undefined = 'start';

  constructor(
    private readonly d: InterestDeps,
    config: Config,
    /** false: records for every cgroup always (config bpf.records_on_demand: false). */
    private readonly onDemand = true,
  ) {
    this.config = config;
  }

  /** Whether records of this cgroup flow (the process table keeps its processes). */
  keeps(cgroupId: number): boolean {
    return this.all || this.watched.has(cgroupId);
  }

  /** Whether thread records of this cgroup flow (the tracker's thread counts follow them). */
  keepsThreads(cgroupId: number): boolean {
    if (!this.keeps(cgroupId)) return false;
    return this.threads || ((this.watched.get(cgroupId) ?? 0) & Watch.THREADS) !== 0;
  }

  get mode(): 'all' | 'watched' {
    return this.all ? 'all' : 'watched';
  }

  /** Why records flow for all (undefined in watched mode). */
  get reason(): string | undefined {
    return this.why;
  }

  sample(): InterestSample {
    return { mode: this.mode, watchedCgroups: this.watched.size, threads: this.threads };
  }

  /**
   * Decides from the config and the cgroups there now, and writes the kernel; no rescan (the
   * caller seeds the table through keeps() after this).
   */
  start(): void {
    this.rewatch();
    this.apply();
  }

  /** A new config (SIGHUP): every cgroup is decided again; a change of mode rescans. */
  reload(config: Config): void {
    this.config = config;
    const was = this.snapshotWatch();
    this.rewatch();
    this.settle('the config changed', was);
  }

  /** Supervised programs' cgroups (paths), watched with everything below them. */
  setSupervised(paths: readonly string[]): void {
    this.supervised = [...paths];
    const was = this.snapshotWatch();
    this.rewatch();
    this.settle('supervised programs changed', was);
  }

  /**
   * A supervised program's cgroup is about to get its process: watched now, before the spawn, so
   * its first records are not left out (its mkdir record may not be read yet).
   */
  watchPath(path: string): void {
    const id = this.d.idOf(path);
    if (id === undefined) return;
    this.watch(id, this.flagsOf(path) | Watch.RECORDS);
  }

  /** The stream's readers changed: before a new one's first event, the table is complete. */
  setDemand(demand: StreamDemand): void {
    this.demand = demand;
    this.settle(demand.subscribers > 0 ? 'an event stream subscriber connected' : 'the last event stream subscriber left', undefined);
  }

  /**
   * A cgroup was made (its mkdir record): watched at once if needed; in watched mode its processes
   * are then read from /proc (returns true: the caller rescans, outside the batch), so a fork that
   * raced the map update is not missed.
   */
  cgroupMade(id: number, path: string): boolean {
    const flags = this.flagsOf(path);
    if (flags === 0 || this.watched.get(id) === flags) return false;
    this.watch(id, flags);
    return !this.all;
  }

  /** A cgroup is gone (its rmdir record). */
  cgroupGone(id: number): void {
    if (!this.watched.delete(id)) return;
    this.d.kernel.setWatched([id], 0);
  }

  private flagsOf(path: string): number {
    return watchFlags(path, this.config, this.supervised);
  }

  private watch(id: number, flags: number): void {
    this.watched.set(id, flags);
    if (this.d.kernel.setWatched([id], flags) > 0) this.overflow();
  }

  private overflow(): void {
    if (this.full) return;
    this.full = true;
    this.d.log.warn(`records on demand: the kernel's watched cgroup map is full (${this.watched.size} cgroups); recording every cgroup instead`);
  }

  private snapshotWatch(): string {
    return [...this.watched].map(([id, f]) => `${id}:${f}`).join(',');
  }

  /** Every cgroup decided again; the kernel's map made to agree. */
  private rewatch(): void {
    const next = new Map<number, number>();
    for (const [id, path] of this.d.cgroups()) {
      const flags = this.flagsOf(path);
      if (flags) next.set(id, flags);
    }
    // Supervised cgroups that the scan raced (made since) are kept.
    for (const [id, flags] of this.watched) if (!next.has(id) && this.supervised.some((s) => this.d.idOf(s) === id)) next.set(id, flags);
    const gone = [...this.watched.keys()].filter((id) => !next.has(id));
    if (gone.length) this.d.kernel.setWatched(gone, 0);
    this.watched.clear();
    this.full = false;
    const byFlags = new Map<number, number[]>();
    for (const [id, flags] of next) {
      this.watched.set(id, flags);
      const list = byFlags.get(flags);
      if (list) list.push(id);
      else byFlags.set(flags, [id]);
    }
    for (const [flags, ids] of byFlags) if (this.d.kernel.setWatched(ids, flags) > 0) this.overflow();
  }

  /** Writes the mode to the kernel; returns whether it changed. */
  private apply(): { widened: boolean; narrowed: boolean } {
    const why = !this.onDemand ? 'records on demand are off' : this.full ? 'the watched cgroup map is full' : allReason(this.config, this.demand);
    const all = why !== undefined;
    // Default thread limits hold every group: thread records everywhere.
    const threads = !this.onDemand || this.demand.threads > 0 || this.config.resources.threads !== undefined;
    const widened = all && !this.all;
    const narrowed = !all && this.all;
    if (all !== this.all || threads !== this.threads || this.why === 'start') this.d.kernel.setInterest(all, threads);
    this.all = all;
    this.threads = threads;
    this.why = why;
    return { widened, narrowed };
  }

  /** Applies the mode; rescans when what the table keeps changed. */
  private settle(reason: string, watchedBefore: string | undefined): void {
    const { widened, narrowed } = this.apply();
    const rewatched = watchedBefore !== undefined && !this.all && watchedBefore !== this.snapshotWatch();
    if (widened || narrowed || rewatched) {
      this.d.log.debug(`records on demand: ${this.all ? `every cgroup (${this.why})` : `${this.watched.size} watched cgroups`}; ${reason}`);
      this.d.rescan(reason);
    }
  }
}
