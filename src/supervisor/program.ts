/**
 * One supervised program as a state machine. It never touches the system itself: processes go
 * through the Launcher, time through the Clock and Timers, and it learns that the program went
 * down only when told (onEmptied), because a program is its whole cgroup, not its first pid.
 *
 *   stopped --start--> starting --launched--> running --emptied--> backoff --timer--> starting
 *      ^                  |                     |   |                 ^   |
 *      |            spawn error          stop / |   | health check    |   start limit hit
 *      |                  v             restart |   v  failed         |   v
 *      +--emptied--- stopping <-----------------+  unhealthy --emptied+  failed --retry timer--> starting
 *
 * `starting` first waits for the programs named in `after:` to be up (the gate), unless the
 * program is found already running in its cgroup. `unhealthy` stops the program the way a stop
 * does; its exit then counts as abnormal, so the restart policy restarts it (or gives up).
 */
import { UsageError } from '../errors.js';
import { backoffDelayMs, checkStartLimit, decideAfterExit, describeExit, programExit, retryFailedAfterMs, type SupervisedSpec } from './policy.js';
import { programStatus } from './status.js';
import { ProgramChecks } from './health.js';
import { MainStatus } from './main-status.js';
import { startAttempt } from './start.js';
import { DEFAULT_KILL_GRACE_MS, errorText, StopSequence } from './stop.js';
import {
  LaunchError,
  type Clock,
  type ExitInfo,
  type ExitRecord,
  type ExitStatus,
  type HealthProber,
  type HealthState,
  type Launcher,
  type Logger,
  type ProgramEvent,
  type ProgramState,
  type ProgramStatus,
  type RestartReason,
  type TimerHandle,
  type Timers,
} from './types.js';
import { DEFAULT_RESTART_COMMAND_TIMEOUT_MS } from './watch.js';

/** What a Program is given instead of doing I/O. */
export interface ProgramDeps {
  launcher: Launcher;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  listener?: (event: ProgramEvent) => void;
  /** For a program with `watch`: the watched cgroup's path, already resolved by the supervisor. */
  watchPath?: string;
  /** After cgroup.kill, how long to give the kernel before checking the group is empty. */
  killGraceMs?: number;
  /** Watch mode: a restart_command still running after this long is killed and counts as failed. */
  restartCommandTimeoutMs?: number;
  /** Runs health checks; required for a spec with `health`. */
  prober?: HealthProber;
  /** Resolves once the programs named in `after:` are up (the Supervisor's); absent: no wait. */
  gate?: (after: readonly string[]) => Promise<void>;
}

interface PendingRestart {
  reason: RestartReason;
  /** When the exit that caused this restart was seen (latency is measured from there). */
  exitAt: number | null;
  delayMs: number;
}

/** A supervised program: its state, counters and the transitions between them. */
export class Program {
  private spec: SupervisedSpec;
  private readonly deps: ProgramDeps;
  private watchPath: string | undefined;
  private _state: ProgramState = 'stopped';
  /** Bumped on every launch and on detach, so callbacks from an older run do nothing. */
  private gen = 0;
  private restarts = 0;
  private consecutive = 0;
  private starts: number[] = [];
  private lastExit: ExitRecord | null = null;
  /** The main process's own status for this run, which an emptying without one waits for. */
  private readonly main: MainStatus;
  private startedAt: number | null = null;
  private nextRetryAt: number | null = null;
  private pid: number | null = null;
  private error: string | null = null;
  private lastLatencyMs: number | null = null;
  private timer: TimerHandle = null;
  private pending: PendingRestart | null = null;
  private afterStop: 'start' | null = null;
  private readonly stopper: StopSequence;
  private launchInFlight = false;
  /** An emptying report is being checked against cgroup.procs. */
  private verifying = false;
  /** An emptying reported while the launch had not come back yet; undefined when none. */
  private earlyExit: ExitInfo | null | undefined = undefined;
  private launching: Promise<void> = Promise.resolve();
  private stopWaiters: Array<() => void> = [];
  private detached = false;
  /** Waiting at the `after:` gate: nothing is launched yet, so a stop has nothing to signal. */
  private gated = false;
  private readonly checks: ProgramChecks;

