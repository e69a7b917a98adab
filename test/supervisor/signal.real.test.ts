/**
 * The supervisor's signals and kills against real processes, as root: a pid read from a
 * program's cgroup.procs whose process exits, and whose number another process outside the
 * program takes, before the signal is sent, must not be signalled.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadBinding, type NativeBinding } from '../../src/host/binding.js';
import { detectCgroup2Mount } from '../../src/host/cgroupfs.js';
import { isExiting } from '../../src/host/procfs.js';
import { CgroupLauncher } from '../../src/supervisor/launcher.js';
import { alive, killIfSame, processAtPid, startOf } from '../helpers/pids.js';
import { destroyTree, requireRoot, waitFor } from './cgroup-helpers.js';
import { captureLogger } from './fakes.js';

let mount = '';
const testRoot = `/forkwatch-test-signal-${process.pid}-${Date.now().toString(36)}`;
let rootDir = '';
const made: Array<{ pid: number; startNs: number }> = [];
const realKill = process.kill.bind(process);

beforeAll(async () => {
  requireRoot();
  mount = detectCgroup2Mount();
  rootDir = join(mount, testRoot);
  await mkdir(rootDir);
});

afterEach(async () => {
  vi.restoreAllMocks();
  for (const p of made.splice(0)) killIfSame(p);
  if (rootDir) await destroyTree(rootDir, true);
});

afterAll(async () => {
  if (rootDir) await destroyTree(rootDir);
});

/** A `sleep` alone in the program's cgroup, its parent init (as after an agent restart), > 2 ticks old. */
async function member(launcher: CgroupLauncher, name: string): Promise<{ pid: number; startNs: number }> {
  const dir = launcher.dir(name);
  await mkdir(dir, { recursive: true });
  const out = execFileSync('/bin/bash', ['-c', `echo $$ > ${join(dir, 'cgroup.procs')} && { setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $!; }`], {
    encoding: 'utf8',
  });
  const pid = Number(out.trim());
  await waitFor('the cgroup to hold the sleep alone', () => readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() === String(pid));
  await new Promise((r) => setTimeout(r, 30));
  const p = { pid, startNs: startOf(pid)! };
  made.push(p);
  return p;
}

/**
 * Whether `p` is still the process it was and no signal was sent to it. kill(2) and
 * pidfd_send_signal(2) mark a fatal signal on the target before they return (the signal pending on
 * its threads, then PF_EXITING, then gone), so once the launcher's call has resolved, a signal it
 * sent shows here at once: no wait for the target to act on it.
 */
function unsignalled(p: { pid: number; startNs: number }): { alive: boolean; sameProcess: boolean; pending: string[]; exiting: boolean } {
  let status = '';
  try {
    status = readFileSync(`/proc/${p.pid}/status`, 'utf8');
  } catch {
    // gone: alive false below
  }
  const pending = ['SigPnd', 'ShdPnd'].map((f) => `${f} ${new RegExp(`^${f}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1] ?? '?'}`).filter((f) => !/ 0+$/.test(f));
  return { alive: alive(p.pid), sameProcess: startOf(p.pid) === p.startNs, pending, exiting: isExiting(p.pid) };
}

/**
 * Right before the launcher acts on `pid` (opening its pidfd, or calling kill(2) with it), the
 * process exits and a process outside the program gets its number: the race a pid read from
 * cgroup.procs runs.
 */
function reuseOnFirstTouch(pid: number): {
  native: Pick<NativeBinding, 'pidfdOpen' | 'pidfdSendSignal'>;
  other: () => { pid: number; startNs: number } | undefined;
} {
  let other: { pid: number; startNs: number } | undefined;
  const trigger = (p: number) => {
    if (p !== pid || other !== undefined) return;
    realKill(pid, 'SIGKILL');
    // init reaps it; only then is the number free.
    const end = Date.now() + 5000;
    while (existsSync(`/proc/${pid}`) && Date.now() < end) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    other = processAtPid(pid);
    made.push(other);
  };
  vi.spyOn(process, 'kill').mockImplementation((p: number, sig?: string | number) => {
    trigger(p);
    return realKill(p, sig);
  });
  const binding = loadBinding();
  const native = {
    pidfdOpen: (p: number) => {
      trigger(p);
      return binding.pidfdOpen(p);
    },
    pidfdSendSignal: (fd: number, sig: number) => binding.pidfdSendSignal(fd, sig),
  };
  return { native, other: () => other };
}

function launcher(pidfd: Pick<NativeBinding, 'pidfdOpen' | 'pidfdSendSignal'>, useCgroupKill = true): CgroupLauncher {
  return new CgroupLauncher({ logger: captureLogger(), mountPoint: mount, root: testRoot, native: null, setpriv: null, pidfd, useCgroupKill });
}

describe('supervisor signals by pidfd', () => {
  it('stop signal: a pid reused by a process outside the program is not signalled', async () => {
    requireRoot();
    const p = await member(launcher(loadBinding()), 'prog');
    const r = reuseOnFirstTouch(p.pid);
    await launcher(r.native).signal('prog', 'SIGTERM');
    const other = r.other();
    expect(other, 'the race was set up').toBeDefined();
    // signal() has resolved: a SIGTERM it sent to the other process would show now.
    expect(unsignalled(other!)).toEqual({ alive: true, sameProcess: true, pending: [], exiting: false });
  });

  it('SIGKILL loop of kernels without cgroup.kill: a reused pid outside the program is not killed', async () => {
    requireRoot();
    const p = await member(launcher(loadBinding()), 'prog2');
    const r = reuseOnFirstTouch(p.pid);
    await launcher(r.native, false).kill('prog2');
    const other = r.other();
    expect(other, 'the race was set up').toBeDefined();
    // kill() has resolved: a SIGKILL it sent to the other process would show now.
    expect(unsignalled(other!)).toEqual({ alive: true, sameProcess: true, pending: [], exiting: false });
  });

  it('signals every process still in the program', async () => {
    requireRoot();
    const l = launcher(loadBinding());
    const p = await member(l, 'prog3');
    expect(await l.signal('prog3', 'SIGTERM')).toBe(1);
    await waitFor('the member to die of SIGTERM', () => !alive(p.pid));
  });
});
