/**
 * Shared vocabulary of the supervisor: what a program's exit looks like, the states a program
 * moves through, what it reports, and the seams (clock, timers, logger, launcher) it is given
 * instead of reaching for I/O itself.
 */
import type { HealthProbe } from '../config/types.js';
import { UsageError } from '../errors.js';

/** Wall-clock milliseconds (Date.now() in the agent, a fake in tests). */
export interface Clock {
  now(): number;
}

/** Opaque handle returned by {@link Timers.setTimeout}. */
export type TimerHandle = unknown;

/** The two timer calls the state machine needs; the agent passes Node's, tests pass a fake. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Node's own timers, for production wiring. */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Date.now(), for production wiring. */
export const realClock: Clock = { now: () => Date.now() };

/** The slice of the agent's logger the supervisor writes to. */
export interface Logger {
  debug?(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * How a process (or a whole program) ended. `code` and `signal` are both null when nobody could
 * tell (an adopted program whose last exit the kernel side did not report).
 */
export interface ExitStatus {
  code: number | null;
  signal: string | null;
  /** The stop or start took longer than allowed and was cut short. */
  timedOut?: boolean;
  /** The program was stopped because it failed its health check. */
  unhealthy?: boolean;
}

/** An exit as the kernel side reports it: `at` is when it was seen, on the supervisor's clock. */
export interface ExitInfo extends ExitStatus {
  at?: number;
}

/** An exit as remembered in a program's status. */
export interface ExitRecord {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Stopped for failing its health check. */
  unhealthy: boolean;
  /** Clock milliseconds when the exit was seen. */
  at: number;
}

export const PROGRAM_STATES = ['stopped', 'starting', 'running', 'unhealthy', 'backoff', 'stopping', 'failed'] as const;
/** Where a program is in its life; see program.ts for the transitions. `unhealthy`: failed its check, being stopped to restart. */
export type ProgramState = (typeof PROGRAM_STATES)[number];

/** What a program's health check last concluded; `starting` until the first pass or the threshold. */
export type HealthState = 'starting' | 'healthy' | 'unhealthy';

/** Why a program was started again: its restart policy, a retry out of `failed`, or a person. */
export type RestartReason = 'policy' | 'retry' | 'manual';

/** What a program tells its listener; the agent turns these into events and metrics. */
export type ProgramEvent =
  | { type: 'state'; program: string; from: ProgramState; to: ProgramState; at: number; reason?: string }
  | {
      type: 'exit';
      program: string;
      exit: ExitRecord;
      /** How long the run lasted, when its start is known. */
      run_ms: number | null;
      /** What the supervisor does about it. */
      outcome: 'restart' | 'stopped' | 'failed';
      at: number;
    }
  | {
      type: 'restart';
      program: string;
      reason: RestartReason;
      /** restarts_total after this one. */
      restarts: number;
      /** Last exit seen -> new process running; null when there was no exit to measure from. */
      latency_ms: number | null;
      /** The part of the latency spent waiting in backoff on purpose. */
      delay_ms: number;
      pid: number | null;
      at: number;
    }
  | { type: 'error'; program: string; message: string; at: number }
  | {
      type: 'health';
      program: string;
      health: HealthState;
      /** Consecutive failed checks (0 after a pass). */
      failures: number;
      /** What the last failed check said; null after a pass. */
      detail: string | null;
      at: number;
    };

/** A program as `forkwatch programs` shows it. Times are Unix seconds. */
export interface ProgramStatus {
  name: string;
  state: ProgramState;
  pid: number | null;
  uptime_s: number | null;
  restarts: number;
  last_exit: { code: number | null; signal: string | null; timed_out: boolean; unhealthy: boolean; at: number } | null;
  /** The health check's verdict while the program runs (or is being stopped for failing it); null without a check. */
  health: HealthState | null;
  /** Unix seconds of the next automatic attempt (backoff or retry out of failed). */
  next_retry: number | null;
  /** Why the program is failed (or what last went wrong). */
  error: string | null;
  last_restart_latency_s: number | null;
  /** The cgroup the program lives in (or watches), relative to the cgroup v2 root. */
  cgroup: string;
}

/** What a launch produced. */
export interface Launched {
  /** The main process, already inside the program's cgroup. */
  pid: number;
}

/** A program found alive in its cgroup (after an agent restart). */
export interface Adopted {
  pids: number[];
  /** Best guess at the main process: the oldest one whose parent is outside the cgroup. */
  mainPid: number | null;
  /** Clock milliseconds when that process started, when known. */
  startedAt: number | null;
}

/**
 * Starts and stops processes in cgroups. The real one is CgroupLauncher; tests use a fake.
 * Owned programs are named by program name; watched groups by cgroup path.
 */
export interface Launcher {
  /** Cgroup path (relative to the v2 root) a program of this name runs in. */
  cgroupPath(name: string): string;
  /**
   * Start spec.command in the program's cgroup. Resolves once the process is in the cgroup,
   * where it ran none of the command outside (the real launcher creates it there, or holds it at
   * a gate until moved); rejects with a LaunchError. `onMainExit` gets the main
   * process's own exit status (the group may live on).
   */
  launch(spec: LaunchSpec, onMainExit: (exit: ExitStatus) => void): Promise<Launched>;
  /**
   * Run a short command to completion outside any program cgroup (watch mode's restart_command, an
   * exec health check). `quiet`: its output is dropped instead of logged.
   */
  runOnce(spec: LaunchSpec, argv: string[], timeoutMs: number, opts?: { quiet?: boolean }): Promise<ExitStatus>;
  /** Send `signal` to every process in the program's cgroup; resolves to how many were signalled. */
  signal(name: string, signal: NodeJS.Signals): Promise<number>;
  /** SIGKILL everything in the program's cgroup (cgroup.kill, else pid by pid). */
  kill(name: string): Promise<void>;
  /**
   * Live processes in the program's cgroup; with `limit`, at most that many (1 is enough to tell
   * whether the group is empty, without looking at every process of a large one).
   */
  pids(name: string, limit?: number): Promise<number[]>;
  /** Live processes in any cgroup (watch mode); `limit` as for pids. */
  groupPids(cgroupPath: string, limit?: number): Promise<number[]>;
  /** A live program left by a previous agent, or null. */
  adopt(name: string): Promise<Adopted | null>;
  /** Remove the program's cgroup once empty. */
  remove(name: string): Promise<void>;
  /** Stop following the program's process and output so the agent can exit with it running. */
  detach(name: string): void;
}

/** Runs one health check of a program (the real one: src/supervisor/probe.ts). */
export interface HealthProber {
  /** Resolves to null when the check passed, else one line saying why not; gives up after timeoutMs. */
  check(spec: LaunchSpec, probe: HealthProbe, timeoutMs: number): Promise<string | null>;
}

/** The fields of a ProgramSpec a launcher reads. */
export interface LaunchSpec {
  name: string;
  command?: string[];
  cwd?: string;
  env: Record<string, string>;
  user?: string;
  group?: string;
}

/**
 * A program could not be started. `permanent` errors (unknown user, missing command) will not fix
 * themselves by retrying soon, so the program goes straight to `failed`; others are retried like
 * a crash.
 */
export class LaunchError extends UsageError {
  readonly program: string;
  readonly permanent: boolean;
  /** errno name when the cause was a system call. */
  readonly code: string | undefined;
  /** The message without the program prefix, for places that already name the program. */
  readonly detail: string;
  constructor(program: string, message: string, opts: { permanent: boolean; code?: string }) {
    super(`program "${program}": ${message}`, 1);
    this.name = 'LaunchError';
    this.program = program;
    this.detail = message;
    this.permanent = opts.permanent;
    this.code = opts.code;
  }
}