  constructor(spec: SupervisedSpec, deps: ProgramDeps) {
    this.spec = spec;
    this.deps = deps;
    this.watchPath = deps.watchPath;
    this.main = new MainStatus(deps.timers);
    if (spec.watch !== undefined && deps.watchPath === undefined) {
      throw new Error(`program "${spec.name}" watches "${spec.watch}" but no watchPath was given`);
    }
    this.stopper = new StopSequence(this, {
      launcher: deps.launcher,
      logger: deps.logger,
      killGraceMs: deps.killGraceMs ?? DEFAULT_KILL_GRACE_MS,
      arm: (ms, fn) => this.arm(ms, fn),
      stopping: (gen) => gen === this.gen && (this._state === 'stopping' || this._state === 'unhealthy'),
      emptied: () => this.wentDown(this._state, null, this.deps.clock.now()),
      stuck: (reason) => {
        this.afterStop = null;
        this.enterFailed(reason, false);
      },
      bug: (err) => this.bug(err),
    });
    this.checks = new ProgramChecks({
      name: spec.name,
      spec: () => this.spec,
      watching: spec.watch !== undefined,
      clock: deps.clock,
      timers: deps.timers,
      logger: deps.logger,
      prober: deps.prober,
      current: (gen) => gen === this.gen,
      emit: (event) => this.emit(event),
      unhealthy: (detail) => this.onUnhealthy(detail),
    });
  }

  /** The program's name (unique in the config). */
  get name(): string {
    return this.spec.name;
  }

  /** Current state. */
  get state(): ProgramState {
    return this._state;
  }

  /** The health check's verdict on this run; null without a check or when not running. */
  get healthState(): HealthState | null {
    return this.checks.verdict;
  }

  /** Starting, but still waiting for the programs named in `after:`. */
  get waitingForAfter(): boolean {
    return this.gated;
  }

  /** Running, and healthy when it has a check: what a program `after:` it waits for. */
  get up(): boolean {
    const health = this.checks.verdict;
    return this._state === 'running' && (health === null || health === 'healthy');
  }

  /** The spec in force. */
  get currentSpec(): SupervisedSpec {
    return this.spec;
  }

  /** True for a program that watches a group it did not start. */
  get watching(): boolean {
    return this.spec.watch !== undefined;
  }

  /** The cgroup this program lives in (or watches), relative to the v2 root. */
  get cgroup(): string {
    return this.watchPath ?? this.deps.launcher.cgroupPath(this.spec.name);
  }

  /**
   * Replace the spec (and, for a watching program, the watched path); takes effect at the next
   * start or exit. The supervisor restarts the program when what it runs changed.
   */
  updateSpec(spec: SupervisedSpec, watchPath?: string): void {
    if (spec.name !== this.spec.name) throw new Error(`updateSpec: name ${spec.name} != ${this.spec.name}`);
    if ((spec.watch !== undefined) !== this.watching) throw new Error('updateSpec: cannot switch between watching and running');
    this.spec = spec;
    if (watchPath !== undefined) this.watchPath = watchPath;
  }

  /**
   * Start the program (or find it already running in its cgroup and adopt it). A person starting
   * a program clears its failure history. Resolves once the attempt settled; never rejects.
   */
  start(): Promise<void> {
    if (this.detached) return Promise.resolve();
    switch (this._state) {
      case 'running':
      case 'unhealthy': // its policy restarts it
        return Promise.resolve();
      case 'starting':
        return this.launching;
      case 'stopping':
        this.afterStop = 'start';
        return this.untilStopped().then(() => this.launching);
      case 'backoff':
        // The restart was due anyway; the person only skipped the wait.
        return this.launch({ reason: 'manual', exitAt: this.pending?.exitAt ?? this.lastExit?.at ?? null, delayMs: 0 });
      case 'stopped':
      case 'failed':
        this.consecutive = 0;
        this.starts = [];
        this.error = null;
        return this.launch(null);
    }
  }

