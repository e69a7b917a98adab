/**
 * Restart policy as pure functions: given a spec, an exit and a little history, what happens next.
 * No clock is read here; callers pass `now`.
 */
import type { ProgramSpec, RestartPolicy } from '../config/types.js';
import type { ExitStatus } from './types.js';

/**
 * ProgramSpec plus what the supervisor understands beyond src/config/types.ts:
 * `success_signals` lists signals whose death counts as a clean exit (systemd counts SIGHUP,
 * SIGINT, SIGTERM and SIGPIPE so; here the default is none, so every signal is a failure).
 */
export type SupervisedSpec = ProgramSpec & { success_signals?: string[] };

/** True when the exit counts as success: an allowed code, or an allowed signal; never a timeout. */
export function isSuccess(spec: Pick<SupervisedSpec, 'success_exit_codes' | 'success_signals'>, exit: ExitStatus): boolean {
  if (exit.timedOut || exit.unhealthy) return false;
  if (exit.signal !== null) return (spec.success_signals ?? []).includes(exit.signal);
  // Nobody saw the status: not a success, so on-failure errs on the side of restarting.
  if (exit.code === null) return false;
  return spec.success_exit_codes.includes(exit.code);
}

/**
 * True when the exit was a signal not listed as clean, a timeout (systemd's "abnormal"), or a stop
 * for a failed health check (systemd's watchdog timeout counts so too), whatever the program exited with.
 */
export function isAbnormal(spec: Pick<SupervisedSpec, 'success_signals'>, exit: ExitStatus): boolean {
  if (exit.timedOut || exit.unhealthy) return true;
  return exit.signal !== null && !(spec.success_signals ?? []).includes(exit.signal);
}

/** Whether a program that exited on its own should be started again. */
export function shouldRestart(spec: Pick<SupervisedSpec, 'restart' | 'success_exit_codes' | 'success_signals'>, exit: ExitStatus): boolean {
  const policy: RestartPolicy = spec.restart;
  switch (policy) {
    case 'always':
      return true;
    case 'never':
      return false;
    case 'on-failure':
      return !isSuccess(spec, exit);
    case 'on-abnormal':
      return isAbnormal(spec, exit);
  }
}

/**
 * Delay before the nth consecutive restart (n >= 1): initial × factor^(n-1), capped at max.
 * Milliseconds, rounded.
 */
export function backoffDelayMs(backoff: ProgramSpec['backoff'], n: number): number {
  if (n < 1 || backoff.initial_s <= 0) return 0;
  const raw = backoff.initial_s * Math.pow(Math.max(1, backoff.factor), n - 1);
  // A max of 0 means no cap; either way a long crash loop must not overflow into "fire now".
  const capped = backoff.max_s > 0 ? Math.min(raw, backoff.max_s) : raw;
  return clampTimerMs(capped * 1000);
}

/** Node fires a setTimeout longer than 2^31-1 ms at once, so every delay stays below it. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function clampTimerMs(ms: number): number {
  return Number.isFinite(ms) ? Math.min(MAX_TIMER_MS, Math.max(0, Math.round(ms))) : MAX_TIMER_MS;
}

/**
 * The consecutive-failure count after a run: a run that lasted reset_after_s or longer proves the
 * program healthy again, so the count restarts at 1.
 */
export function nextConsecutive(previous: number, runMs: number | null, resetAfterS: number): number {
  if (runMs !== null && runMs >= resetAfterS * 1000) return 1;
  return previous + 1;
}

/** What to do after a program exited on its own (not because it was told to stop). */
export type ExitDecision =
  | { action: 'restart'; consecutive: number; delayMs: number }
  | { action: 'stopped'; consecutive: number }
  | { action: 'failed'; consecutive: number; reason: string };

/**
 * Decide the next step after an unplanned exit. Every unplanned exit that leads to a restart
 * counts toward the backoff, whatever its code, as Kubernetes does: a program that exits 0 in a
 * loop under `always` is crash-looping too.
 */
