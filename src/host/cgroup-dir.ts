/**
 * One cgroup v2 directory, through its interface files: who is in it (cgroup.procs), moving a
 * process in, killing all of it (cgroup.kill), thawing it (cgroup.freeze), making and removing it.
 * The supervisor runs each program in a directory of its own and acts on it only through here.
 *
 * Reads are synchronous on purpose: these are kernel pseudo-files answered from memory in
 * microseconds, and they sit on the restart path (the check that an emptied group really is empty,
 * the check before a launch), where each asynchronous read would cost a round trip through
 * libuv's thread pool and the event loop (milliseconds on a busy host).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, errnoText } from '../errors.js';
import { isExiting } from './procfs.js';

/**
 * Live processes listed in the directory's cgroup.procs, at most `limit`; none when the cgroup is
 * gone. A process already exiting (every thread inside do_exit()) does not count: the kernel's
 * exit record arrives before the task leaves cgroup.procs. Throws naming the file and errno.
 */
export function livePids(dir: string, limit = Infinity): number[] {
  const file = join(dir, 'cgroup.procs');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENODEV') return [];
    throw new Error(`read ${file}: ${errnoText(err)}`, { cause: err });
  }
  const alive: number[] = [];
  for (const line of text.split('\n')) {
    const pid = Number(line);
    if (line === '' || !Number.isInteger(pid) || pid <= 0 || isExiting(pid)) continue;
    alive.push(pid);
    if (alive.length >= limit) break;
  }
  return alive;
}

/** Every pid cgroup.procs lists now (none when the cgroup is gone): the check after pidfds are open. */
export function listedPids(dir: string): Set<number> {
  try {
    return new Set(readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
  } catch {
    return new Set();
  }
}

/**
 * Makes the directory unless it is there. Looked at first: mkdir would find out too, but it takes
 * the kernel's cgroup_mutex, which another program's migration may hold for a whole RCU grace
 * period. Rejects with the fs error.
 */
export async function makeCgroup(dir: string): Promise<void> {
  if (!existsSync(dir)) await mkdir(dir, { recursive: true });
}

/** Moves the process into the cgroup (a cgroup.procs write); rejects with the fs error. */
export function moveIntoCgroup(dir: string, pid: number): Promise<void> {
  return writeFile(join(dir, 'cgroup.procs'), String(pid));
}

/**
 * Thaws the cgroup if it is frozen; true when it was. False without a freezer (kernels before
 * 5.2: nothing can be frozen) or when it was not frozen. Throws the fs error of a failed thaw.
 */
export function thawIfFrozen(dir: string): boolean {
  const file = join(dir, 'cgroup.freeze');
  let frozen: boolean;
  try {
    frozen = readFileSync(file, 'utf8').trim() === '1';
  } catch {
    return false;
  }
  if (!frozen) return false;
  writeFileSync(file, '0');
  return true;
}

/**
 * SIGKILLs every process in the cgroup at once through cgroup.kill: 'killed'; 'gone' when there
 * is no such cgroup; 'unsupported' on kernels before 5.14, which have no cgroup.kill. Looked for
 * first: cgroupfs refuses to create a missing file with EACCES, not ENOENT, so a failed write
 * could not tell an old kernel from a refusal. Throws naming the file and errno.
 */
export async function killCgroup(dir: string): Promise<'killed' | 'gone' | 'unsupported'> {
  const file = join(dir, 'cgroup.kill');
  if (!existsSync(file)) return existsSync(dir) ? 'unsupported' : 'gone';
  try {
    await writeFile(file, '1');
    return 'killed';
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 'gone'; // removed meanwhile
    throw new Error(`write ${file}: ${errnoText(err)}`, { cause: err });
  }
}

/** Removes the (empty) cgroup; nothing when it is gone already. Throws naming the directory and errno. */
export async function removeCgroup(dir: string): Promise<void> {
  try {
    await rmdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw new Error(`rmdir ${dir}: ${errnoText(err)}`, { cause: err });
  }
}