  /**
   * Stop the program: stop_signal to every process in its cgroup, then after stop_timeout_s kill
   * the cgroup. Resolves when the group is empty (or the stop gave up, state `failed`).
   * A watching program only stops watching: the group is not ours to stop.
   */
  stop(): Promise<void> {
    if (this.detached) return Promise.resolve();
    this.afterStop = null;
    switch (this._state) {
      case 'stopped':
        return Promise.resolve();
      case 'failed':
      case 'backoff':
        this.setState('stopped', 'stopped on request');
        return Promise.resolve();
      case 'stopping':
        return this.untilStopped();
      case 'unhealthy':
        // Being stopped already; from now on it is a stop on request, not a restart.
        this.beginStop();
        return this.untilStopped();
      case 'starting':
      case 'running':
        if (this.gated) {
          this.abandonLaunch('stopped before it started (was waiting for its after: programs)');
          return Promise.resolve();
        }
        if (this.watching) {
          this.gen++; // drop a restart_command still in flight
          this.launchInFlight = false;
          this.pid = null;
          this.startedAt = null;
          this.setState('stopped', 'stopped watching on request');
          return Promise.resolve();
        }
        this.beginStop();
        return this.untilStopped();
    }
  }

  /** Stop then start again (a watching program runs its restart_command). Never rejects. */
  restart(): Promise<void> {
    if (this.detached) return Promise.resolve();
    switch (this._state) {
      case 'stopped':
      case 'failed':
        return this.start();
      case 'backoff':
        return this.start();
      case 'starting':
        if (this.watching || this.gated) return this.launching;
        this.afterStop = 'start';
        this.beginStop();
        return this.untilStopped().then(() => this.launching);
      case 'running':
      case 'unhealthy':
        if (this.watching) {
          return this.launch({ reason: 'manual', exitAt: null, delayMs: 0 });
        }
        this.afterStop = 'start';
        this.beginStop();
        return this.untilStopped().then(() => this.launching);
      case 'stopping':
        this.afterStop = 'start';
        return this.untilStopped().then(() => this.launching);
    }
  }

  /**
   * The program's cgroup has no process left. `exit` is the last process's exit as the kernel
   * side saw it (omit when unknown: the main process's own status is used). Meant once per
   * populated -> empty transition; repeats are harmless, and a report is checked once against
   * cgroup.procs so a stale one (the group has processes again) is dropped.
   */
  onEmptied(exit?: ExitInfo): void {
    if (this.detached) return;
    const at = exit?.at ?? this.deps.clock.now();
    if (this.launchInFlight) {
      // For a watched group, restart_command itself may empty the group on its way (systemctl
      // restart stops first); the check after the command decides. Otherwise the fresh process
      // died before its launch came back: handle it once we know the launch happened.
      if (!this.watching) this.earlyExit = exit ?? null;
      return;
    }
    if (this._state !== 'running' && this._state !== 'stopping' && this._state !== 'unhealthy') {
      // Nothing of ours was running: a late or repeated report.
      this.deps.logger.debug?.(`program "${this.name}": group emptied while ${this._state}; ignored`);
      return;
    }
    if (this.verifying) return; // the same emptying, reported again while we look
    if (this.main.pending) {
      this.main.fold(exit ?? null); // the same emptying, reported again while we wait for the main status
      return;
    }
    this.verifying = true;
    // One look at cgroup.procs before acting: a report that is late or repeated after the group
    // filled again (our restart, or the watched group's own manager) must not restart it twice.
    const gen = this.gen;
    const state = this._state;
    const look = this.watching ? this.deps.launcher.groupPids(this.cgroup, 1) : this.deps.launcher.pids(this.name, 1);
    look
      .catch((err: unknown) => {
        this.deps.logger.warn(`program "${this.name}": ${errorText(err)}; taking the emptying report as true`);
        return [] as number[];
      })
      .then((pids) => {
        this.verifying = false;
        if (gen !== this.gen || this._state !== state || this.detached) return;
        if (pids.length > 0) {
          this.deps.logger.debug?.(`program "${this.name}": emptying reported but ${this.cgroup} holds ${pids.length} process(es); ignored`);
          return;
        }
        // Only an exit nobody asked for is decided by its status: without one, the main process's
        // own (from its pidfd, behind the report under load) is waited for, a bounded time.
        if (state !== 'running') {
          this.wentDown(state, exit ?? null, at);
          return;
        }
        this.main.decide(exit ?? null, (last, waitedOut) => {
          if (gen !== this.gen || this._state !== state || this.detached) return;
          if (waitedOut) this.deps.logger.debug?.(`program "${this.name}": its main process's status did not come after the emptying`);
          this.wentDown(state, last, at);
        });
      })
      .catch((err: unknown) => this.bug(err));
  }

