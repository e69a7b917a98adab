/**
 * The `enforce` action: the kernel's own limits on a group's cgroups (pids.max for a tasks limit,
 * memory.max / memory.high for a memory_bytes limit / barrier), so the fork or the charge past them
 * is refused by the kernel instead of undone by the agent afterwards. Each value it replaces is
 * put back when the config drops it, when the agent stops, and after a crash when the next agent
 * starts.
 *
 * The record of originals (enforced-cgroups.json beside the socket) is written before the first
 * write to a file, so a crash right after the write still leaves it. As for the freezer, a limit is
 * "ours" while the file is the one we wrote (same cgroup id, the mtime our write left): a limit
 * written by someone else since (an operator, systemd, a runtime) is theirs, and is left alone.
 * A recorded original survives agent restarts: an agent that starts again over its own earlier
 * limits keeps the original it finds in the record, never its predecessor's limit.
 */
import type { ResourceLimits, ResourceSpec } from '../config/types.js';
import { errnoText } from '../errors.js';
import type { Logger } from '../log.js';
import type { LimitIO, LimitKnob, LimitState } from './cgroup-actions.js';
import { outermost } from './group-state.js';
import { BootRecordFile, isCgroupPath, type RecordStore } from './record-file.js';

/** One limit a group's config asks for on one of its cgroups. */
export interface LimitTarget {
  group: string;
  cgroup: string;
  knob: LimitKnob;
  value: number;
}

const enforces = (list: ResourceSpec['on_limit'] | undefined): boolean => list?.some((a) => a.kind === 'enforce') ?? false;

/** The kernel limits a group's resources ask `enforce` for. Pure. */
export function limitsOf(resources: ResourceLimits): Array<{ knob: LimitKnob; value: number }> {
  const out: Array<{ knob: LimitKnob; value: number }> = [];
  const { tasks, memory_bytes: mem } = resources;
  if (tasks?.limit !== undefined && enforces(tasks.on_limit)) out.push({ knob: 'pids.max', value: tasks.limit });
  if (mem?.limit !== undefined && enforces(mem.on_limit)) out.push({ knob: 'memory.max', value: mem.limit });
  if (mem?.barrier !== undefined && enforces(mem.on_barrier)) out.push({ knob: 'memory.high', value: mem.barrier });
  return out;
}

/** One limit this agent (or an earlier one) set. */
export interface EnforcedEntry {
  group: string;
  cgroup: string;
  knob: LimitKnob;
  /** The file written (v2 or v1). */
  file: string;
  /** The id of the cgroup directory holding the file. */
  id: string;
  /** What the file said before the first write: what is put back. */
  original: string;
  /** What we wrote. */
  value: string;
  /** The file's mtime after our write; absent while the write is in flight. */
  writtenNs?: string;
}

/** Whose a recorded limit is now. Pure. */
export function limitVerdict(entry: EnforcedEntry, now: LimitState | undefined): 'ours' | 'gone' | 'replaced' | 'rewritten' {
  if (now === undefined) return 'gone';
  if (now.id !== entry.id) return 'replaced';
  // No mtime: the agent ended between recording and writing; the file is ours or still original.
  if (entry.writtenNs !== undefined && now.writtenNs !== entry.writtenNs) return 'rewritten';
  return 'ours';
}

/** A target whose file is not there (controller not enabled, or a v1 twin not made yet): tried again later. */
interface Pending {
  target: LimitTarget;
  nextAt: number;
  delayMs: number;
  warned: boolean;
}

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 60_000;

const key = (cgroup: string, knob: LimitKnob): string => `${cgroup}\0${knob}`;

/** Sets, keeps and restores the kernel limits of the `enforce` action. */
export class Enforcer {
  readonly #io: LimitIO;
  readonly #store: RecordStore<EnforcedEntry> | undefined;
  readonly #log: Logger;
  readonly #entries = new Map<string, EnforcedEntry>();
  readonly #pending = new Map<string, Pending>();
  /** Failed writes already logged, so a failure repeated at each retry is one line. */
  readonly #failed = new Set<string>();

  constructor(io: LimitIO, store: RecordStore<EnforcedEntry> | undefined, log: Logger) {
    this.#io = io;
    this.#store = store;
    this.#log = log;
  }

