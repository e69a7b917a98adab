/**
 * A program's health check as a state machine over an injected probe, clock and timers: no I/O of
 * its own (src/supervisor/probe.ts runs the real checks).
 *
 *   starting --pass--> healthy --threshold consecutive failures--> unhealthy (the monitor stops)
 *      |                  ^  |
 *      |                  +--+ fewer failures than the threshold: still healthy
 *      +--threshold consecutive failures (after start_period)--> unhealthy
 *
 * One check at a time: the first right at start (so `after:` waits no full interval), each next
 * one `interval` after the previous began, or at once when that one took longer. A check that has
 * not answered within `timeout` fails, and what it answers later is dropped. Failures within
 * `start_period` of the start do not count until the first pass (a slow starter is not killed
 * for warming up), as in Docker.
 */
import type { HealthCheckSpec } from '../config/types.js';
import type { SupervisedSpec } from './policy.js';
import type { Clock, HealthProber, HealthState, Logger, ProgramEvent, TimerHandle, Timers } from './types.js';

/** Runs one check: null when it passed, else one line saying why not. A rejection is a failure too. */
export type Probe = (timeoutMs: number) => Promise<string | null>;

/** What a HealthMonitor is given instead of doing I/O. */
export interface HealthDeps {
  probe: Probe;
  clock: Clock;
  timers: Timers;
  /** A verdict changed, or a failure was counted (detail is the check's own line, or null on a pass). */
  report(health: HealthState, failures: number, detail: string | null): void;
  /** failure_threshold reached: the monitor has stopped; the program is to be restarted. */
  unhealthy(detail: string): void;
}

/** Checks one run of a program; start() at each run, stop() when it ends. */
export class HealthMonitor {
  private gen = 0;
  private _health: HealthState = 'starting';
  private failures = 0;
  private passed = false;
  private startedAt = 0;
  private next: TimerHandle = null;
  private deadline: TimerHandle = null;

  constructor(
    private readonly check: HealthCheckSpec,
    private readonly deps: HealthDeps,
  ) {}

  /** The current verdict. */
  get health(): HealthState {
    return this._health;
  }

  /** Begin checking a fresh run: the verdict goes back to `starting`. */
  start(): void {
    this.stop();
    this._health = 'starting';
    this.failures = 0;
    this.passed = false;
    this.startedAt = this.deps.clock.now();
    this.run(this.gen);
  }

  /** No more checks; one in flight is ignored when it answers. */
  stop(): void {
    this.gen++;
    for (const handle of [this.next, this.deadline]) if (handle !== null) this.deps.timers.clearTimeout(handle);
    this.next = null;
    this.deadline = null;
  }

  private run(gen: number): void {
    const began = this.deps.clock.now();
    const timeoutMs = Math.round(this.check.timeout_s * 1000);
    let settled = false;
    const settle = (failure: string | null) => {
      if (settled || gen !== this.gen) return;
      settled = true;
      if (this.deadline !== null) this.deps.timers.clearTimeout(this.deadline);
      this.deadline = null;
      this.result(gen, began, failure);
    };
    this.deadline = this.deps.timers.setTimeout(() => {
      this.deadline = null;
      settle(`no answer within ${this.check.timeout_s}s`);
    }, timeoutMs);
    let answer: Promise<string | null>;
    try {
      answer = this.deps.probe(timeoutMs);
    } catch (err) {
      answer = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    answer.then(settle, (err: unknown) => settle(err instanceof Error ? err.message : String(err)));
  }

  private result(gen: number, began: number, failure: string | null): void {
    const now = this.deps.clock.now();
    if (failure === null) {
      this.passed = true;
      const was = this._health;
      const hadFailures = this.failures > 0;
      this.failures = 0;
      this._health = 'healthy';
      if (was !== 'healthy' || hadFailures) this.deps.report('healthy', 0, null);
    } else if (!this.passed && now - this.startedAt < this.check.start_period_s * 1000) {
      // Still warming up: not counted.
    } else {
      this.failures += 1;
      if (this.failures >= this.check.failure_threshold) {
        this._health = 'unhealthy';
        this.stop();
        this.deps.report('unhealthy', this.failures, failure);
        this.deps.unhealthy(`${this.failures} consecutive failed check(s), last: ${failure}`);
        return;
      }
      this.deps.report(this._health, this.failures, failure);
    }
    if (gen !== this.gen) return; // report() stopped us
    const wait = Math.max(0, Math.round(this.check.interval_s * 1000) - (now - began));
    this.next = this.deps.timers.setTimeout(() => {
      this.next = null;
      this.run(gen);
    }, wait);
  }
}

/** What a program's checks need from the program. */
export interface ProgramChecksHost {
  readonly name: string;
  /** The spec in force (a reload may replace it between runs). */
  spec(): SupervisedSpec;
  readonly watching: boolean;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly logger: Logger;
  readonly prober: HealthProber | undefined;
  /** False once run `gen` is over: what its checks say then is dropped. */
  current(gen: number): boolean;
  emit(event: ProgramEvent): void;
  /** failure_threshold reached in the current run. */
  unhealthy(detail: string): void;
}

/**
 * A program's health checks across its runs: a HealthMonitor for each run, and the verdict the
 * program shows (null without a check, or between runs).
 */
export class ProgramChecks {
  private monitor: HealthMonitor | null = null;
  private _verdict: HealthState | null = null;

  constructor(private readonly host: ProgramChecksHost) {}

  /** The check's verdict on this run; null when not checked. */
  get verdict(): HealthState | null {
    return this._verdict;
  }

  /** Run `gen` began: checks begin, the verdict is `starting`. A watching program is not checked. */
  begin(gen: number): void {
    const h = this.host;
    const check = h.spec().health;
    if (!check || h.watching) return;
    const prober = h.prober;
    if (!prober) {
      h.logger.warn(`program "${h.name}": has a health check but the supervisor was given no prober; it is not checked`);
      return;
    }
    this.end(false);
    this.monitor = new HealthMonitor(check, {
      probe: (timeoutMs) => prober.check(h.spec(), check.probe, timeoutMs),
      clock: h.clock,
      timers: h.timers,
      report: (health, failures, detail) => {
        if (!h.current(gen)) return;
        this._verdict = health;
        if (detail !== null) h.logger.debug?.(`program "${h.name}": health check failed (${failures}/${check.failure_threshold}): ${detail}`);
        h.emit({ type: 'health', program: h.name, health, failures, detail, at: h.clock.now() });
      },
      unhealthy: (detail) => {
        if (h.current(gen)) h.unhealthy(detail);
      },
    });
    this._verdict = 'starting';
    this.monitor.start();
  }

  /** The run is over (or being stopped): no more checks. `keepVerdict`: it stays visible (unhealthy, detached). */
  end(keepVerdict: boolean): void {
    this.monitor?.stop();
    this.monitor = null;
    if (!keepVerdict) this._verdict = null;
  }
}
