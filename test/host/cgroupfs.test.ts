/**
 * The one lookup of the cgroup mounts, on mount tables as hosts and containers write them; and
 * walking a hierarchy: every directory's inode is its cgroup id, checked on a plain directory
 * tree, which cgroupfs walks the same way.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findMounts } from '../../src/beancounters/cgroup-actions.js';
import { EnvironmentError } from '../../src/errors.js';
import { cpuUsageUs, detectCgroup2Mount, findCgroup, findHierarchy, parseMounts, scanCgroups } from '../../src/host/cgroupfs.js';
import { cgroupNsRoot } from '../../src/host/cgroupns.js';

describe('the cgroup2 mount', () => {
  const hybrid = [
    'tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0',
    'cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0',
    'cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0',
  ].join('\n');
  it.each([
    ['hybrid host', hybrid, '/sys/fs/cgroup/unified'],
    ['unified host', 'cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\nproc /proc proc rw 0 0', '/sys/fs/cgroup'],
    ['the usual place over a bind mount listed first', 'cgroup2 /var/lib/x/cg cgroup2 rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw 0 0', '/sys/fs/cgroup'],
    ['/sys/fs/cgroup over /sys/fs/cgroup/unified', 'cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw 0 0', '/sys/fs/cgroup'],
    [
      "a pod: the namespace's own mount and the node's over it",
      'cgroup2 /sys/fs/cgroup cgroup2 ro,nsdelegate 0 0\ncgroup2 /sys/fs/cgroup cgroup2 ro 0 0',
      '/sys/fs/cgroup',
    ],
    ['otherwise the first listed', 'cgroup2 /run/a cgroup2 rw 0 0\ncgroup2 /run/b/c cgroup2 rw 0 0', '/run/a'],
    ['escaped space', 'none /mnt/my\\040cg cgroup2 rw 0 0', '/mnt/my cg'],
    ['v1 only', 'cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0', undefined],
    ['short and empty lines', '\ncgroup2\nnone /x\ncgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n', '/sys/fs/cgroup'],
  ])('%s', (_label, mounts, expected) => {
    expect(parseMounts(mounts).v2).toBe(expected);
  });

  it('reads v1 mounts with their options, unescaped', () => {
    expect(parseMounts(hybrid + '\ncgroup /sys/fs/cgroup/my\\040name cgroup rw,name=mine 0 0').v1).toEqual([
      { mount: '/sys/fs/cgroup/cpu,cpuacct', options: ['rw', 'relatime', 'cpu', 'cpuacct'] },
      { mount: '/sys/fs/cgroup/my name', options: ['rw', 'name=mine'] },
    ]);
  });

  // The table where events (first cgroup2 line) and supervision (the usual place first) used to
  // pick different roots: a container runtime's bind mount of a sub-tree listed before the host's.
  const disagreed = ['cgroup2 /run/containerd/io/cg cgroup2 rw 0 0', 'cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0'].join('\n');
  it('events, supervision, the namespace lookup and the beancounters take the same root', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-mounts-'));
    try {
      const file = path.join(dir, 'mounts');
      fs.writeFileSync(file, disagreed);
      expect(findHierarchy('v2', disagreed, '0::/\n').mount).toBe('/sys/fs/cgroup'); // events
      expect(detectCgroup2Mount('supervising programs needs it', file)).toBe('/sys/fs/cgroup'); // supervision
      expect(findMounts(disagreed).v2).toBe('/sys/fs/cgroup'); // beancounters
      const read: string[] = [];
      const io = {
        readFile: (p: string) => {
          read.push(p);
          if (p === '/proc/self/mounts') return disagreed;
          if (p === '/proc/self/cgroup') return '0::/\n';
          throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
        },
        subdirs: () => [],
      };
      cgroupNsRoot(1234, io); // the namespace lookup looks for itself below the same root
      expect(read).toContain('/sys/fs/cgroup/cgroup.procs');
      expect(read.some((p) => p.startsWith('/run/containerd'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says what to do when there is no cgroup2 mount', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-mounts-'));
    try {
      const file = path.join(dir, 'mounts');
      fs.writeFileSync(file, hybrid.split('\n').slice(0, 2).join('\n'));
      expect(() => detectCgroup2Mount('supervising programs needs it', file)).toThrow(EnvironmentError);
      expect(() => detectCgroup2Mount('supervising programs needs it', file)).toThrow(
        `no cgroup v2 hierarchy is mounted (no cgroup2 line in ${file}); supervising programs needs it (mount -t cgroup2 none /sys/fs/cgroup/unified on a hybrid host)`,
      );
      expect(() => findHierarchy('v2', 'proc /proc proc rw 0 0', '')).toThrow(/no cgroup v2 hierarchy is mounted; mount one/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

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

describe('cpu.stat usage_usec (read at every scrape on cgroup v2)', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-cpustat-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const cgroup = (name: string, content: string | Buffer) => {
    fs.mkdirSync(path.join(root, name));
    fs.writeFileSync(path.join(root, name, 'cpu.stat'), content);
    return `/${name}`;
  };
  it.each([
    ['as the kernel writes it', 'usage_usec 18668500928\nuser_usec 14018213512\nsystem_usec 4650287415\n', 18668500928],
    ['no value', 'usage_usec \nuser_usec 1\n', undefined],
    ['another first line', 'user_usec 5\nusage_usec 7\n', undefined],
    ['a negative value', 'usage_usec -5\n', undefined],
    ['an empty file', '', undefined],
    ['binary garbage', Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0, 0xff, 0xfe]), undefined],
  ])('%s', (name, content, want) => {
    expect(cpuUsageUs(root, cgroup(name.replace(/\W/g, '_'), content))).toBe(want);
  });
  it('a value longer than the read buffer is cut there, a number still', () => {
    expect(cpuUsageUs(root, cgroup('long', `usage_usec ${'9'.repeat(400)}`))).toBeGreaterThan(1e200);
  });
  it('a cgroup gone (or never there) reads as undefined, never a throw', () => {
    expect(cpuUsageUs(root, '/no-such-cgroup')).toBeUndefined();
    expect(cpuUsageUs('/nonexistent-mount', '/')).toBeUndefined();
  });
});