  /**
   * Starting failed before the program ran. A LaunchError marked permanent (unknown user, missing
   * command) sends the program to `failed` at once; anything else is retried like a crash.
   */
  onSpawnError(err: unknown): void {
    if (this.detached) return;
    const message = err instanceof Error ? err.message : String(err);
    if (!this.launchInFlight && this._state !== 'starting') {
      this.deps.logger.warn(`program "${this.name}": spawn error reported while ${this._state}; ignored: ${message}`);
      return;
    }
    this.gen++; // whatever the launch still resolves to belongs to an attempt that is over
    this.launchInFlight = false;
    this.earlyExit = undefined;
    this.pid = null;
    this.startedAt = null;
    const detail = err instanceof LaunchError ? err.detail : message;
    // A user-fixable problem is one clear line (logged by the transition below); anything else
    // is a bug and keeps its stack.
    if (!(err instanceof UsageError)) {
      this.deps.logger.error(`program "${this.name}": start failed: ${err instanceof Error ? err.stack : message}`);
    }
    this.emit({ type: 'error', program: this.name, message: detail, at: this.deps.clock.now() });
    if (this._state === 'stopping') {
      this.deps.logger.warn(`program "${this.name}": start failed while stopping: ${detail}`);
      this.finishStop(null, this.deps.clock.now());
      return;
    }
    if (this._state !== 'starting') return;
    const permanent = err instanceof LaunchError && err.permanent;
    if (permanent || this.spec.restart === 'never') {
      this.enterFailed(detail, this.spec.restart !== 'never');
      return;
    }
    this.error = detail;
    this.consecutive += 1;
    const delay = backoffDelayMs(this.spec.backoff, this.consecutive);
    this.deps.logger.warn(
      `program "${this.name}" could not start: ${detail}; retrying in ${(delay / 1000).toFixed(1)}s ` + `(consecutive failure ${this.consecutive})`,
    );
    this.enterBackoff(delay, this.pending?.exitAt ?? null);
  }

  /**
   * Let go of the program without stopping it (keep_running when the agent exits): timers are
   * cancelled and the launcher stops following its process and output.
   */
  detach(): void {
    if (this.detached) return;
    this.gen++;
    this.clearTimer();
    this.main.cancel();
    this.checks.end(true);
    this.detached = true;
    if (!this.watching) this.deps.launcher.detach(this.name);
    this.resolveStopWaiters();
  }

  /** The program as `forkwatch programs` lists it. */
  status(): ProgramStatus {
    return programStatus(
      {
        name: this.name,
        state: this._state,
        pid: this.pid,
        startedAt: this.startedAt,
        restarts: this.restarts,
        lastExit: this.lastExit,
        nextRetryAt: this.nextRetryAt,
        error: this.error,
        lastLatencyMs: this.lastLatencyMs,
        cgroup: this.cgroup,
        health: this.checks.verdict,
      },
      this.deps.clock.now(),
    );
  }

