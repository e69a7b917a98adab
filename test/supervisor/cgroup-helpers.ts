/**
 * Helpers for tests that run real processes in real cgroups: a unique test root under the v2
 * mount, cleanup that kills and removes everything under it, and a stand-in for the kernel side
 * that reports emptying groups (polling cgroup.events here, in the test only: the supervisor
 * itself is told).
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isExiting, readStat } from '../../src/host/procfs.js';
import type { Supervisor } from '../../src/supervisor/supervisor.js';

/** Fail (never skip) when the privileged tests cannot run. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('test/supervisor real-process tests need root (they create cgroups and run as other users)');
  }
}

/** populated from cgroup.events; a missing group counts as empty. */
export async function populated(dir: string): Promise<boolean> {
  try {
    return /^populated 1$/m.test(await readFile(join(dir, 'cgroup.events'), 'utf8'));
  } catch {
    return false;
  }
}

/** Poll `check` until it returns true; throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
}

/**
 * Report every populated -> empty transition of the supervisor's cgroups, as the eBPF side will.
 * The kernel notifies cgroup.events watchers (inotify) on each change of `populated`, so a
 * program that lives less than a polling period is seen too: a change that leaves the group
 * empty is an emptying. The poll only finds cgroups made since (and covers a lost event). The
 * short delay lets Node see the main process's exit first, as it would in the agent.
 */
export function reportEmptying(supervisor: Supervisor, mountPoint: string, intervalMs = 10): () => void {
  const last = new Map<string, boolean>();
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const report = (cgroup: string) => setTimeout(() => !stopped && supervisor.onCgroupEmpty(cgroup), 30);
  const check = async (cgroup: string, changed: boolean): Promise<void> => {
    const now = await populated(join(mountPoint, cgroup));
    if (!now && (last.get(cgroup) === true || changed)) report(cgroup);
    last.set(cgroup, now);
  };
  const tick = async (): Promise<void> => {
    for (const { cgroup } of supervisor.cgroups()) {
      if (!watchers.has(cgroup)) {
        try {
          const w = watch(join(mountPoint, cgroup, 'cgroup.events'), () => void check(cgroup, true));
          w.on('error', () => {
            w.close();
            watchers.delete(cgroup); // the cgroup was removed; watch it again if it comes back
          });
          watchers.set(cgroup, w);
        } catch {
          // not made yet
        }
      }
      await check(cgroup, false);
    }
    if (!stopped) timer = setTimeout(() => void tick(), intervalMs);
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    for (const w of watchers.values()) w.close();
  };
}

/** Kill every process under `dir` and remove its cgroups, deepest first; `dir` too unless keepRoot. */
export async function destroyTree(dir: string, keepRoot = false): Promise<void> {
  try {
    await writeFile(join(dir, 'cgroup.kill'), '1');
  } catch {
    // gone already, or no cgroup.kill: the rmdir below says what is left
  }
  await waitFor(`${dir} to empty`, async () => !(await populated(dir)), 5000).catch(() => undefined);
  let entries: string[];
  try {
    entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return;
  }
  for (const name of entries) await destroyTree(join(dir, name));
  if (!keepRoot) await rmdir(dir).catch(() => undefined);
}

/**
 * Whether a process is gone, or runs nothing any more: a zombie nobody reaped yet, or a process
 * whose every thread is inside do_exit(), which the launcher counts as gone from its cgroup too.
 */
export async function gone(pid: number): Promise<boolean> {
  const state = readStat(pid)?.state;
  return state === undefined || state === 'Z' || isExiting(pid);
}
