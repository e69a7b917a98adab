/**
 * cgroup id -> path, kept current by the kernel's mkdir / rmdir records, with a rescan of cgroupfs
 * on a miss. A cgroup removed before its events were read keeps its name: rmdir moves it to a
 * list of the recently removed rather than forgetting it. That list is bounded in age and size:
 * no record can name a cgroup after its rmdir record (the ring keeps the kernel's order), so a
 * minute covers the stages that name it a little later (retiring its counters at the next tick);
 * under a steady churn of cgroups its memory stays flat instead of filling the size cap.
 */
export class CgroupNames {
  private readonly live = new Map<number, string>();
  private readonly byPath = new Map<string, number>();
  /** Recently removed: id -> path and when (ms), oldest first. */
  private readonly removed = new Map<number, { path: string; at: number }>();
  private lastScan = -Infinity;

  /**
   * @param scan reads the hierarchy (id -> path); called at start and on a miss
   * @param now monotonic milliseconds, to rate-limit rescans
   */
  constructor(
    private readonly scan: () => Map<number, string>,
    private readonly now: () => number = () => performance.now(),
    private readonly maxRemoved = 10_000,
    private readonly rescanEveryMs = 200,
    private readonly keepRemovedMs = 60_000,
  ) {
    this.rescan();
  }

  private rescan(): void {
    this.lastScan = this.now();
    for (const [id, p] of this.scan()) {
      this.live.set(id, p);
      this.byPath.set(p, id);
    }
  }

  /** A cgroup was made (kernel mkdir record). */
  made(id: number, path: string): void {
    this.removed.delete(id);
    this.live.set(id, path);
    this.byPath.set(path, id);
  }

  /** A cgroup was removed (kernel rmdir record): still named for events read late. */
  gone(id: number, path: string): void {
    this.live.delete(id);
    if (this.byPath.get(path) === id) this.byPath.delete(path);
    const now = this.now();
    this.removed.delete(id);
    this.removed.set(id, { path, at: now });
    for (const [oldId, r] of this.removed) {
      if (this.removed.size <= this.maxRemoved && now - r.at < this.keepRemovedMs) break;
      this.removed.delete(oldId);
    }
  }

  /** True once the cgroup is known to be removed. */
  isGone(id: number): boolean {
    return !this.live.has(id) && this.removed.has(id);
  }

  /** The path of a cgroup id; unknown ids trigger a (rate-limited) rescan, then `cgroup:<id>`. */
  path(id: number): string {
    const p = this.live.get(id) ?? this.removed.get(id)?.path;
    if (p !== undefined) return p;
    if (this.now() - this.lastScan >= this.rescanEveryMs) {
      this.rescan();
      const again = this.live.get(id);
      if (again !== undefined) return again;
    }
    return `cgroup:${id}`;
  }

  /** The id of a live cgroup path, if known. */
  idOf(path: string): number | undefined {
    return this.byPath.get(path);
  }

  /** Live cgroups: id -> path. */
  entries(): IterableIterator<[number, string]> {
    return this.live.entries();
  }
}
