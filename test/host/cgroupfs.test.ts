/**
 * Walking a hierarchy: every directory's inode is its cgroup id. Checked on a plain directory
 * tree, which cgroupfs walks the same way.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findCgroup, scanCgroups } from '../../src/host/cgroupfs.js';

describe('cgroupfs walks', () => {
  const mount = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-cgfs-'));
  const make = (rel: string) => {
    fs.mkdirSync(path.join(mount, rel), { recursive: true });
    return fs.statSync(path.join(mount, rel)).ino;
  };
  const deep = make('/a/b/c');
  const sibling = make('/a/x');
  const other = make('/z');
  fs.writeFileSync(path.join(mount, 'a', 'cgroup.procs'), '');

  afterAll(() => fs.rmSync(mount, { recursive: true, force: true }));

  it('scans every directory by inode', () => {
    const all = scanCgroups(mount);
    expect(all.get(deep)).toBe('/a/b/c');
    expect(all.get(sibling)).toBe('/a/x');
    expect(all.get(other)).toBe('/z');
    expect(all.get(fs.statSync(mount).ino)).toBe('/');
    expect(all.size).toBe(6);
  });

  it('finds a cgroup by id below a path, and only there', () => {
    expect(findCgroup(mount, '/a', deep)).toBe('/a/b/c');
    expect(findCgroup(mount, '/a/b', deep)).toBe('/a/b/c');
    expect(findCgroup(mount, '/a', other)).toBeUndefined();
    expect(findCgroup(mount, '/gone', deep)).toBeUndefined();
  });

  it('gives up after visiting maxDirs directories', () => {
    expect(findCgroup(mount, '/', deep, 2)).toBeUndefined();
    expect(findCgroup(mount, '/', deep)).toBe('/a/b/c');
  });
});
