/**
 * Names of groups and programs, the one rule both lists share: they end up in metric labels,
 * cgroup directory names and API URLs.
 */
import { describe, type ConfigReader, type KeyPath } from './reader.js';

const NAME = /^[A-Za-z0-9_.@:-]+$/;
export const NAME_EXPECTED = 'a name of letters, digits and _ . @ : -';

/** True for a name a group or program may have (without the cgroup.* rule, which is the programs'). */
export function isValidName(name: string): boolean {
  return NAME.test(name) && name !== '.' && name !== '..';
}

/** A unique name in `list`, recorded in `seen` under its index; fails on a bad or repeated one. */
export function readName(r: ConfigReader, value: unknown, path: KeyPath, list: string, seen: Map<string, number>, index: number): string {
  if (value == null) r.fail(path, 'missing', NAME_EXPECTED);
  const name = r.string(value, path, NAME_EXPECTED);
  if (!isValidName(name)) {
    r.fail(path, `${describe(name)} is not a valid name`, NAME_EXPECTED);
  }
  // Programs get a cgroup directory of this name, where cgroup.* are the kernel's own files.
  if (name.startsWith('cgroup.')) {
    r.fail(path, `${describe(name)} starts with "cgroup.", like the kernel's cgroup files`, 'another name');
  }
  const first = seen.get(name);
  if (first !== undefined) r.fail(path, `${describe(name)} is already used by ${list}[${first}]`, 'a unique name');
  seen.set(name, index);
  return name;
}
