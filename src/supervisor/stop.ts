/**
 * The stop sequence of a program that runs its own cgroup: stop_signal to every process, then
 * after stop_timeout_s cgroup.kill, then a look after a grace period, killing again up to three
 * times before giving up (processes in uninterruptible sleep can outlive SIGKILL).
 *
 * It owns no timer: it arms the program's one timer, so the program's next state change cancels
 * whatever step is pending, and every step first checks the stop is still the current one.
 */
import { UsageError } from '../errors.js';
import type { SupervisedSpec } from './policy.js';
import type { Launcher, Logger } from './types.js';

export const DEFAULT_KILL_GRACE_MS = 5_000;
const MAX_KILL_ATTEMPTS = 3;

/** The program being stopped, read at each step (its spec may be replaced meanwhile). */
export interface StopTarget {
  readonly name: string;
  readonly cgroup: string;
  readonly currentSpec: SupervisedSpec;
}

/** What the sequence needs from the program it stops. */
export interface StopHost {
  readonly launcher: Launcher;
  readonly logger: Logger;
  readonly killGraceMs: number;
  /** Arms the program's one timer (replacing whatever it held). */
  arm(ms: number, fn: () => void): void;
  /** True while run `gen` of the program is still stopping. */
  stopping(gen: number): boolean;
  /** The group is empty: the stop is done. */
  emptied(): void;
  /** The group could not be emptied. */
  stuck(reason: string): void;
  /** A throw from our own callbacks. */
  bug(err: unknown): void;
}

/** One program's stop sequence; `reset()` before each stop. */
export class StopSequence {
  private killAttempts = 0;

  constructor(
    private readonly program: StopTarget,
    private readonly host: StopHost,
  ) {}

  /** Whether this stop had to kill (the exit then counts as timed out). */
  get killed(): boolean {
    return this.killAttempts > 0;
  }

  reset(): void {
    this.killAttempts = 0;
  }

  /** Sends stop_signal and arms the escalation after stop_timeout_s. */
  signal(gen: number): void {
    const h = this.host;
    const p = this.program;
    h.arm(p.currentSpec.stop_timeout_s * 1000, () => this.escalate(gen));
    h.launcher
      .signal(p.name, p.currentSpec.stop_signal)
      .then(
        (count) => {
          // Nothing to signal: the group emptied before we asked and its report may have been
          // consumed already (or never come), so look once instead of waiting out the timeout.
          if (count === 0 && h.stopping(gen)) this.confirmEmpty(gen, false);
        },
        (err: unknown) => h.logger.error(`program "${p.name}": ${errorText(err)}`),
      )
      .catch((err: unknown) => h.bug(err));
  }

  private escalate(gen: number): void {
    const h = this.host;
    const p = this.program;
    if (!h.stopping(gen)) return;
    this.killAttempts += 1;
    h.logger.warn(
      `program "${p.name}" still running ${p.currentSpec.stop_timeout_s}s after ${p.currentSpec.stop_signal}; ` + `killing every process in ${p.cgroup}`,
    );
    h.launcher.kill(p.name).catch((err: unknown) => {
      h.logger.error(`program "${p.name}": ${errorText(err)}`);
    });
    h.arm(h.killGraceMs, () => this.confirmEmpty(gen, true));
  }

  /** One look at the group, for when the emptying report may never come. */
  private confirmEmpty(gen: number, afterKill: boolean): void {
    const h = this.host;
    const p = this.program;
    h.launcher
      .pids(p.name)
      .then(
        (pids) => {
          if (!h.stopping(gen)) return;
          if (pids.length === 0) {
            h.emptied();
          } else if (afterKill && this.killAttempts >= MAX_KILL_ATTEMPTS) {
            // Say so rather than hang stopAll.
            h.stuck(`could not stop: ${pids.length} process(es) (${pids.slice(0, 5).join(', ')}) still in ${p.cgroup} ` + `after SIGKILL`);
          } else if (afterKill) {
            this.escalate(gen);
          }
        },
        (err: unknown) => h.logger.error(`program "${p.name}": ${errorText(err)}`),
      )
      .catch((err: unknown) => h.bug(err));
  }
}

/** A usage error's one line, or anything else with its stack. */
export function errorText(err: unknown): string {
  if (err instanceof UsageError) return err.message;
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
