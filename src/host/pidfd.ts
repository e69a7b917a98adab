/**
 * Signals that reach the process they were meant for and never another one that got its pid
 * number since: a pid learnt earlier (a kernel record, a cgroup.procs read) may have been freed
 * and handed out again by the time root's signal is sent. A pidfd names one process for as long
 * as it is open, whatever happens to the number, so the check is made after the pidfd is open
 * and the signal goes through the pidfd: no window is left between the check and the signal.
 *
 * - signalProcess: the process is known by pid and start time (the process table's record);
 *   /proc/<pid>/stat read after the open must show that start time.
 * - signalMembers: the processes are known as members of a cgroup; membership is read again after
 *   their pidfds are open, and only those still listed are signalled.
 *
 * Without pidfds (no addon, or a kernel before 5.3) both fall back to kill(2) after the same check,
 * which leaves the short window between the check and the signal.
 */
import { closeSync } from 'node:fs';
import { constants } from 'node:os';
import type { NativeBinding } from './binding.js';
import { readStat, START_TICK_NS } from './procfs.js';

/** The addon's two pidfd calls. */
export type PidfdNative = Pick<NativeBinding, 'pidfdOpen' | 'pidfdSendSignal'>;

/** What came of a signal: sent, no process at that pid (or it exited), or a different process there now. */
export type SignalOutcome = 'sent' | 'gone' | 'replaced';

/** pidfds open at once while signalling a cgroup's members, well under any fd limit. */
const BATCH = 256;

/**
 * Sends `signal` to the process at `pid` if it is the one that started at `startNs` (CLOCK_BOOTTIME
 * ns, as kernel records and procfs.ts give it; compared at /proc's clock-tick resolution).
 */
export function signalProcess(native: PidfdNative | null, pid: number, startNs: number, signal: NodeJS.Signals, procRoot = '/proc'): SignalOutcome {
  const fd = open(native, pid);
  if (fd === null) return 'gone';
  try {
    const now = readStat(pid, procRoot);
    if (now === undefined) return 'gone';
    if (now.startTicks !== Math.floor(startNs / START_TICK_NS + 1e-6)) return 'replaced';
    return send(native, fd, pid, signal) ? 'sent' : 'gone';
  } finally {
    if (fd !== NO_PIDFD) closeSync(fd);
  }
}

/**
 * Sends `signal` to those of `pids` that `members()` (read after their pidfds are open) still
 * lists; returns how many were signalled. A pid that left, or whose number went to a process
 * outside, is skipped; `members` is read once per batch of pidfds.
 */
export function signalMembers(native: PidfdNative | null, pids: readonly number[], members: () => Set<number>, signal: NodeJS.Signals): number {
  let sent = 0;
  for (let i = 0; i < pids.length; i += BATCH) {
    const open_: Array<[number, number]> = [];
    try {
      for (const pid of pids.slice(i, i + BATCH)) {
        const fd = open(native, pid);
        if (fd !== null) open_.push([pid, fd]);
      }
      if (open_.length === 0) continue;
      const still = members();
      for (const [pid, fd] of open_) if (still.has(pid) && send(native, fd, pid, signal)) sent++;
    } finally {
      for (const [, fd] of open_) if (fd !== NO_PIDFD) closeSync(fd);
    }
  }
  return sent;
}

/** Stands for a process that could not get a pidfd because pidfds are not available. */
const NO_PIDFD = -1;

/** A pidfd for the process at pid; null when there is none; NO_PIDFD when pidfds are unavailable. */
function open(native: PidfdNative | null, pid: number): number | null {
  if (!(Number.isInteger(pid) && pid > 0)) return null;
  if (native === null) return exists(pid) ? NO_PIDFD : null;
  try {
    return native.pidfdOpen(pid);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return null;
    // Kernels before 5.3, or a seccomp profile that refuses it.
    if (code === 'ENOSYS' || code === 'EPERM') return exists(pid) ? NO_PIDFD : null;
    throw err;
  }
}

function send(native: PidfdNative | null, fd: number, pid: number, signal: NodeJS.Signals): boolean {
  if (native !== null && fd !== NO_PIDFD) return native.pidfdSendSignal(fd, constants.signals[signal]);
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
