/**
 * The host side of the beancounters: cgroupfs reads (memory held, the kernel's own refusals),
 * cgroup.freeze writes and SIGKILL (through a pidfd, src/host/pidfd.ts). An I/O adapter, so BeancounterService stays testable without
 * root: tests pass a fake with the same interface.
 *
 * Paths are cgroup paths as events name them ("/system.slice/foo.service"), relative to the
 * grouping hierarchy. A v2 file is preferred; on a hybrid host whose v2 hierarchy has no
 * controllers, the v1 controller's hierarchy is read at the same path (that is where systemd, and
 * the tests, put a unit's v1 cgroups).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseMounts } from '../host/cgroupfs.js';
import { signalProcess, type PidfdNative } from '../host/pidfd.js';
import type { FreezeState } from './freezer.js';

/** A kernel limit the `enforce` action sets, by its cgroup v2 name. */
export type LimitKnob = 'pids.max' | 'memory.max' | 'memory.high';

/** A limit file as it is now. */
export interface LimitState {
  /** The id (inode) of the cgroup directory that holds the file, as a decimal string. */
  id: string;
  /** The file's text, trimmed ("max", "10", "9223372036854771712"). */
  value: string;
  /** The file's mtime in ns, as a decimal string: every write moves it. */
  writtenNs: string;
}

/** The limit files the enforcer uses (HostCgroupIO fits). */
export interface LimitIO {
  /**
   * The file that holds a cgroup's limit: the v2 one when the controller is enabled for the
   * cgroup (its parent's cgroup.subtree_control), else the v1 controller's at the same path;
   * undefined when neither exists (controller not enabled, or the cgroup is gone).
   */
  limitFile(cgroup: string, knob: LimitKnob): string | undefined;
  /** Where limitFile looked, for a message that says why there is none. */
  limitPlaces(cgroup: string, knob: LimitKnob): string[];
  /** The state of a limit file; undefined when it is gone. */
  limitState(file: string): LimitState | undefined;
  /** Writes a limit file; throws the fs error, which names the file and the errno. */
  writeLimit(file: string, value: string): void;
}

/** The kernel counters of refused charges: `pids` (a fork over pids.max), `memory` (over the memory max). */
export type RefusalKind = 'pids' | 'memory';

/** What BeancounterService asks of the host. */
export interface BeancounterIO extends LimitIO {
  /** Bytes charged to a cgroup and its descendants; undefined when no memory accounting covers it. */
  memoryBytes(cgroup: string): number | undefined;
  /** The kernel's cumulative refusal count for a cgroup; undefined when there is no such file. */
  refusals(cgroup: string, kind: RefusalKind): number | undefined;
  /** Freezes or thaws a cgroup (v2 cgroup.freeze); throws an error naming the file and errno. */
  setFrozen(cgroup: string, frozen: boolean): void;
  /** The cgroup's id, own freeze setting and cgroup.freeze's mtime; undefined when there is no such cgroup. */
  freezeState(cgroup: string): FreezeState | undefined;
  /**
   * SIGKILLs the process at `pid` that started at `startNs` (CLOCK_BOOTTIME ns, as the process
   * table has it); false when it is gone, or when the pid now belongs to another process.
   */
  kill(pid: number, startNs: number): boolean;
}

/** Where the hierarchies are: the v2 mount, and v1 mounts by controller. */
export interface CgroupMounts {
  v2?: string;
  v1: Partial<Record<'memory' | 'pids', string>>;
}

/** Finds the mounts from /proc/self/mounts text. Pure. */
export function findMounts(mountsText: string): CgroupMounts {
  const m = parseMounts(mountsText);
  const v1: CgroupMounts['v1'] = {};
  for (const { mount, options } of m.v1) {
    if (options.includes('memory') && v1.memory === undefined) v1.memory = mount;
    if (options.includes('pids') && v1.pids === undefined) v1.pids = mount;
  }
  return { v2: m.v2, v1 };
}

/** `max 3\nhigh 0` -> { max: 3, high: 0 }. Pure. */
export function parseKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp > 0) out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

/** One way to read a number from cgroupfs: a file below a mount, and how its text becomes the number. */
interface Source {
  file: (cgroup: string) => string;
  parse: (text: string) => number | undefined;
}

const single = (text: string): number | undefined => {
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : undefined;
};
const keyed =
  (key: string) =>
  (text: string): number | undefined =>
    parseKeyed(text).get(key);

// Which file answers a question is worked out once per cgroup and remembered; a cgroup where
// nothing answers is asked again only after this long, so hundreds of groups without v1
// counterparts cost no failed opens every second.
const NEGATIVE_TTL_MS = 10_000;

/** Reads and writes the host's cgroupfs. */
export class HostCgroupIO implements BeancounterIO {
  readonly #mounts: CgroupMounts;
  readonly #now: () => number;
  readonly #resolved = new Map<string, { source: Source } | { retryAt: number }>();
  readonly #memory: Source[];
  readonly #pids: Source[];
  readonly #memEvents: Source[];
  readonly #pidfd: PidfdNative | null;