  // --- starting -------------------------------------------------------------------------------

  private launch(pending: PendingRestart | null): Promise<void> {
    const gen = ++this.gen;
    const now = this.deps.clock.now();
    this.pending = pending;
    this.starts.push(now);
    this.main.reset();
    this.earlyExit = undefined;
    this.launchInFlight = true;
    this.nextRetryAt = null;
    this.setState('starting', pending ? `${pending.reason} restart` : 'start');
    this.launching = this.runLaunch(gen, pending).catch((err: unknown) => this.bug(err));
    return this.launching;
  }

  private async runLaunch(gen: number, pending: PendingRestart | null): Promise<void> {
    let started;
    try {
      started = await startAttempt(
        {
          spec: this.spec,
          watchPath: this.watchPath,
          cgroup: this.cgroup,
          launcher: this.deps.launcher,
          logger: this.deps.logger,
          restartCommandTimeoutMs: this.deps.restartCommandTimeoutMs ?? DEFAULT_RESTART_COMMAND_TIMEOUT_MS,
          gate: this.deps.gate,
          current: () => gen === this.gen && !this.detached,
          gated: (waiting) => (this.gated = waiting),
          mainExit: (exit) => {
            this.main.arrived(exit);
            this.followMainPid(gen);
          },
        },
        pending === null,
      );
    } catch (err) {
      if (gen === this.gen) this.onSpawnError(err);
      return;
    }
    if (started === null || gen !== this.gen) return;
    if (started.ownsMain) this.main.expect();
    this.launched(started.pid, started.startedAt ?? this.deps.clock.now());
  }

  /** Give up a start still waiting at the gate: nothing runs, so there is nothing to stop. */
  private abandonLaunch(reason: string): void {
    this.gen++;
    this.gated = false;
    this.launchInFlight = false;
    this.earlyExit = undefined;
    this.pending = null;
    this.pid = null;
    this.startedAt = null;
    this.setState('stopped', reason);
  }

  private launched(pid: number | null, startedAt: number): void {
    this.launchInFlight = false;
    this.pid = pid;
    this.startedAt = startedAt;
    const early = this.earlyExit;
    this.earlyExit = undefined;
    if (this._state === 'stopping') {
      // stop() arrived while the launch was in flight; now there is something to stop.
      if (early !== undefined) this.finishStop(early, early?.at ?? this.deps.clock.now());
      else this.stopper.signal(this.gen);
      return;
    }
    if (this._state !== 'starting') return;
    this.error = null;
    // Checks first: whoever the state change wakes (an after: gate) must see `starting`, not no check.
    this.checks.begin(this.gen);
    this.setState('running', pid === null ? undefined : `pid ${pid}`);
    const pending = this.pending;
    this.pending = null;
    if (pending) {
      this.restarts += 1;
      const now = this.deps.clock.now();
      const latency = pending.exitAt === null ? null : Math.max(0, now - pending.exitAt);
      if (latency !== null) this.lastLatencyMs = latency;
      this.emit({
        type: 'restart',
        program: this.name,
        reason: pending.reason,
        restarts: this.restarts,
        latency_ms: latency,
        delay_ms: pending.delayMs,
        pid,
        at: now,
      });
    }
    if (early !== undefined) this.onEmptied(early ?? undefined);
    else if (this.main.value !== null && !this.watching) this.followMainPid(this.gen);
  }

  /**
   * The main process exited but the group lives on (a daemon that forked and let its parent
   * exit): the pid shown becomes the top of what is left, as systemd guesses a forking service's
   * main pid, rather than a pid that no longer exists.
   */
  private followMainPid(gen: number): void {
    if (this._state !== 'running' || this.watching) return;
    this.deps.launcher
      .adopt(this.name)
      .then(
        (found) => {
          if (gen !== this.gen || this._state !== 'running' || !found || found.mainPid === null) return;
          if (found.mainPid !== this.pid) this.deps.logger.debug?.(`program "${this.name}": main process now pid ${found.mainPid}`);
          this.pid = found.mainPid;
        },
        (err: unknown) => this.deps.logger.warn(`program "${this.name}": ${errorText(err)}`),
      )
      .catch((err: unknown) => this.bug(err));
  }

