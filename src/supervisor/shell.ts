/**
 * Starting through Node's child_process: the shell gate, the fallback on kernels without
 * clone3(CLONE_INTO_CGROUP) (before 5.7), and watch mode's restart_command, which runs outside
 * any program cgroup.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Duplex, Readable, Stream } from 'node:stream';
import { errnoCode, errnoText } from '../errors.js';
import { moveIntoCgroup } from '../host/cgroup-dir.js';
import type { NodeCommand, Prepared } from './command.js';
import type { Spawned } from './spawn.js';
import { LaunchError, type ExitStatus, type Timers } from './types.js';

// Run by /bin/sh as `sh -c WRAPPER forkwatch <argv...>`. Node cannot spawn into a cgroup, so the
// shell waits until the agent has written its pid to cgroup.procs and then says go on fd 3; the
// command never runs outside the cgroup, and a failed move is reported by the agent with the
// path and errno instead of by a shell.
const WRAPPER = [
  // EOF instead of a line: the agent gave up on this launch (or died); run nothing.
  'read -r go <&3 || exit 125',
  'exec 3<&-',
  // systemd's IgnoreSIGPIPE=yes: a program left running when the agent exits must not die of
  // its next log line into a pipe nobody reads any more. The addon's spawn does the same.
  "trap '' PIPE",
  'exec "$@"',
].join('\n');

/** Where a gated start's time went, in ms: Node's fork+exec of the shell, and the move into the cgroup. */
export interface GateTiming {
  spawnMs: number;
  moveMs: number;
}

/**
 * The fallback: Node spawns a shell held at a gate, the agent moves it into the cgroup `dir`, then
 * lets it exec the command. Rejects with a LaunchError naming the step; the shell is killed then.
 * `output`: what the program's stdout and stderr are (a log relay's input), instead of pipes to the agent.
 */
export async function gateShell(
  name: string,
  prepared: Prepared,
  command: NodeCommand,
  dir: string,
  onExit: (exit: ExitStatus) => void,
  output?: readonly [Stream, Stream],
): Promise<Spawned & { timing: GateTiming }> {
  const t0 = performance.now();
  const child = spawn('/bin/sh', ['-c', WRAPPER, 'forkwatch', ...command.argv], {
    cwd: prepared.cwd,
    env: prepared.env,
    stdio: ['ignore', output?.[0] ?? 'pipe', output?.[1] ?? 'pipe', 'pipe'],
    // Own session, as the addon's spawn gives it.
    detached: true,
    ...command.ids,
  });
  const gate = child.stdio[3] as Duplex | null | undefined;
  // The gate breaks with EPIPE when the shell is gone already; the exit handler tells that story.
  gate?.on('error', () => undefined);
  // A pid means the shell was started (libuv waits for its exec); only a failure needs the
  // 'error' event, which comes a turn of the event loop later.
  if (child.pid === undefined) {
    try {
      await once(child, 'spawn');
    } catch (err) {
      throw new LaunchError(name, `spawn /bin/sh: ${errnoText(err)}`, { permanent: false, code: errnoCode(err) });
    }
  }
  const pid = child.pid as number;
  child.once('exit', (code, signal) => onExit({ code, signal }));
  const t1 = performance.now();
  try {
    await moveIntoCgroup(dir, pid);
  } catch (err) {
    child.kill('SIGKILL');
    throw new LaunchError(name, `write ${join(dir, 'cgroup.procs')} (pid ${pid}): ${errnoText(err)}`, { permanent: false, code: errnoCode(err) });
  }
  gate?.end('go\n');
  // The move into the cgroup waits for an RCU grace period in the kernel.
  const t2 = performance.now();
  return { pid, stdout: child.stdout, stderr: child.stderr, release: () => releaseChild(child), timing: { spawnMs: t1 - t0, moveMs: t2 - t1 } };
}

/**
 * Runs a command to completion in a process group of its own (watch mode's restart_command):
 * `onOutput` gets its output streams once it runs; after `timeoutMs` the whole group is killed
 * and the exit says timedOut. Rejects with a LaunchError when it cannot be spawned.
 */
export async function runCommand(
  name: string,
  prepared: Prepared,
  command: NodeCommand,
  timers: Timers,
  timeoutMs: number,
  onOutput: (streams: { stdout: Readable | null; stderr: Readable | null }) => void,
): Promise<ExitStatus> {
  const [file, ...args] = command.argv as [string, ...string[]];
  const child = spawn(file, args, {
    cwd: prepared.cwd,
    env: prepared.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...command.ids,
  });
  try {
    await once(child, 'spawn');
  } catch (err) {
    throw new LaunchError(name, `spawn ${file}: ${errnoText(err)}`, { permanent: false, code: errnoCode(err) });
  }
  onOutput(child);
  return new Promise<ExitStatus>((resolve) => {
    let timedOut = false;
    const timer = timers.setTimeout(() => {
      timedOut = true;
      // Its own process group (detached): take whatever it started along with it. The timer is
      // cleared on exit, so the leader is not reaped yet and its pid (the group's id) is still its own.
      signalQuietly(-(child.pid as number), 'SIGKILL');
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      timers.clearTimeout(timer);
      resolve({ code, signal, ...(timedOut ? { timedOut: true } : {}) });
    });
  });
}

function releaseChild(child: ChildProcess): void {
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
}

function signalQuietly(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // ESRCH: it exited between reading cgroup.procs and now, which is what we wanted anyway.
  }
}
