/** signalProcess / signalMembers with a recording stand-in for the addon, on real pids of this test. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { signalMembers, signalProcess, type PidfdNative } from '../../src/host/pidfd.js';
import { alive, startOf } from '../helpers/pids.js';

const children: Array<ReturnType<typeof spawn>> = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

async function sleeper() {
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  children.push(child);
  await once(child, 'spawn');
  return { child, pid: child.pid!, startNs: startOf(child.pid!)! };
}

/** Records what would go through pidfds; `openError` makes pidfd_open fail with that errno. */
function fake(openError?: string) {
  const sent: Array<[number, number]> = [];
  const fds = new Map<number, number>();
  const native: PidfdNative = {
    pidfdOpen: (pid) => {
      if (openError) throw Object.assign(new Error(`pidfd_open(${pid}): ${openError}`), { code: openError });
      const fd = openSync('/dev/null', 'r'); // a real descriptor, for the close
      fds.set(fd, pid);
      return fd;
    },
    pidfdSendSignal: (fd, sig) => {
      sent.push([fds.get(fd)!, sig]);
      return true;
    },
  };
  return { native, sent };
}

describe('signalProcess', () => {
  it('signals through the pidfd only when the process has the recorded start time', async () => {
    const s = await sleeper();
    const f = fake();
    expect(signalProcess(f.native, s.pid, s.startNs + 5e7, 'SIGTERM')).toBe('replaced');
    expect(f.sent).toEqual([]);
    expect(signalProcess(f.native, s.pid, s.startNs + 9e6, 'SIGTERM')).toBe('sent'); // same clock tick
    expect(f.sent).toEqual([[s.pid, 15]]);
  });

  it('without pidfds (kernel before 5.3): kill(2) after the start-time check', async () => {
    const s = await sleeper();
    expect(signalProcess(fake('ENOSYS').native, s.pid, s.startNs + 5e7, 'SIGKILL')).toBe('replaced');
    await sleep(50);
    expect(alive(s.pid)).toBe(true);
    expect(signalProcess(null, s.pid, s.startNs, 'SIGKILL')).toBe('sent');
    expect((await once(s.child, 'exit'))[1]).toBe('SIGKILL');
    expect(signalProcess(null, s.pid, s.startNs, 'SIGKILL')).toBe('gone');
  });

  it('gone when pidfd_open finds no process', () => {
    expect(signalProcess(fake('ESRCH').native, 123, 0, 'SIGKILL')).toBe('gone');
    expect(signalProcess(null, 0, 0, 'SIGKILL')).toBe('gone');
  });
});

describe('signalMembers', () => {
  it('signals only the pids still listed once their pidfds are open', async () => {
    const a = await sleeper();
    const b = await sleeper();
    expect(signalMembers(null, [a.pid, b.pid], () => new Set([b.pid]), 'SIGKILL')).toBe(1);
    expect((await once(b.child, 'exit'))[1]).toBe('SIGKILL');
    expect(alive(a.pid)).toBe(true);
  });
});
