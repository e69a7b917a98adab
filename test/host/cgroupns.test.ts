/** Whole cgroup paths from inside a cgroup namespace of our own (a container's). */
import { describe, expect, it } from 'vitest';
import { cgroupNsRoot, fromNamespace, type CgroupNsIO } from '../../src/host/cgroupns.js';

/** A fake host: a cgroup v2 tree at /sys/fs/cgroup with the pids in each cgroup. */
function host(tree: Record<string, number[]>, self: string): CgroupNsIO {
  const files: Record<string, string> = {
    '/proc/self/mounts': 'tmpfs /sys/fs tmpfs rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n',
    '/proc/self/cgroup': `0::${self}\n`,
  };
  for (const [cg, pids] of Object.entries(tree)) files[`/sys/fs/cgroup${cg === '/' ? '' : cg}/cgroup.procs`] = pids.map((p) => `${p}\n`).join('');
  return {
    readFile: (p) => {
      if (!(p in files)) throw Object.assign(new Error(`ENOENT ${p}`), { code: 'ENOENT' });
      return files[p];
    },
    subdirs: (p) => {
      const rel = p.slice('/sys/fs/cgroup'.length) || '/';
      const prefix = rel === '/' ? '/' : rel + '/';
      return Object.keys(tree)
        .filter((cg) => cg !== rel && cg.startsWith(prefix) && !cg.slice(prefix.length).includes('/'))
        .map((cg) => cg.slice(prefix.length));
    },
  };
}

const TREE = {
  '/': [],
  '/init.scope': [1],
  '/system.slice': [],
  '/system.slice/cron.service': [300],
  '/kubepods': [],
  '/kubepods/burstable': [],
  '/kubepods/burstable/pod1b2c': [],
  '/kubepods/burstable/pod1b2c/c0ffee': [4242],
};

describe('cgroupNsRoot', () => {
  it('a container: /proc says "/", the tree says where it really is', () => {
    expect(cgroupNsRoot(4242, host(TREE, '/'))).toBe('/kubepods/burstable/pod1b2c/c0ffee');
  });

  it('moved below the namespace root: the root is what is left above our own path', () => {
    const tree = { ...TREE, '/kubepods/burstable/pod1b2c/c0ffee': [], '/kubepods/burstable/pod1b2c/c0ffee/agent': [4242] };
    expect(cgroupNsRoot(4242, host(tree, '/agent'))).toBe('/kubepods/burstable/pod1b2c/c0ffee');
  });

  it("no namespace of our own: /proc's paths are whole already", () => {
    expect(cgroupNsRoot(300, host(TREE, '/system.slice/cron.service'))).toBeUndefined();
  });

  it('cannot be told (not in the mounted tree, no v2 mount): undefined, paths left as they are', () => {
    expect(cgroupNsRoot(999, host(TREE, '/'))).toBeUndefined();
    const io = host(TREE, '/');
    expect(cgroupNsRoot(4242, { ...io, readFile: (p) => (p === '/proc/self/mounts' ? 'proc /proc proc rw 0 0\n' : io.readFile(p)) })).toBeUndefined();
  });
});

describe('fromNamespace', () => {
  it.each([
    ['/', '/kubepods/burstable/pod1b2c/c0ffee', '/kubepods/burstable/pod1b2c/c0ffee'],
    ['/../../../../system.slice/cron.service', '/kubepods/burstable/pod1b2c/c0ffee', '/system.slice/cron.service'],
    ['/../../../../init.scope', '/kubepods/burstable/pod1b2c/c0ffee', '/init.scope'],
    ['/../sibling', '/kubepods/burstable/pod1b2c/c0ffee', '/kubepods/burstable/pod1b2c/sibling'],
    ['/child', '/kubepods/burstable/pod1b2c/c0ffee', '/kubepods/burstable/pod1b2c/c0ffee/child'],
  ])('%s in a namespace rooted at %s is %s', (rel, root, want) => {
    expect(fromNamespace(rel, root)).toBe(want);
  });
});
