/** The cgroupfs adapter on directory trees laid out like cgroupfs (no root needed). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findMounts, HostCgroupIO, parseKeyed } from '../../src/beancounters/cgroup-actions.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-cgfs-'));
  dirs.push(root);
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  return root;
}

describe('findMounts and parseKeyed', () => {
  it('finds the v2 mount and the v1 memory and pids hierarchies of a hybrid host', () => {
    const mounts = [
      'cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0',
      'cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0',
      'cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0',
      'cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0',
      'cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0',
    ].join('\n');
    expect(findMounts(mounts)).toEqual({ v2: '/sys/fs/cgroup/unified', v1: { memory: '/sys/fs/cgroup/memory', pids: '/sys/fs/cgroup/pids' } });
    expect(findMounts('cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n')).toEqual({ v2: '/sys/fs/cgroup', v1: {} });
  });

  it('parses flat keyed files', () => {
    expect(parseKeyed('low 0\nhigh 2\nmax 5\noom 1\n')).toEqual(
      new Map([
        ['low', 0],
        ['high', 2],
        ['max', 5],
        ['oom', 1],
      ]),
    );
  });
});

describe('HostCgroupIO', () => {
  it('reads the v2 files when they are there', () => {
    const v2 = tree({ 'a/memory.current': '4096\n', 'a/pids.events': 'max 3\n', 'a/memory.events': 'low 0\nhigh 0\nmax 7\noom 0\n' });
    const io = new HostCgroupIO({ v2, v1: {} });
    expect(io.memoryBytes('/a')).toBe(4096);
    expect(io.refusals('/a', 'pids')).toBe(3);
    expect(io.refusals('/a', 'memory')).toBe(7);
  });

  it('falls back to the v1 hierarchies at the same path on a hybrid host', () => {
    const v2 = tree({ 'a/cgroup.procs': '' });
    const mem = tree({ 'a/memory.usage_in_bytes': '123456\n', 'a/memory.failcnt': '2\n' });
    const pids = tree({ 'a/pids.events': 'max 9\n' });
    const io = new HostCgroupIO({ v2, v1: { memory: mem, pids } });
    expect(io.memoryBytes('/a')).toBe(123456);
    expect(io.refusals('/a', 'pids')).toBe(9);
    expect(io.refusals('/a', 'memory')).toBe(2);
    fs.writeFileSync(path.join(pids, 'a/pids.events'), 'max 11\n');
    expect(io.refusals('/a', 'pids')).toBe(11);
  });

  it('answers undefined for the root and for cgroups nothing covers, and looks again only after a while', () => {
    let now = 0;
    const v2 = tree({ 'memory.current': '1' });
    const mem = tree({});
    const io = new HostCgroupIO({ v2, v1: { memory: mem } }, () => now);
    expect(io.memoryBytes('/')).toBeUndefined();
    expect(io.memoryBytes('/b')).toBeUndefined();
    fs.mkdirSync(path.join(mem, 'b'));
    fs.writeFileSync(path.join(mem, 'b/memory.usage_in_bytes'), '77');
    expect(io.memoryBytes('/b')).toBeUndefined();
    now = 10_001;
    expect(io.memoryBytes('/b')).toBe(77);
  });

  it('writes cgroup.freeze, and names the file when it cannot', () => {
    const v2 = tree({ 'a/cgroup.freeze': '0' });
    const io = new HostCgroupIO({ v2, v1: {} });
    io.setFrozen('/a', true);
    expect(fs.readFileSync(path.join(v2, 'a/cgroup.freeze'), 'utf8')).toBe('1');
    io.setFrozen('/a', false);
    expect(fs.readFileSync(path.join(v2, 'a/cgroup.freeze'), 'utf8')).toBe('0');
    expect(() => io.setFrozen('/gone', true)).toThrow(/ENOENT: no such file or directory, open '.*\/gone\/cgroup\.freeze'/);
    expect(() => new HostCgroupIO({ v1: {} }).setFrozen('/a', true)).toThrow('cannot freeze /a: no cgroup v2 hierarchy is mounted');
  });

  it('kill() says false for a process that is gone', () => {
    const io = new HostCgroupIO({ v1: {} });
    expect(io.kill(2 ** 22 + 12345, 0)).toBe(false); // above pid_max: never a process
  });
});
