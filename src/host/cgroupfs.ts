/**
 * cgroupfs adapter: where the hierarchies are mounted, their ids, and the id -> path map of a
 * hierarchy (a cgroup's id is its directory's inode number).
 */
import fs from 'node:fs';
import path from 'node:path';
import { EnvironmentError, UsageError } from '../errors.js';

export interface Hierarchy {
  /** 'v2', or the v1 hierarchy's name: its controllers ("cpu,cpuacct") or "name=systemd". */
  name: string;
  /** 0 for v2; the v1 hierarchy id from /proc/self/cgroup. */
  id: number;
  mount: string;
}

/** The cgroup hierarchies mounted here, as /proc/self/mounts lists them. */
export interface MountedHierarchies {
  /** The cgroup v2 mount, chosen by the one rule (see parseMounts); undefined when there is none. */
  v2?: string;
  /** Every v1 mount with its options (the controllers, "name=systemd"), in the order listed. */
  v1: { mount: string; options: string[] }[];
}

/** Where cgroup v2 is mounted on a unified host, then on a hybrid one. */
const USUAL_V2_MOUNTS = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'];

/** Undoes the octal escapes /proc/self/mounts uses for space, tab, newline and backslash. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * Parses /proc/self/mounts: the one lookup of the cgroup mounts, for events and supervision
 * alike. Of several cgroup2 mounts (a container runtime's bind mounts of sub-trees, a hierarchy
 * mounted twice) the usual places win, /sys/fs/cgroup over /sys/fs/cgroup/unified; failing them,
 * the first one listed.
 */
export function parseMounts(text: string): MountedHierarchies {
  const v2: string[] = [];
  const v1: MountedHierarchies['v1'] = [];
  for (const line of text.split('\n')) {
    const [, field, fstype, opts] = line.split(' ');
    if (field === undefined) continue;
    const mount = unescapeMountField(field);
    if (fstype === 'cgroup2') v2.push(mount);
    else if (fstype === 'cgroup') v1.push({ mount, options: (opts ?? '').split(',') });
  }
  const usual = USUAL_V2_MOUNTS.find((p) => v2.includes(p));
  return { v2: usual ?? v2[0], v1 };
}

const NO_V2 = 'no cgroup v2 hierarchy is mounted';
const MOUNT_V2 = 'mount -t cgroup2 none /sys/fs/cgroup/unified on a hybrid host';

/** The cgroup v2 mount of this host; an EnvironmentError naming `needed` (what it is for) when there is none. */
export function detectCgroup2Mount(needed = 'forkwatch needs one', mountsFile = '/proc/self/mounts'): string {
  const v2 = parseMounts(fs.readFileSync(mountsFile, 'utf8')).v2;
  if (v2 === undefined) throw new EnvironmentError(`${NO_V2} (no cgroup2 line in ${mountsFile}); ${needed} (${MOUNT_V2})`);
  return v2;
}

/** Parses /proc/self/cgroup into hierarchy id -> its controllers/name field. */
export function parseProcCgroup(text: string): Map<number, { name: string; path: string }> {
  const out = new Map<number, { name: string; path: string }>();
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (m) out.set(Number(m[1]), { name: m[2], path: m[3] });
  }
  return out;
}

/**
 * Finds the hierarchy that defines groups: 'v2' (the default), or a v1 hierarchy named by one of
 * its controllers or by name=… . Hybrid hosts keep v2 at /sys/fs/cgroup/unified.
 */
export function findHierarchy(want: string, mountsText: string, procCgroupText: string): Hierarchy {
  const mounts = parseMounts(mountsText);
  if (want === 'v2') {
    if (!mounts.v2) {
      throw new EnvironmentError(`${NO_V2}; mount one (${MOUNT_V2}) or set cgroup.hierarchy to a v1 hierarchy`);
    }
    return { name: 'v2', id: 0, mount: mounts.v2 };
  }
  const ids = parseProcCgroup(procCgroupText);
  for (const [id, h] of ids) {
    if (id === 0) continue;
    const parts = h.name.split(',');
    if (!parts.includes(want)) continue;
    const m = mounts.v1.find((v) => parts.every((p) => v.options.includes(p)));
    if (m) return { name: want, id, mount: m.mount };
  }
  const known = [...ids.entries()].filter(([id]) => id !== 0).map(([, h]) => h.name);
  throw new UsageError(`cgroup hierarchy "${want}" is not mounted here; expected v2 or one of: ${known.join(', ') || '(no v1 hierarchies)'}`);
}

