/**
 * A cgroup directory's interface files, on a plain directory that holds the same files (the real
 * cgroupfs is driven by test/supervisor/*.real.test.ts): what is read, what is written, and the
 * answers for a cgroup that is gone or a kernel without the file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killCgroup, listedPids, livePids, makeCgroup, moveIntoCgroup, removeCgroup, thawIfFrozen } from '../../src/host/cgroup-dir.js';

describe('a cgroup directory', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-cgdir-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const at = (name: string) => path.join(root, name);

  it('livePids lists the live processes of cgroup.procs, at most limit; none when the cgroup is gone', async () => {
    await makeCgroup(at('a'));
    const gone = 2 ** 22 + 1; // above pid_max's ceiling: never a process
    fs.writeFileSync(path.join(at('a'), 'cgroup.procs'), `${process.pid}\n${gone}\nnot-a-pid\n-3\n${process.ppid}\n`);
    expect(livePids(at('a'))).toEqual([process.pid, process.ppid]);
    expect(livePids(at('a'), 1)).toEqual([process.pid]);
    expect(listedPids(at('a'))).toEqual(new Set([process.pid, gone, NaN, -3, process.ppid]));
    expect(livePids(at('missing'))).toEqual([]);
    expect(listedPids(at('missing'))).toEqual(new Set());
  });

  it('livePids names the file and errno of a read that fails otherwise', async () => {
    await makeCgroup(at('b'));
    fs.mkdirSync(path.join(at('b'), 'cgroup.procs')); // a directory: EISDIR
    expect(() => livePids(at('b'))).toThrow(`read ${path.join(at('b'), 'cgroup.procs')}: EISDIR (illegal operation on a directory)`);
  });

  it('moveIntoCgroup writes the pid to cgroup.procs', async () => {
    await makeCgroup(at('c'));
    await moveIntoCgroup(at('c'), 4242);
    expect(fs.readFileSync(path.join(at('c'), 'cgroup.procs'), 'utf8')).toBe('4242');
  });

  it('thawIfFrozen thaws only a frozen cgroup, and says whether it was', async () => {
    await makeCgroup(at('d'));
    expect(thawIfFrozen(at('d'))).toBe(false); // no cgroup.freeze: a kernel without the v2 freezer
    fs.writeFileSync(path.join(at('d'), 'cgroup.freeze'), '0\n');
    expect(thawIfFrozen(at('d'))).toBe(false);
    fs.writeFileSync(path.join(at('d'), 'cgroup.freeze'), '1\n');
    expect(thawIfFrozen(at('d'))).toBe(true);
    expect(fs.readFileSync(path.join(at('d'), 'cgroup.freeze'), 'utf8')).toBe('0');
  });

  it('killCgroup: killed through cgroup.kill, gone without the cgroup, unsupported without the file', async () => {
    await makeCgroup(at('e'));
    fs.writeFileSync(path.join(at('e'), 'cgroup.kill'), '');
    expect(await killCgroup(at('e'))).toBe('killed');
    expect(fs.readFileSync(path.join(at('e'), 'cgroup.kill'), 'utf8')).toBe('1');
    expect(await killCgroup(at('f'))).toBe('gone');
    await makeCgroup(at('g'));
    expect(await killCgroup(at('g'))).toBe('unsupported');
  });

  it('removeCgroup removes an empty cgroup, ignores a gone one, and names the errno otherwise', async () => {
    await makeCgroup(at('h'));
    await removeCgroup(at('h'));
    expect(fs.existsSync(at('h'))).toBe(false);
    await removeCgroup(at('h'));
    await makeCgroup(at('i/child'));
    await expect(removeCgroup(at('i'))).rejects.toThrow(`rmdir ${at('i')}: ENOTEMPTY`);
  });
});
