/**
 * The `kill` action's SIGKILL against real processes, as root: it reaches the process the
 * agent's record names, and never another process that got its pid number after it exited.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { HostCgroupIO } from '../../src/beancounters/cgroup-actions.js';
import { loadBinding } from '../../src/host/binding.js';
import { readStat } from '../../src/host/procfs.js';
import { requireRoot, until } from '../helpers/cgroup.js';
import { alive, killIfSame, processAtPid, startOf } from '../helpers/pids.js';

const made: Array<{ pid: number; startNs: number }> = [];
afterEach(() => {
  for (const p of made.splice(0)) killIfSame(p);
});

const io = () => HostCgroupIO.detect(loadBinding());

/** A process of ours, old enough (> 2 clock ticks) that a later one never shares its start time. */
async function victim() {
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  await once(child, 'spawn');
  await sleep(30);
  const pid = child.pid!;
  return { child, pid, startNs: startOf(pid)! };
}

describe('kill (beancounter action) by pidfd', () => {
  it('SIGKILLs the process its record names', async () => {
    requireRoot();
    const v = await victim();
    expect(io().kill(v.pid, v.startNs)).toBe(true);
    const [, signal] = (await once(v.child, 'exit')) as [number | null, NodeJS.Signals | null];
    expect(signal).toBe('SIGKILL');
  });

  it('does not signal another process that took the pid number after the recorded one exited', async () => {
    requireRoot();
    const v = await victim();
    v.child.kill('SIGKILL');
    await once(v.child, 'exit'); // reaped: the number is free
    const other = processAtPid(v.pid);
    made.push(other);
    expect(other.startNs).not.toBe(v.startNs);

    expect(io().kill(v.pid, v.startNs)).toBe(false);
    // A signal of ours sent after it: a SIGKILL queued before would have put the process in group
    // exit, which drops a later SIGSTOP, so reaching the stopped state proves none was sent.
    process.kill(other.pid, 'SIGSTOP');
    await until(() => readStat(other.pid)?.state === 'T' || !alive(other.pid), 'the process to stop (or die)');
    expect(alive(other.pid)).toBe(true);
    expect(readStat(other.pid)?.state).toBe('T');
    expect(startOf(other.pid)).toBe(other.startNs);
  });

  it('says false for a pid no process has', () => {
    requireRoot();
    expect(io().kill(2 ** 22 + 12345, 0)).toBe(false); // above pid_max: never a process
  });
});
