/**
 * Starting a program inside its cgroup from its first instruction: the addon's clone3 with
 * CLONE_INTO_CGROUP (posix_spawn style, no page tables copied). Kernels before 5.7, and container
 * seccomp profiles that refuse clone3, cannot: the caller then falls back to the shell gate
 * (shell.ts).
 */
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { nativeErrorText, type NativeError } from '../errors.js';
import type { NativeBinding, NativeExit } from '../host/binding.js';
import type { Prepared } from './command.js';
import { LaunchError } from './types.js';

/** The part of the addon the launcher spawns with. */
export type NativeSpawn = Pick<NativeBinding, 'spawnInCgroup'>;

/** A program's main process, started and followed: its output, and how to let it go. */
export interface Spawned {
  pid: number;
  stdout: Readable | null;
  stderr: Readable | null;
  /** The pipes' read ends, when asked for instead of streams (the log relay takes them). */
  outputFds?: readonly [number, number];
  /** Stop following it so the agent can exit with it running (its output still logged meanwhile). */
  release: () => void;
}

/**
 * The errno codes of a clone3 that lacks CLONE_INTO_CGROUP (or clone3 altogether), and EPERM:
 * older container seccomp profiles refuse clone3 outright. The fallback then reports what the
 * cgroup.procs write says, should the refusal have been about the cgroup after all.
 */
const NO_CLONE_INTO_CGROUP = new Set(['ENOSYS', 'EINVAL', 'E2BIG', 'EPERM']);

/** Child steps whose failure a retry soon will not fix, unless the errno says it might. */
const CHILD_STEPS = new Set(['execve', 'chdir', 'setgroups', 'setgid', 'setuid']);
const TRANSIENT_CODES = new Set(['EAGAIN', 'ENOMEM', 'ETXTBSY', 'EINTR', 'ENFILE', 'EMFILE']);

/**
 * Starts the prepared command in the cgroup directory `dir`. `{ unavailable }` says why this
 * kernel cannot (use the shell gate from now on); any other failure is a LaunchError, permanent
 * when the child's own step failed for a reason a retry will not fix (execve ENOENT, setuid EPERM).
 * `rawOutput`: the output pipes' read ends come back as `outputFds`, not as streams.
 */
export function spawnIntoCgroup(
  native: NativeSpawn,
  name: string,
  prepared: Prepared,
  dir: string,
  onExit: (exit: NativeExit) => void,
  rawOutput = false,
): Spawned | { unavailable: string } {
  const identity = prepared.identity;
  let child;
  try {
    child = native.spawnInCgroup(
      {
        file: prepared.file,
        argv: prepared.argv,
        envp: Object.entries(prepared.env).map(([k, v]) => `${k}=${v}`),
        cwd: prepared.cwd,
        cgroupDir: dir,
        // Own session: a ^C at the agent's terminal or a signal to its process group is not
        // for the programs, and keep_running programs must outlive the agent.
        setsid: true,
        ...(identity ? { ...(identity.uid !== undefined ? { uid: identity.uid } : {}), gid: identity.gid, groups: identity.groups } : {}),
      },
      onExit,
    );
  } catch (err) {
    const e = err as NativeError;
    if (e.step === 'clone3' && e.code !== undefined && NO_CLONE_INTO_CGROUP.has(e.code)) return { unavailable: nativeErrorText(e) };
    const permanent = e.step !== undefined && CHILD_STEPS.has(e.step) && !TRANSIENT_CODES.has(e.code ?? '');
    throw new LaunchError(name, nativeErrorText(e), { permanent, ...(e.code ? { code: e.code } : {}) });
  }
  if (rawOutput) return { pid: child.pid, stdout: null, stderr: null, outputFds: [child.stdoutFd, child.stderrFd], release: () => child.unref() };
  const stdout = pipeReader(child.stdoutFd);
  const stderr = pipeReader(child.stderrFd);
  return {
    pid: child.pid,
    stdout,
    stderr,
    release: () => {
      // Output keeps flowing to the log while the agent lives; none of it may keep the agent alive.
      child.unref();
      stdout.unref();
      stderr.unref();
    },
  };
}

/** A read end of a program's output pipe as a stream; it closes the fd at EOF. */
export function pipeReader(fd: number): Socket {
  return new Socket({ fd, readable: true, writable: false });
}
