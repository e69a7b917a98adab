/**
 * Pid reuse on demand, for tests of code that signals processes it learnt about earlier: a new
 * process is made to get a given pid number by setting the init pid namespace's ns_last_pid just
 * before a fork (root only; CRIU restores pids the same way). Other processes on the host fork
 * too, so it tries again until the number comes out right.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { readStat } from '../../src/host/procfs.js';

const SCRIPT = [
  'n=$1',
  'for ((i = 0; i < 200; i++)); do',
  '  echo $((n - 1)) > /proc/sys/kernel/ns_last_pid',
  // Its own session, so it also stands for a process group leader; no pipe of ours stays open.
  '  setsid sleep 1000 </dev/null >/dev/null 2>&1 &',
  '  if [ $! = "$n" ]; then exit 0; fi',
  '  kill -KILL $! 2>/dev/null',
  'done',
  'exit 1',
].join('\n');

/**
 * Starts `sleep 1000` with pid `pid` (which must be free: the process that had it exited and was
 * reaped). Returns its start time as /proc shows it, to tell it apart later. Throws when another
 * process kept taking the number first.
 */
export function processAtPid(pid: number): { pid: number; startNs: number } {
  try {
    execFileSync('/bin/bash', ['-c', SCRIPT, 'reuse', String(pid)], { stdio: 'ignore' });
  } catch {
    throw new Error(`could not start a process with pid ${pid} (ns_last_pid raced 200 times, or the pid is taken)`);
  }
  // Returned once it runs sleep (after setsid): until then it is a copy of the shell, in its group.
  const end = Date.now() + 5000;
  while (comm(pid) !== 'sleep' && Date.now() < end) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  if (comm(pid) !== 'sleep') throw new Error(`pid ${pid} did not come to run sleep`);
  return { pid, startNs: startOf(pid)! };
}

function comm(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The process's start time (CLOCK_BOOTTIME ns, clock-tick resolution), or undefined when there is none. */
export function startOf(pid: number): number | undefined {
  return readStat(pid)?.startNs;
}

/** True while the process exists and is not a zombie. */
export function alive(pid: number): boolean {
  const state = readStat(pid)?.state;
  return state !== undefined && state !== 'Z';
}

/** SIGKILLs a process this test made, if it is still the one started at startNs. */
export function killIfSame(p: { pid: number; startNs: number }): void {
  if (startOf(p.pid) !== p.startNs) return;
  try {
    process.kill(p.pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}