export function decideAfterExit(
  spec: Pick<SupervisedSpec, 'restart' | 'success_exit_codes' | 'success_signals' | 'backoff'>,
  exit: ExitStatus,
  history: { consecutive: number; runMs: number | null },
): ExitDecision {
  const consecutive = nextConsecutive(history.consecutive, history.runMs, spec.backoff.reset_after_s);
  if (shouldRestart(spec, exit)) {
    return { action: 'restart', consecutive, delayMs: backoffDelayMs(spec.backoff, consecutive) };
  }
  if (isSuccess(spec, exit)) return { action: 'stopped', consecutive: 0 };
  return { action: 'failed', consecutive, reason: `${describeExit(exit)}; restart policy ${spec.restart}` };
}

/** Start times (clock ms) still inside the start-limit window at `now`. */
export function recentStarts(starts: readonly number[], now: number, limit: ProgramSpec['start_limit']): number[] {
  const from = now - limit.interval_s * 1000;
  return starts.filter((t) => t > from && t <= now);
}

/** Whether one more start at `now` is allowed; burst or interval of 0 turns the limit off. */
export type StartDecision = { allowed: true; starts: number[] } | { allowed: false; starts: number[]; reason: string };

/**
 * The start limit: at most `burst` starts within any `interval_s`. `starts` are earlier start
 * times; the returned list is pruned to the window (without the new start).
 */
export function checkStartLimit(limit: ProgramSpec['start_limit'], starts: readonly number[], now: number): StartDecision {
  if (limit.burst <= 0 || limit.interval_s <= 0) return { allowed: true, starts: [] };
  const recent = recentStarts(starts, now, limit);
  if (recent.length < limit.burst) return { allowed: true, starts: recent };
  return {
    allowed: false,
    starts: recent,
    reason: `start limit hit: ${recent.length} starts within ${limit.interval_s}s (start_limit.burst ${limit.burst})`,
  };
}

/** Milliseconds to wait in `failed` before trying again, or null to stay failed. */
export function retryFailedAfterMs(spec: Pick<ProgramSpec, 'retry_failed_after_s'>): number | null {
  const s = spec.retry_failed_after_s;
  return s === null || Number.isNaN(s) || s < 0 ? null : clampTimerMs(s * 1000);
}

/** An exit whose code or signal is known (not "exit status unknown"). */
export function statusKnown(exit: ExitStatus | null | undefined): exit is ExitStatus {
  return exit != null && (exit.code !== null || exit.signal !== null);
}

/**
 * The exit that stands for the whole program. The group is down only when its last process is
 * gone, but a main process that failed is the more telling story (a daemon whose helper exits 0
 * later did not succeed), so a failed main exit wins; otherwise the last exit, when known.
 */
export function programExit(
  spec: Pick<SupervisedSpec, 'success_exit_codes' | 'success_signals'>,
  main: ExitStatus | null,
  last: ExitStatus | null,
): ExitStatus {
  const timedOut = Boolean(main?.timedOut || last?.timedOut);
  const unhealthy = Boolean(main?.unhealthy || last?.unhealthy);
  const unknown: ExitStatus = { code: null, signal: null };
  let chosen: ExitStatus;
  if (main && !isSuccess(spec, main) && statusKnown(main)) chosen = main;
  else if (statusKnown(last)) chosen = last;
  else chosen = main ?? last ?? unknown;
  return { code: chosen.code, signal: chosen.signal, ...(timedOut ? { timedOut } : {}), ...(unhealthy ? { unhealthy } : {}) };
}

/** "exit code 3", "killed by SIGKILL", "timed out (killed by SIGKILL)", "unhealthy (exit code 0)", "exit status unknown". */
export function describeExit(exit: ExitStatus): string {
  const base = exit.signal !== null ? `killed by ${exit.signal}` : exit.code !== null ? `exit code ${exit.code}` : 'exit status unknown';
  const timed = exit.timedOut ? `timed out (${base})` : base;
  return exit.unhealthy ? `unhealthy (${timed})` : timed;
}
