/** Pure helpers for cgroup v2 paths and the mount table. */
import { posix } from 'node:path';

/**
 * Canonical form of a cgroup path relative to the v2 root: one leading slash, no trailing or
 * doubled slashes, "." and ".." resolved ("system.slice//x.service/" -> "/system.slice/x.service").
 */
export function normalizeCgroupPath(path: string): string {
  const p = posix.normalize('/' + path);
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

/** Undo the octal escapes /proc/self/mounts uses for space, tab, newline and backslash. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * Where cgroup v2 is mounted, from the text of /proc/self/mounts: /sys/fs/cgroup on a unified
 * host, /sys/fs/cgroup/unified on a hybrid one. Those usual places win over other cgroup2 mounts
 * (a container runtime's bind mounts of sub-trees); failing them, the first one listed.
 */
export function findCgroup2Mount(mounts: string): string | null {
  const points: string[] = [];
  for (const line of mounts.split('\n')) {
    const fields = line.split(' ');
    if (fields[2] === 'cgroup2' && fields[1] !== undefined) points.push(unescapeMountField(fields[1]));
  }
  return points.find((p) => USUAL_MOUNTS.includes(p)) ?? points[0] ?? null;
}

const USUAL_MOUNTS = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'];

/** True when `name` can be a single cgroup directory under the programs' root. */
export function isValidCgroupName(name: string): boolean {
  // "cgroup.*" names collide with the interface files the kernel puts in every directory.
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0') && !name.startsWith('cgroup.');
}