  /** `pidfd`: the addon's pidfd calls; null falls back to kill(2) after the same start-time check. */
  constructor(mounts: CgroupMounts, now: () => number = () => performance.now(), pidfd: PidfdNative | null = null) {
    this.#mounts = mounts;
    this.#now = now;
    this.#pidfd = pidfd;
    const under = (mount: string | undefined, name: string) => (cg: string) => (mount === undefined ? '' : path.join(mount, cg, name));
    const { v2, v1 } = mounts;
    this.#memory = [
      { file: under(v2, 'memory.current'), parse: single },
      { file: under(v1.memory, 'memory.usage_in_bytes'), parse: single },
    ];
    this.#pids = [
      { file: under(v2, 'pids.events'), parse: keyed('max') },
      { file: under(v1.pids, 'pids.events'), parse: keyed('max') },
    ];
    // v1 has no memory.events; memory.failcnt counts the same thing (charges that hit the limit).
    this.#memEvents = [
      { file: under(v2, 'memory.events'), parse: keyed('max') },
      { file: under(v1.memory, 'memory.failcnt'), parse: single },
    ];
  }

  /** The adapter for this host, from /proc/self/mounts. */
  static detect(pidfd: PidfdNative | null): HostCgroupIO {
    return new HostCgroupIO(findMounts(fs.readFileSync('/proc/self/mounts', 'utf8')), undefined, pidfd);
  }

  memoryBytes(cgroup: string): number | undefined {
    return this.#read(`m\0${cgroup}`, cgroup, this.#memory);
  }

  refusals(cgroup: string, kind: RefusalKind): number | undefined {
    return kind === 'pids' ? this.#read(`p\0${cgroup}`, cgroup, this.#pids) : this.#read(`e\0${cgroup}`, cgroup, this.#memEvents);
  }

  setFrozen(cgroup: string, frozen: boolean): void {
    if (this.#mounts.v2 === undefined) throw new Error(`cannot ${frozen ? 'freeze' : 'thaw'} ${cgroup}: no cgroup v2 hierarchy is mounted`);
    // fs errors already read "ENOENT: no such file or directory, open '/sys/fs/cgroup/…/cgroup.freeze'".
    fs.writeFileSync(path.join(this.#mounts.v2, cgroup, 'cgroup.freeze'), frozen ? '1' : '0');
  }

  freezeState(cgroup: string): FreezeState | undefined {
    if (this.#mounts.v2 === undefined || cgroup === '/' || !cgroup.startsWith('/')) return undefined;
    const dir = path.join(this.#mounts.v2, cgroup);
    try {
      const file = path.join(dir, 'cgroup.freeze');
      const st = fs.statSync(file, { bigint: true });
      return { id: String(fs.statSync(dir, { bigint: true }).ino), frozen: fs.readFileSync(file, 'utf8').trim() === '1', writtenNs: String(st.mtimeNs) };
    } catch {
      return undefined; // gone, or a kernel without the v2 freezer (before 5.2)
    }
  }

  limitFile(cgroup: string, knob: LimitKnob): string | undefined {
    if (cgroup === '/' || !cgroup.startsWith('/')) return undefined; // the root has no limits
    return this.limitPlaces(cgroup, knob).find((f) => fs.existsSync(f));
  }

  limitPlaces(cgroup: string, knob: LimitKnob): string[] {
    const { v2, v1 } = this.#mounts;
    const out: string[] = [];
    if (v2 !== undefined) out.push(path.join(v2, cgroup, knob));
    // v1 has pids.max under the same name and memory.max as memory.limit_in_bytes; memory.high has
    // no v1 counterpart (the soft limit only steers reclaim, it never throttles).
    const v1File =
      knob === 'pids.max'
        ? v1.pids && path.join(v1.pids, cgroup, 'pids.max')
        : knob === 'memory.max'
          ? v1.memory && path.join(v1.memory, cgroup, 'memory.limit_in_bytes')
          : undefined;
    if (v1File) out.push(v1File);
    return out;
  }

  limitState(file: string): LimitState | undefined {
    try {
      const st = fs.statSync(file, { bigint: true });
      return { id: String(fs.statSync(path.dirname(file), { bigint: true }).ino), value: fs.readFileSync(file, 'utf8').trim(), writtenNs: String(st.mtimeNs) };
    } catch {
      return undefined;
    }
  }

  writeLimit(file: string, value: string): void {
    fs.writeFileSync(file, value);
  }

  kill(pid: number, startNs: number): boolean {
    // The pid came from a record: by now its process may be gone and the number reused.
    return signalProcess(this.#pidfd, pid, startNs, 'SIGKILL') === 'sent';
  }

  /** Forgets what was learnt about a cgroup's files (it was removed). */
  forget(cgroup: string): void {
    for (const k of ['m', 'p', 'e']) this.#resolved.delete(`${k}\0${cgroup}`);
  }

  #read(key: string, cgroup: string, sources: Source[]): number | undefined {
    // The root's v2 files do not exist, and its v1 files count the whole host, not a group.
    if (cgroup === '/' || !cgroup.startsWith('/')) return undefined;
    const known = this.#resolved.get(key);
    if (known !== undefined && 'source' in known) {
      const v = readNumber(known.source, cgroup);
      if (v !== undefined) return v;
      this.#resolved.delete(key); // gone or changed: look again below
    } else if (known !== undefined && this.#now() < known.retryAt) {
      return undefined;
    }
    for (const source of sources) {
      const v = readNumber(source, cgroup);
      if (v !== undefined) {
        this.#resolved.set(key, { source });
        return v;
      }
    }
    this.#resolved.set(key, { retryAt: this.#now() + NEGATIVE_TTL_MS });
    return undefined;
  }
}

function readNumber(source: Source, cgroup: string): number | undefined {
  const file = source.file(cgroup);
  if (file === '') return undefined;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined; // no such controller here, or the cgroup is gone
  }
  return source.parse(text);
}