  /**
   * At start, before the first sync: takes over what an agent that ended without restoring left
   * (its originals). The first sync then keeps what the config still asks for and restores the rest.
   */
  recover(): void {
    if (this.#store === undefined) return;
    try {
      for (const e of this.#store.load()) this.#entries.set(key(e.cgroup, e.knob), e);
    } catch (err) {
      this.#log.warn(`enforced limits: cannot read ${this.#store.where}: ${(err as Error).message}; limits an earlier agent set stay as they are`);
    }
  }

  /** Makes the limits exactly `targets` (start, reload): sets each, restores what is no longer asked for. */
  sync(targets: readonly LimitTarget[], now: number): void {
    const wanted = new Set(targets.map((t) => key(t.cgroup, t.knob)));
    for (const [k, e] of [...this.#entries]) if (!wanted.has(k)) this.#restore(e, ', which the config no longer asks for');
    for (const k of [...this.#pending.keys()]) if (!wanted.has(k)) this.#pending.delete(k);
    for (const t of targets) this.apply(t, now);
    this.#save();
  }

  /** Sets one limit (a cgroup made after the config: a new container of a group). */
  apply(t: LimitTarget, now: number): void {
    const k = key(t.cgroup, t.knob);
    const value = String(t.value);
    const had = this.#entries.get(k);
    if (had !== undefined) {
      const v = limitVerdict(had, this.#io.limitState(had.file));
      if (v === 'ours') {
        had.group = t.group;
        if (had.value !== value || had.writtenNs === undefined) this.#write(had, value, had.writtenNs === undefined ? 'set' : 'changed');
        return;
      }
      this.#entries.delete(k);
      if (v === 'rewritten') {
        this.#log.warn(
          `group ${had.group}: ${had.knob} of ${had.cgroup} was written by someone else after forkwatch set it: left as it is, and not restored by forkwatch`,
        );
        return;
      }
      // gone or made again at that path: a new cgroup, with its own original
    }
    const file = this.#io.limitFile(t.cgroup, t.knob);
    const state = file === undefined ? undefined : this.#io.limitState(file);
    if (file === undefined || state === undefined) {
      this.#postpone(k, t, now);
      return;
    }
    this.#pending.delete(k);
    const entry: EnforcedEntry = { group: t.group, cgroup: t.cgroup, knob: t.knob, file, id: state.id, original: state.value, value };
    this.#entries.set(k, entry);
    this.#save(); // before the write: a crash right after it still leaves the original on record
    this.#write(entry, value, 'set');
  }

  /** Tries again the limits whose file was not there; call once a second. */
  retry(now: number): void {
    for (const p of [...this.#pending.values()]) if (now >= p.nextAt) this.apply(p.target, now);
  }

  /** A cgroup was removed: its limits went with it. */
  removed(cgroup: string): void {
    let changed = false;
    for (const knob of ['pids.max', 'memory.max', 'memory.high'] as const) {
      changed = this.#entries.delete(key(cgroup, knob)) || changed;
      this.#pending.delete(key(cgroup, knob));
    }
    if (changed) this.#save();
  }

  /** The cgroups where a group's limits are set (the kernel counts its refusals there). */
  cgroupsOf(group: string): string[] {
    const out: string[] = [];
    for (const e of this.#entries.values()) if (e.group === group) out.push(e.cgroup);
    return outermost(out);
  }

  /** Whether a limit for this cgroup's group is already set (or waited for) on an ancestor. */
  coveredBy(t: LimitTarget): boolean {
    for (const m of [this.#entries, this.#pending] as const) {
      for (const v of m.values()) {
        const e = 'target' in v ? v.target : v;
        if (e.group === t.group && e.knob === t.knob && t.cgroup.startsWith(e.cgroup + '/')) return true;
      }
    }
    return false;
  }

  /** At a clean stop: every limit this agent set, and nobody wrote since, back to its original. */
  stop(): void {
    for (const e of [...this.#entries.values()]) this.#restore(e, ' as the agent stops');
    this.#pending.clear();
    this.#save();
  }

  #write(entry: EnforcedEntry, value: string, how: 'set' | 'changed'): void {
    const k = key(entry.cgroup, entry.knob);
    try {
      this.#io.writeLimit(entry.file, value);
    } catch (err) {
      // The file still holds what it held: nothing to restore later.
      if (entry.writtenNs === undefined) this.#entries.delete(k);
      this.#save();
      const line = `group ${entry.group}: cannot set ${entry.knob} of ${entry.cgroup} to ${value}: ${errnoText(err)}`;
      if (!this.#failed.has(line)) this.#log.warn(line);
      this.#failed.add(line);
      return;
    }
    entry.value = value;
    entry.writtenNs = this.#io.limitState(entry.file)?.writtenNs;
    this.#save();
    this.#log.info(`group ${entry.group}: ${how} ${entry.knob} of ${entry.cgroup} to ${value} (was ${entry.original}, ${entry.file})`);
  }

  /** Puts the original back if the limit is still ours; drops the entry unless the write failed. */
  #restore(e: EnforcedEntry, why: string): void {
    const k = key(e.cgroup, e.knob);
    const v = limitVerdict(e, this.#io.limitState(e.file));
    if (v === 'rewritten') {
      this.#log.warn(`group ${e.group}: left ${e.knob} of ${e.cgroup} as it is: it was written by someone else after forkwatch set it`);
    } else if (v === 'ours') {
      try {
        this.#io.writeLimit(e.file, e.original);
      } catch (err) {
        // Kept: the next stop or start tries again.
        this.#log.warn(`group ${e.group}: cannot restore ${e.knob} of ${e.cgroup} to ${e.original}: ${errnoText(err)}`);
        return;
      }
      this.#log.info(`group ${e.group}: restored ${e.knob} of ${e.cgroup} to ${e.original}${why}`);
    }
    this.#entries.delete(k);
  }

  #postpone(k: string, t: LimitTarget, now: number): void {
    const p = this.#pending.get(k);
    if (p === undefined) {
      this.#pending.set(k, { target: t, nextAt: now + RETRY_FIRST_MS, delayMs: RETRY_FIRST_MS, warned: false });
      return;
    }
    p.target = t;
    // Warned at the second look, not the first: a v1 twin made right after the v2 cgroup is no news.
    if (!p.warned) {
      const controller = t.knob === 'pids.max' ? 'pids' : 'memory';
      this.#log.warn(
        `group ${t.group}: cannot enforce ${t.knob} ${t.value} on ${t.cgroup}: the ${controller} controller is not enabled for it (none of ${this.#io.limitPlaces(t.cgroup, t.knob).join(', ') || 'no hierarchy'} exists); tried again later`,
      );
      p.warned = true;
    }
    p.delayMs = Math.min(p.delayMs * 2, RETRY_MAX_MS);
    p.nextAt = now + p.delayMs;
  }

  #save(): void {
    if (this.#store === undefined) return;
    try {
      this.#store.save([...this.#entries.values()]);
    } catch (err) {
      this.#log.warn(`enforced limits: cannot write ${this.#store.where}: ${(err as Error).message}; after a crash, limits set now are not restored`);
    }
  }
}

/** The record as a JSON file in the agent's runtime directory: `{ boot_id, enforced: [...] }`. */
export class EnforcedFile extends BootRecordFile<EnforcedEntry> {
  constructor(path: string, bootId: string) {
    super(path, bootId, 'enforced', isEntry);
  }
}

const KNOBS: readonly string[] = ['pids.max', 'memory.max', 'memory.high'];
// What a limit file may be restored to: a number or "max" (v1 reads its unlimited as a number).
const LIMIT_TEXT = /^(max|\d{1,20})$/;

function isEntry(e: unknown): e is EnforcedEntry {
  const x = e as EnforcedEntry;
  return (
    typeof x === 'object' &&
    x !== null &&
    isCgroupPath(x.cgroup) &&
    typeof x.group === 'string' &&
    KNOBS.includes(x.knob) &&
    // The file is one a limit lives in, below a cgroup mount: the record is root's, but a record
    // that could make the agent write elsewhere is refused all the same.
    typeof x.file === 'string' &&
    x.file.startsWith('/sys/fs/cgroup/') &&
    !x.file.split('/').includes('..') &&
    /\/(pids\.max|memory\.max|memory\.high|memory\.limit_in_bytes)$/.test(x.file) &&
    typeof x.id === 'string' &&
    typeof x.original === 'string' &&
    LIMIT_TEXT.test(x.original) &&
    typeof x.value === 'string' &&
    (x.writtenNs === undefined || typeof x.writtenNs === 'string')
  );
}
