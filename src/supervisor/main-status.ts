/**
 * A run's main process's own wait status, and the bounded wait for it. The kernel side reports
 * that a program's cgroup emptied, with the status of its last process when it knows it; after
 * lost records it does not (src/process/occupancy.ts), and deciding then would take a program
 * that exited 3 for "exit status unknown". Even a known status may be a surviving child's (0)
 * while the main process failed, which is the run's story (policy.ts programExit). The main
 * process's status comes by another path (its pidfd, through the launcher) that can trail the
 * report by a scheduler delay under load, so an emptying waits for it while it is coming, for a
 * bounded time. A run whose main process is not ours (adopted, or a watched group's) never gets
 * one and does not wait.
 */
import { statusKnown } from './policy.js';
import type { ExitStatus, TimerHandle, Timers } from './types.js';

/** How long an emptying waits for the main process's own status while it is coming. */
export const MAIN_STATUS_WAIT_MS = 2000;

interface Waiting {
  handle: TimerHandle;
  last: ExitStatus | null;
  decide: Decide;
}

/** Decides an emptying; `waitedOut`: the main status did not come within the wait. */
type Decide = (last: ExitStatus | null, waitedOut: boolean) => void;

/** One program's main status for its current run; `reset` at every launch. */
export class MainStatus {
  private exit: ExitStatus | null = null;
  private coming = false;
  private waiting: Waiting | null = null;

  constructor(
    private readonly timers: Timers,
    private readonly waitMs = MAIN_STATUS_WAIT_MS,
  ) {}

  /** The main process's status, once it came. */
  get value(): ExitStatus | null {
    return this.exit;
  }

  /** An emptying is waiting for the main status. */
  get pending(): boolean {
    return this.waiting !== null;
  }

  /** A new run: nothing known yet, and a wait of the run before is called off. */
  reset(): void {
    this.cancel();
    this.exit = null;
    this.coming = false;
  }

  /** This run's main process is one we launched: its status will come (unless it came already). */
  expect(): void {
    this.coming = this.exit === null;
  }

  /** The main process's status came: a waiting emptying is decided now. */
  arrived(exit: ExitStatus): void {
    this.exit = exit;
    this.coming = false;
    this.settle(false);
  }

  /**
   * The group emptied, its last process having ended with `last`: `decide` runs now when no main
   * status is coming (it came already, or it never will), otherwise once it comes or after the
   * wait, whichever is first (with `last` as it then stands, see `fold`).
   */
  decide(last: ExitStatus | null, decide: Decide): void {
    if (!this.coming) {
      decide(last, false);
      return;
    }
    this.cancel();
    this.waiting = { handle: this.timers.setTimeout(() => this.settle(true), this.waitMs), last, decide };
  }

  /** The same emptying reported again while waiting: a status it carries is kept for the decision. */
  fold(last: ExitStatus | null): void {
    if (this.waiting && statusKnown(last)) this.waiting.last = last;
  }

  /** Drop a waiting decision (the run is over for another reason, or the program let go). */
  cancel(): void {
    if (!this.waiting) return;
    this.timers.clearTimeout(this.waiting.handle);
    this.waiting = null;
  }

  private settle(waitedOut: boolean): void {
    const w = this.waiting;
    if (!w) return;
    this.cancel();
    w.decide(w.last, waitedOut);
  }
}
