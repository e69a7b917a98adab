/** A program's status record, as `forkwatch programs` and the API list it. */
import type { ExitRecord, HealthState, ProgramState, ProgramStatus } from './types.js';

/** What a Program knows about itself, in clock milliseconds. */
export interface ProgramFacts {
  name: string;
  state: ProgramState;
  pid: number | null;
  startedAt: number | null;
  restarts: number;
  lastExit: ExitRecord | null;
  nextRetryAt: number | null;
  error: string | null;
  lastLatencyMs: number | null;
  cgroup: string;
  health: HealthState | null;
}

/** The record at clock time `now`: times in seconds, uptime only while something runs. */
export function programStatus(f: ProgramFacts, now: number): ProgramStatus {
  const up = f.startedAt !== null && (f.state === 'running' || f.state === 'unhealthy' || f.state === 'stopping');
  return {
    name: f.name,
    state: f.state,
    pid: f.pid,
    uptime_s: up ? Math.max(0, (now - (f.startedAt as number)) / 1000) : null,
    restarts: f.restarts,
    last_exit: f.lastExit
      ? {
          code: f.lastExit.code,
          signal: f.lastExit.signal,
          timed_out: f.lastExit.timedOut,
          unhealthy: f.lastExit.unhealthy,
          at: f.lastExit.at / 1000,
        }
      : null,
    next_retry: f.nextRetryAt === null ? null : f.nextRetryAt / 1000,
    error: f.error,
    last_restart_latency_s: f.lastLatencyMs === null ? null : f.lastLatencyMs / 1000,
    cgroup: f.cgroup,
    health: f.health,
  };
}
