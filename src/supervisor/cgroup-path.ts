/** Pure helpers for cgroup v2 paths: the programs' cgroups and the groups they watch. */
import { posix } from 'node:path';

/**
 * Canonical form of a cgroup path relative to the v2 root: one leading slash, no trailing or
 * doubled slashes, "." and ".." resolved ("system.slice//x.service/" -> "/system.slice/x.service").
 */
export function normalizeCgroupPath(path: string): string {
  const p = posix.normalize('/' + path);
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

/** True when `name` can be a single cgroup directory under the programs' root. */
export function isValidCgroupName(name: string): boolean {
  // "cgroup.*" names collide with the interface files the kernel puts in every directory.
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0') && !name.startsWith('cgroup.');
}
