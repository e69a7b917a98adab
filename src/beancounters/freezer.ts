/**
 * The `freeze` action's cgroups, and a record of them that outlives the agent: a cgroup frozen by
 * an agent that then stopped or crashed would otherwise stay frozen for good.
 *
 * - A clean stop thaws what this agent froze (stop()).
 * - Before each freeze the record is written (atomically: a temporary file renamed over the
 *   old one) to the agent's runtime directory; the next agent to start thaws what it lists
 *   (recover()), so a crash (SIGKILL, the OOM killer) costs a frozen cgroup only until then.
 *
 * "What this agent froze" is a cgroup it wrote 1 to, which nobody wrote to since. Each entry
 * keeps the cgroup's id (its directory's inode: a cgroup removed and made again at the same path
 * is another cgroup) and cgroup.freeze's mtime right after our write: kernfs moves a file's mtime
 * on every write, so a different mtime means someone else (an operator, systemd's
 * `systemctl freeze`, a container runtime's pause) wrote it after us, and the freeze is theirs
 * now. A cgroup found frozen before we would freeze it is someone else's too, and is left alone.
 * The record names the boot it was made in: cgroup ids start again after a reboot.
 */
import type { Logger } from '../log.js';
import { BootRecordFile, isCgroupPath, type RecordStore } from './record-file.js';

/** A cgroup's own freeze setting, and what tells whether it was written since. */
export interface FreezeState {
  /** The cgroup's id (the inode of its directory), as a decimal string. */
  id: string;
  /** cgroup.freeze reads 1 (the cgroup's own setting, not an ancestor's). */
  frozen: boolean;
  /** cgroup.freeze's mtime in ns, as a decimal string: every write moves it. */
  writtenNs: string;
}

/** The part of the cgroupfs adapter the freezer uses (HostCgroupIO fits). */
export interface FreezeIO {
  setFrozen(cgroup: string, frozen: boolean): void;
  /** undefined when the cgroup does not exist (or has no cgroup.freeze). */
  freezeState(cgroup: string): FreezeState | undefined;
}

/** One cgroup this agent (or an earlier one) froze. */
export interface FrozenEntry {
  cgroup: string;
  group: string;
  id: string;
  /** cgroup.freeze's mtime after our write; absent while the write is in flight. */
  writtenNs?: string;
}

/** Where the record is kept (FrozenFile, or nothing in tests). */
export type FrozenStore = RecordStore<FrozenEntry>;

/** Whose a recorded freeze is now. Pure. */
export type Verdict = 'ours' | 'gone' | 'replaced' | 'rewritten' | 'thawed';

export function verdict(entry: FrozenEntry, now: FreezeState | undefined): Verdict {
  if (now === undefined) return 'gone';
  if (now.id !== entry.id) return 'replaced';
  // No mtime: the agent ended between recording the freeze and writing it; what is frozen now
  // was frozen by that write (a few microseconds' window).
  if (entry.writtenNs !== undefined && now.writtenNs !== entry.writtenNs) return 'rewritten';
  return now.frozen ? 'ours' : 'thawed';
}

/** Freezes and thaws cgroups for the `freeze` action, keeping the record. */
export class Freezer {
  readonly #io: FreezeIO;
  readonly #store: FrozenStore | undefined;
  readonly #log: Logger;
  readonly #entries = new Map<string, FrozenEntry>();

  constructor(io: FreezeIO, store: FrozenStore | undefined, log: Logger) {
    this.#io = io;
    this.#store = store;
    this.#log = log;
  }

  /** Freezes a group's cgroups; returns those it froze (not those already frozen). Throws the first write error. */
  freeze(group: string, cgroups: readonly string[]): string[] {
    const done: string[] = [];
    for (const cg of cgroups) {
      const before = this.#io.freezeState(cg);
      if (before?.frozen) {
        if (!this.#entries.has(cg)) this.#log.warn(`group ${group}: ${cg} is frozen already, by someone else: left as it is, and not thawed by forkwatch`);
        continue;
      }
      if (before === undefined) {
        this.#io.setFrozen(cg, true); // throws the fs error naming the file
        done.push(cg);
        continue;
      }
      const entry: FrozenEntry = { cgroup: cg, group, id: before.id };
      this.#entries.set(cg, entry);
      this.#save(); // before the write: a crash right after it still leaves the record
      try {
        this.#io.setFrozen(cg, true);
      } catch (err) {
        this.#entries.delete(cg);
        this.#save();
        throw err;
      }
      entry.writtenNs = this.#io.freezeState(cg)?.writtenNs;
      this.#save();
      done.push(cg);
    }
    return done;
  }

  /** Thaws the cgroups this agent froze for a group and nobody wrote since; returns those thawed. */
  thaw(group: string): string[] {
    return this.#release((e) => e.group === group, '');
  }

  /** At a clean stop: thaws every cgroup this agent froze and nobody wrote since. */
  stop(): void {
    this.#release(() => true, ', which it froze, as it stops');
  }

  /** At start, before any freeze: thaws what an agent that ended without thawing left frozen. */
  recover(): void {
    if (this.#store === undefined) return;
    let left: FrozenEntry[];
    try {
      left = this.#store.load();
    } catch (err) {
      this.#log.warn(`frozen cgroups: cannot read ${this.#store.where}: ${(err as Error).message}; nothing thawed`);
      return;
    }
    for (const e of left) this.#entries.set(e.cgroup, e);
    this.#release(() => true, ', frozen by an agent that ended without thawing it');
  }

  #release(which: (e: FrozenEntry) => boolean, why: string): string[] {
    const thawed: string[] = [];
    for (const e of [...this.#entries.values()]) {
      if (!which(e)) continue;
      try {
        const v = verdict(e, this.#io.freezeState(e.cgroup));
        if (v === 'ours') {
          this.#io.setFrozen(e.cgroup, false);
          thawed.push(e.cgroup);
          if (why !== '') this.#log.warn(`group ${e.group}: thawed ${e.cgroup}${why}`);
        } else if (v === 'rewritten') {
          this.#log.warn(
            `group ${e.group}: left ${e.cgroup} frozen: its cgroup.freeze was written after the freeze of ${why === '' ? 'this' : 'an earlier'} agent, so the freeze is someone else's now`,
          );
        }
        this.#entries.delete(e.cgroup);
      } catch (err) {
        // Kept: the next thaw, stop or start tries again.
        this.#log.warn(`group ${e.group}: cannot thaw ${e.cgroup}: ${(err as Error).message}`);
      }
    }
    this.#save();
    return thawed;
  }

  #save(): void {
    if (this.#store === undefined) return;
    try {
      this.#store.save([...this.#entries.values()]);
    } catch (err) {
      this.#log.warn(`frozen cgroups: cannot write ${this.#store.where}: ${(err as Error).message}; after a crash, what is frozen now stays frozen`);
    }
  }
}

/** The record as a JSON file in the agent's runtime directory: `{ boot_id, frozen: [...] }`. */
export class FrozenFile extends BootRecordFile<FrozenEntry> {
  constructor(path: string, bootId: string) {
    super(path, bootId, 'frozen', isEntry);
  }
}

function isEntry(e: unknown): e is FrozenEntry {
  const x = e as FrozenEntry;
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof x.cgroup === 'string' &&
    isCgroupPath(x.cgroup) &&
    typeof x.group === 'string' &&
    typeof x.id === 'string' &&
    (x.writtenNs === undefined || typeof x.writtenNs === 'string')
  );
}
