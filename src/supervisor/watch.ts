/**
 * Watch mode's start: a program that watches a group it does not run brings the group back by
 * running its restart_command (e.g. `systemctl restart nginx`), then checks the group filled.
 */
import { describeExit, type SupervisedSpec } from './policy.js';
import { LaunchError, type Launcher, type Logger } from './types.js';

// systemd's default start timeout; restart_command has no timeout of its own in the config.
export const DEFAULT_RESTART_COMMAND_TIMEOUT_MS = 90_000;

/** What one watched start needs; `current()` turns false once the attempt is superseded. */
export interface WatchedStart {
  spec: SupervisedSpec;
  /** The watched cgroup's path. */
  path: string;
  launcher: Launcher;
  logger: Logger;
  timeoutMs: number;
  current(): boolean;
}

/**
 * A populated group at first start is simply running (its first pid is returned); otherwise
 * restart_command runs and must leave the group populated. Resolves to null when superseded;
 * throws a LaunchError (permanent when there is no restart_command at all).
 */
export async function startWatched(w: WatchedStart, firstStart: boolean): Promise<number | null> {
  const name = w.spec.name;
  if (firstStart) {
    const pids = await w.launcher.groupPids(w.path);
    if (pids.length > 0) return pids[0] ?? null;
  }
  const argv = w.spec.restart_command;
  if (!argv || argv.length === 0) {
    throw new LaunchError(name, `watches ${w.path} but has no restart_command to run when it empties`, {
      permanent: true,
    });
  }
  w.logger.info(`program "${name}": running restart_command ${JSON.stringify(argv)}`);
  const exit = await w.launcher.runOnce(w.spec, argv, w.timeoutMs);
  if (!w.current()) return null;
  if (exit.code !== 0 || exit.signal !== null || exit.timedOut) {
    throw new LaunchError(name, `restart_command ${JSON.stringify(argv)} failed: ${describeExit(exit)}`, {
      permanent: false,
    });
  }
  // Checked once: without it, a restart that left the group empty would never be reported
  // again (no populated -> empty transition) and the program would look up forever.
  const pids = await w.launcher.groupPids(w.path);
  if (pids.length === 0) {
    throw new LaunchError(name, `restart_command succeeded but ${w.path} is still empty`, { permanent: false });
  }
  return pids[0] ?? null;
}