  // --- exits ----------------------------------------------------------------------------------

  private recordExit(last: ExitStatus | null, at: number, timedOut = false, unhealthy = false): ExitRecord {
    const exit = programExit(this.spec, this.main.value, last);
    this.lastExit = { code: exit.code, signal: exit.signal, timedOut: timedOut || Boolean(exit.timedOut), unhealthy: unhealthy || Boolean(exit.unhealthy), at };
    return this.lastExit;
  }

  /** The group emptied (or was found empty) while in `state`. */
  private wentDown(state: ProgramState, last: ExitStatus | null, at: number): void {
    if (state === 'running') this.handleExit(last, at);
    else if (state === 'unhealthy') this.handleExit(last, at, true);
    else this.finishStop(last, at);
  }

  /** An exit the program was not asked for; `unhealthy`: its health check had it stopped. */
  private handleExit(last: ExitStatus | null, at: number, unhealthy = false): void {
    const record = this.recordExit(last, at, unhealthy && this.stopper.killed, unhealthy);
    if (unhealthy) this.stopper.reset();
    const runMs = this.startedAt === null ? null : Math.max(0, at - this.startedAt);
    this.pid = null;
    this.startedAt = null;
    const decision = decideAfterExit(this.spec, record, { consecutive: this.consecutive, runMs });
    this.consecutive = decision.consecutive;
    const outcome = decision.action === 'restart' ? 'restart' : decision.action;
    this.emit({ type: 'exit', program: this.name, exit: record, run_ms: runMs, outcome, at });
    const ran = runMs === null ? '' : ` after ${(runMs / 1000).toFixed(1)}s`;
    switch (decision.action) {
      case 'restart':
        this.deps.logger.warn(
          `program "${this.name}" went down (${describeExit(record)})${ran}; restarting in ` +
            `${(decision.delayMs / 1000).toFixed(1)}s (consecutive failure ${decision.consecutive})`,
        );
        this.enterBackoff(decision.delayMs, at);
        return;
      case 'stopped':
        this.deps.logger.info(`program "${this.name}" exited (${describeExit(record)})${ran}; not restarting`);
        this.setState('stopped', describeExit(record));
        return;
      case 'failed':
        this.enterFailed(`went down (${decision.reason})`, false);
        return;
    }
  }

  private enterBackoff(delayMs: number, exitAt: number | null): void {
    this.nextRetryAt = this.deps.clock.now() + delayMs;
    this.setState('backoff', `restart in ${delayMs}ms`);
    // No wait means no timer: setTimeout(0) is a millisecond or more on the restart path.
    if (delayMs <= 0) this.attemptRestart(exitAt, delayMs);
    else this.arm(delayMs, () => this.attemptRestart(exitAt, delayMs));
  }

  private attemptRestart(exitAt: number | null, delayMs: number): void {
    this.nextRetryAt = null;
    const limit = checkStartLimit(this.spec.start_limit, this.starts, this.deps.clock.now());
    this.starts = limit.starts;
    if (!limit.allowed) {
      this.enterFailed(limit.reason, true);
      return;
    }
    void this.launch({ reason: 'policy', exitAt, delayMs });
  }

  /** `retry`: whether retry_failed_after_s applies (not when the restart policy itself said no). */
  private enterFailed(reason: string, retry: boolean): void {
    this.error = reason;
    const retryMs = retry ? retryFailedAfterMs(this.spec) : null;
    const next = retryMs === null ? '' : `; trying again in ${(retryMs / 1000).toFixed(1)}s`;
    this.deps.logger.error(`program "${this.name}" failed: ${reason}${next}`);
    this.setState('failed', reason);
    if (retryMs === null) return;
    const exitAt = this.lastExit?.at ?? null;
    this.nextRetryAt = this.deps.clock.now() + retryMs;
    this.arm(retryMs, () => {
      // A fresh chance: the start limit and backoff count from zero again.
      this.starts = [];
      this.consecutive = 0;
      void this.launch({ reason: 'retry', exitAt, delayMs: retryMs });
    });
  }

