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

/** Parses /proc/self/mounts: the cgroup2 mount, and each v1 mount with its options. */
export function parseMounts(text: string): { v2?: string; v1: { mount: string; options: string[] }[] } {
  let v2: string | undefined;
  const v1: { mount: string; options: string[] }[] = [];
  for (const line of text.split('\n')) {
    const [, mount, fstype, opts] = line.split(' ');
    if (fstype === 'cgroup2' && !v2) v2 = mount;
    if (fstype === 'cgroup') v1.push({ mount, options: opts.split(',') });
  }
  return { v2, v1 };
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
      throw new EnvironmentError('no cgroup v2 hierarchy is mounted; mount one (mount -t cgroup2 none /sys/fs/cgroup/unified) or set cgroup.hierarchy to a v1 hierarchy');
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

/** Walks a mounted hierarchy: inode (= cgroup id) -> path relative to the mount ("/" for the root). */
export function scanCgroups(mount: string): Map<number, string> {
  const out = new Map<number, string>();
  const walk = (dir: string, rel: string) => {
    let st: fs.Stats;
    try {
      st = fs.statSync(dir);
    } catch {
      return; // removed while we walked
    }
    out.set(st.ino, rel);
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const d of entries) {
      if (d.isDirectory()) walk(path.join(dir, d.name), rel === '/' ? `/${d.name}` : `${rel}/${d.name}`);
    }
  };
  walk(mount, '/');
  return out;
}

/** The cgroup id (inode) of a path in the hierarchy, or undefined if it is gone. */
export function cgroupIdOf(mount: string, rel: string): number | undefined {
  try {
    return fs.statSync(path.join(mount, rel)).ino;
  } catch {
    return undefined;
  }
}
