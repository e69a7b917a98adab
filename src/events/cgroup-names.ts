/**
 * cgroup id -> path, kept current by the kernel's mkdir / rmdir records, with a rescan of cgroupfs
 * on a miss. A cgroup removed before its events were read keeps its name: rmdir moves it to a
 * list of the recently removed rather than forgetting it. That list is bounded in age and size:
 * no record can name a cgroup after its rmdir record (the ring keeps the kernel's order), so a
 * minute covers the stages that name it a little later (retiring its counters at the next tick);
 * under a steady churn of cgroups its memory stays flat instead of filling the size cap.
 *
 * A record's path may be cut by the kernel (FW_F_PATH_TRUNC): a cut path can be an ancestor's or a
 * sibling's, so it never names anything; the cgroup is looked up by id in cgroupfs instead.
 */
export interface NamesOptions {
  /** Monotonic milliseconds, to rate-limit rescans and age removed names. */
  now?: () => number;
  maxRemoved?: number;
  rescanEveryMs?: number;
  keepRemovedMs?: number;
  /** Finds cgroup `id` in cgroupfs below the path `under` (for cut paths). */
  find?: (id: number, under: string) => string | undefined;
}

export class CgroupNames {
  private readonly live = new Map<number, string>();
  private readonly byPath = new Map<string, number>();
  /** Recently removed: id -> path and when (ms), oldest first. */
  private readonly removed = new Map<number, { path: string; at: number }>();
  private lastScan = -Infinity;
  private readonly now: () => number;
  private readonly maxRemoved: number;
  private readonly rescanEveryMs: number;
  private readonly keepRemovedMs: number;
  private readonly find: (id: number, under: string) => string | undefined;

  /** @param scan reads the hierarchy (id -> path); called at start and on a miss */
  constructor(
    private readonly scan: () => Map<number, string>,
    opts: NamesOptions = {},
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.maxRemoved = opts.maxRemoved ?? 10_000;
    this.rescanEveryMs = opts.rescanEveryMs ?? 200;
    this.keepRemovedMs = opts.keepRemovedMs ?? 60_000;
    this.find = opts.find ?? (() => undefined);
    this.rescan();
  }

  private rescan(): void {
    this.lastScan = this.now();
    for (const [id, p] of this.scan()) {
      this.live.set(id, p);
      this.byPath.set(p, id);
    }
  }

  /**
   * A cgroup was made (kernel mkdir record). A cut path is looked up by id below its parent; if the
   * cgroup is not found there, it is left to a rescan, and until then it has no name.
   */
  made(id: number, path: string, cut = false): void {
    this.removed.delete(id);
    if (cut) {
      const found = this.find(id, parentOf(path));
      if (found === undefined) return;
      path = found;
    }
    this.live.set(id, path);
    this.byPath.set(path, id);
  }

  /** A cgroup was removed (kernel rmdir record): still named for events read late. */
  gone(id: number, recordPath: string, cut = false): void {
    const path = cut ? (this.live.get(id) ?? `cgroup:${id}`) : recordPath;
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

/** The parent of a cgroup path ("/" for the root's children and the root). */
export function parentOf(p: string): string {
  const at = p.lastIndexOf('/');
  return at <= 0 ? '/' : p.slice(0, at);
}