  // --- health ---------------------------------------------------------------------------------

  /** failure_threshold reached: stop the program as a stop does; its exit then counts as abnormal. */
  private onUnhealthy(detail: string): void {
    if (this._state !== 'running' || this.detached) return;
    this.error = `unhealthy: ${detail}`;
    this.deps.logger.warn(`program "${this.name}" is unhealthy (${detail}); stopping it for its restart policy`);
    this.stopper.reset();
    this.setState('unhealthy', detail);
    this.stopper.signal(this.gen);
  }

  // --- stopping -------------------------------------------------------------------------------

  private beginStop(): void {
    this.stopper.reset();
    this.setState('stopping', 'stop requested');
    // With the launch still in flight there is no process yet; launched() sends the signal.
    if (!this.launchInFlight) this.stopper.signal(this.gen);
  }

  private finishStop(last: ExitStatus | null, at: number): void {
    const record = this.recordExit(last, at, this.stopper.killed);
    const runMs = this.startedAt === null ? null : Math.max(0, at - this.startedAt);
    this.pid = null;
    this.startedAt = null;
    this.stopper.reset();
    this.emit({ type: 'exit', program: this.name, exit: record, run_ms: runMs, outcome: 'stopped', at });
    this.deps.logger.info(`program "${this.name}" stopped (${describeExit(record)})`);
    const again = this.afterStop;
    this.afterStop = null;
    this.setState('stopped', 'stopped on request');
    if (again === 'start') void this.launch({ reason: 'manual', exitAt: at, delayMs: 0 });
  }

  private untilStopped(): Promise<void> {
    return new Promise((resolve) => this.stopWaiters.push(resolve));
  }

  private resolveStopWaiters(): void {
    const waiters = this.stopWaiters;
    this.stopWaiters = [];
    for (const resolve of waiters) resolve();
  }

  // --- plumbing -------------------------------------------------------------------------------

  /** Every timer belongs to the state that armed it, so a state change cancels it. */
  private setState(to: ProgramState, reason?: string): void {
    const from = this._state;
    if (from === to) return;
    this.clearTimer();
    if (to !== 'backoff' && to !== 'failed') this.nextRetryAt = null;
    if (to !== 'running') {
      // Checks belong to a run; the verdict stays visible while the program is stopped for it.
      this.checks.end(to === 'unhealthy');
      // So does an emptying's wait for the main status: a stop or a health verdict decides now.
      this.main.cancel();
    }
    this._state = to;
    this.emit({ type: 'state', program: this.name, from, to, at: this.deps.clock.now(), ...(reason ? { reason } : {}) });
    if (to === 'stopped' || to === 'failed') this.resolveStopWaiters();
  }

  private arm(ms: number, fn: () => void): void {
    this.clearTimer();
    const handle = this.deps.timers.setTimeout(() => {
      if (this.timer === handle) this.timer = null;
      fn();
    }, ms);
    this.timer = handle;
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      this.deps.timers.clearTimeout(this.timer);
      this.timer = null;
    }
  }

  /** A throw from our own callbacks is a bug: keep its stack, never let it become unhandled. */
  private bug(err: unknown): void {
    this.deps.logger.error(`program "${this.name}": bug: ${err instanceof Error ? err.stack : String(err)}`);
  }

  private emit(event: ProgramEvent): void {
    if (!this.deps.listener) return;
    try {
      this.deps.listener(event);
    } catch (err) {
      // A listener's bug must not wedge the state machine halfway through a transition.
      this.deps.logger.error(`program "${this.name}": event listener threw: ${err instanceof Error ? err.stack : String(err)}`);
    }
  }
}
