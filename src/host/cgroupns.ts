/**
 * A process in a cgroup namespace of its own (every container on cgroup v2, a Kubernetes pod's
 * included) reads other processes' cgroups in /proc relative to its own: `0::/../../system.slice/x`.
 * The agent's cgroup tree comes from the full hierarchy (a host mount), so those paths are put back
 * in it: joined to where this namespace's root sits in the tree.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseMounts } from './cgroupfs.js';

/** Pure: a v2 path as /proc shows it inside the namespace -> its path in the full hierarchy. */
export function fromNamespace(rel: string, nsRoot: string): string {
  return path.posix.resolve(nsRoot, '.' + rel);
}

export interface CgroupNsIO {
  readFile(p: string): string;
  /** Directory names under a directory. */
  subdirs(p: string): string[];
}

const hostIO: CgroupNsIO = {
  readFile: (p) => fs.readFileSync(p, 'utf8'),
  subdirs: (p) =>
    fs
      .readdirSync(p, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name),
};

/**
 * Where this process's cgroup namespace is rooted in the v2 hierarchy mounted here: undefined when
 * /proc's paths are already whole (no namespace of our own), or when that cannot be told. Found
 * without looking at pid 1 (which may not be ours to look at): /proc/self says where we are below
 * the namespace's root, the mount (the full hierarchy) where we are in fact.
 */
export function cgroupNsRoot(pid = process.pid, io: CgroupNsIO = hostIO): string | undefined {
  let mount: string | undefined;
  let self: string | undefined;
  try {
    mount = parseMounts(io.readFile('/proc/self/mounts')).v2;
    self = /^0::(.*)$/m.exec(io.readFile('/proc/self/cgroup'))?.[1];
  } catch {
    return undefined;
  }
  if (!mount || self === undefined) return undefined;
  const me = String(pid);
  if (hasPid(path.posix.join(mount, self), me, io)) return undefined; // the paths are whole already
  const abs = findPid(mount, '/', me, io);
  if (abs === undefined) return undefined;
  if (self === '/') return abs;
  // abs ends with the part of our path below the namespace's root.
  return abs.endsWith(self) ? abs.slice(0, abs.length - self.length) || '/' : undefined;
}

function hasPid(dir: string, pid: string, io: CgroupNsIO): boolean {
  try {
    return io.readFile(path.posix.join(dir, 'cgroup.procs')).split('\n').includes(pid);
  } catch {
    return false; // not there, or removed meanwhile
  }
}

function findPid(mount: string, rel: string, pid: string, io: CgroupNsIO): string | undefined {
  const dir = path.posix.join(mount, rel);
  if (hasPid(dir, pid, io)) return rel;
  let subdirs: string[];
  try {
    subdirs = io.subdirs(dir);
  } catch {
    return undefined;
  }
  for (const d of subdirs) {
    const found = findPid(mount, path.posix.join(rel, d), pid, io);
    if (found !== undefined) return found;
  }
  return undefined;
}