/** The hierarchy on this host, read from procfs. */
export function detectHierarchy(want: string): Hierarchy {
  return findHierarchy(want, fs.readFileSync('/proc/self/mounts', 'utf8'), fs.readFileSync('/proc/self/cgroup', 'utf8'));
}

/**
 * Walks the subtree of a mounted hierarchy at `under` ("/" for all of it), depth first, calling
 * `visit` with each cgroup's path relative to the mount and its id (the directory's inode) until it
 * returns true; at most `maxDirs` directories. Cgroups removed meanwhile are skipped, and so are
 * those whose path is too long for the system calls (over PATH_MAX).
 */
function walkCgroups(mount: string, under: string, visit: (rel: string, id: number) => boolean | void, maxDirs = Infinity): void {
  const stack = [under];
  for (let visited = 0; stack.length > 0 && visited < maxDirs; visited++) {
    const rel = stack.pop()!;
    const dir = path.join(mount, rel);
    try {
      if (visit(rel, fs.statSync(dir).ino)) return;
      for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
        if (d.isDirectory()) stack.push(rel === '/' ? `/${d.name}` : `${rel}/${d.name}`);
      }
    } catch {
      /* removed while we walked, or a path too long to reach */
    }
  }
}

/** Walks a mounted hierarchy: inode (= cgroup id) -> path relative to the mount ("/" for the root). */
export function scanCgroups(mount: string): Map<number, string> {
  const out = new Map<number, string>();
  walkCgroups(mount, '/', (rel, id) => void out.set(id, rel));
  return out;
}

/**
 * The path of cgroup `id` if it is in the subtree at `under` (looked at no more than `maxDirs`
 * directories deep and wide): for a cgroup whose record carried a path the kernel cut.
 */
export function findCgroup(mount: string, under: string, id: number, maxDirs = 10_000): string | undefined {
  let found: string | undefined;
  walkCgroups(
    mount,
    under,
    (rel, ino) => {
      if (ino === id) found = rel;
      return found !== undefined;
    },
    maxDirs,
  );
  return found;
}

/** The cgroup id (inode) of a path in the hierarchy, or undefined if it is gone. */
export function cgroupIdOf(mount: string, rel: string): number | undefined {
  try {
    return fs.statSync(path.join(mount, rel)).ino;
  } catch {
    return undefined;
  }
}

/** One buffer for every cpu.stat read (its first line is all that is parsed). */
const cpuStatBuf = Buffer.alloc(256);
const USAGE_USEC = Buffer.from('usage_usec ');

/**
 * A cgroup v2 cgroup's cpu.stat usage_usec: the CPU its tasks and its descendants' have used, in
 * µs. undefined when the cgroup is gone or the file says something else. Reads the first line
 * into a buffer kept across calls (open, read, close: a scrape reads thousands).
 */
export function cpuUsageUs(mount: string, rel: string): number | undefined {
  let fd: number;
  try {
    fd = fs.openSync(path.join(mount, rel, 'cpu.stat'), 'r');
  } catch {
    return undefined;
  }
  try {
    const n = fs.readSync(fd, cpuStatBuf, 0, cpuStatBuf.length, 0);
    if (n <= USAGE_USEC.length || cpuStatBuf.compare(USAGE_USEC, 0, USAGE_USEC.length, 0, USAGE_USEC.length) !== 0) return undefined;
    let v = 0;
    let i = USAGE_USEC.length;
    for (; i < n; i++) {
      const c = cpuStatBuf[i];
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
    }
    return i > USAGE_USEC.length ? v : undefined;
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}
