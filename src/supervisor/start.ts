/**
 * How one start attempt of a program comes to run: what a previous agent left in the cgroup is
 * adopted at once; otherwise the attempt waits at the `after:` gate, then launches (a watching
 * program runs its restart_command, watch.ts). It keeps no state: the program says at each await
 * whether the attempt is still its current one.
 */
import type { SupervisedSpec } from './policy.js';
import type { ExitStatus, Launcher, Logger } from './types.js';
import { startWatched } from './watch.js';

/** What one attempt needs from the program that makes it. */
export interface StartAttempt {
  readonly spec: SupervisedSpec;
  /** The watched cgroup's path, for a watching program. */
  readonly watchPath: string | undefined;
  /** The cgroup the program lives in (for log lines). */
  readonly cgroup: string;
  readonly launcher: Launcher;
  readonly logger: Logger;
  readonly restartCommandTimeoutMs: number;
  /** Resolves once the named programs are up; absent: no wait. */
  readonly gate: ((after: readonly string[]) => Promise<void>) | undefined;
  /** False once the attempt was given up (stopped, superseded, detached). */
  current(): boolean;
  /** The attempt waits at the gate (true) or has passed it (false). */
  gated(waiting: boolean): void;
  /** The launched main process exited (the group may live on). */
  mainExit(exit: ExitStatus): void;
}

/** What runs once an attempt succeeded; startedAt null: now. */
export interface Started {
  pid: number | null;
  startedAt: number | null;
  /** Launched by this attempt: its main process's status will come (StartAttempt.mainExit). */
  ownsMain?: boolean;
}

/**
 * Runs the attempt: resolves to what runs, or null when the attempt was given up meanwhile; throws
 * what the launch threw (a LaunchError says whether it is worth retrying).
 */
export async function startAttempt(a: StartAttempt, firstStart: boolean): Promise<Started | null> {
  if (a.watchPath !== undefined) {
    if (!(await passGate(a))) return null;
    const pid = await startWatched(
      { spec: a.spec, path: a.watchPath, launcher: a.launcher, logger: a.logger, timeoutMs: a.restartCommandTimeoutMs, current: () => a.current() },
      firstStart,
    );
    return a.current() ? { pid, startedAt: null } : null;
  }
  const adopted = await a.launcher.adopt(a.spec.name);
  if (!a.current()) return null;
  if (adopted) {
    // A previous agent left it running: a second copy is exactly what must not happen, and what
    // runs already is not held back by the gate.
    a.logger.info(`program "${a.spec.name}": adopting ${adopted.pids.length} process(es) already in ${a.cgroup}`);
    return { pid: adopted.mainPid ?? adopted.pids[0] ?? null, startedAt: adopted.startedAt };
  }
  if (!(await passGate(a))) return null;
  const launched = await a.launcher.launch(a.spec, (exit) => {
    if (a.current()) a.mainExit(exit);
  });
  return a.current() ? { pid: launched.pid, startedAt: null, ownsMain: true } : null;
}

/** Waits until the programs named in `after:` are up; false when the attempt was given up meanwhile. */
async function passGate(a: StartAttempt): Promise<boolean> {
  const after = a.spec.after ?? [];
  if (after.length === 0 || !a.gate) return true;
  a.gated(true);
  a.logger.debug?.(`program "${a.spec.name}": waiting for ${after.join(', ')} to be up`);
  try {
    await a.gate(after);
  } finally {
    if (a.current()) a.gated(false);
  }
  return a.current();
}
