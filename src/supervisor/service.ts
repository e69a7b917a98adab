/**
 * The supervisor in the running agent: kernel exit records say when a program's cgroup emptied
 * (no polling), the Supervisor decides, and what it does becomes `restart` events and the
 * forkwatch_program_* metrics.
 */
import { constants } from 'node:os';
import { decodeStatus } from '../events/model.js';
import { isoMicros } from '../events/clock.js';
import type { Config } from '../config/types.js';
import { isCgroupRule } from '../config/match.js';
import type { Logger } from '../log.js';
import { Supervisor } from './supervisor.js';
import { normalizeCgroupPath } from './cgroup-path.js';
import { realClock, realTimers, type ExitInfo, type HealthProber, type HealthState, type Launcher, type ProgramEvent, type ProgramStatus } from './types.js';

/** One program, as /metrics shows it. */
export interface ProgramSample {
  name: string;
  state: string;
  restarts: number;
  lastExitCode: number | null;
  /** The health check's verdict (null: not running); absent for a program without a check. */
  health?: HealthState | null;
  /** Restart latency histogram over RESTART_LATENCY_BUCKETS. */
  latency: { buckets: Float64Array; sum: number; count: number };
}

/** Upper bounds (s) of the restart latency histogram, forkwatch_program_restart_latency_seconds. */
export const RESTART_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** A restart as the agent's event stream carries it (stream/bus.ts). */
export interface RestartEvent {
  type: 'restart';
  time: string;
  node: string;
  program: string;
  reason: string;
  restarts: number;
  pid: number | null;
  latency_s: number | null;
  [key: string]: unknown;
}

/** A health verdict or a failed check, as the event stream carries it. */
export interface HealthEvent {
  type: 'health';
  time: string;
  node: string;
  program: string;
  health: HealthState;
  failures: number;
  /** The failed check's line (from the program's own answer for exec: never trusted for a terminal). */
  detail: string | null;
  [key: string]: unknown;
}

export interface SupervisorServiceDeps {
  config: Config;
  launcher: Launcher;
  /** Where restarts are published: the agent's event bus. */
  bus: { publish(event: RestartEvent | HealthEvent): void };
  /** Runs health checks (RealProber over the launcher). */
  prober?: HealthProber;
  log: Logger;
  node: string;
  /** cgroup id -> path in the grouping hierarchy. */
  cgroupPath(id: number): string;
  /** The grouping hierarchy is cgroup v2 (program cgroups live there). */
  v2: boolean;
}

interface Latency {
  buckets: Float64Array;
  sum: number;
  count: number;
}

export class SupervisorService {
  readonly supervisor: Supervisor;
  private readonly latency = new Map<string, Latency>();
  /** Supervised cgroup paths, for a quick check on every emptying. */
  private watched = new Set<string>();

  constructor(private readonly d: SupervisorServiceDeps) {
    if (!d.v2 && d.config.programs.length) {
      d.log.warn('programs run in cgroup v2 cgroups, but cgroup.hierarchy is not v2: their exits are not seen; set cgroup.hierarchy: v2 to supervise them');
    }
    this.supervisor = new Supervisor(d.config.programs, {
      launcher: d.launcher,
      clock: realClock,
      timers: realTimers,
      logger: d.log,
      listener: (e) => this.onProgramEvent(e),
      ...(d.prober ? { prober: d.prober } : {}),
      resolveWatch: (w) => this.resolveWatch(w, d.config),
    });
    this.reindex();
  }

  /** `watch: <group name>` names a configured group whose rule is one literal cgroup path. */
  private resolveWatch(watch: string, config: Config): string {
    if (watch.startsWith('/')) return watch;
    const rule = config.groups.rules.find((r) => r.name === watch);
    const path = rule?.match.cgroup;
    if (!rule || !isCgroupRule(rule.match) || !path || /[*?]/.test(path)) {
      this.d.log.warn(`program watch "${watch}": only a group matched by one literal cgroup path can be watched; watching ${watch} as a path`);
      return `/${watch}`;
    }
    return path;
  }

  private reindex(): void {
    this.watched = new Set(this.supervisor.cgroups().map((c) => normalizeCgroupPath(c.cgroup)));
  }

  /** The supervised cgroups' paths (programs' own and watched ones). */
  cgroupPaths(): string[] {
    return [...this.watched];
  }

  start(): Promise<void> {
    return this.supervisor.start();
  }

  /** From the agent: a cgroup's last process left. */
  onCgroupEmpty(cgroupId: number, status: number | null): void {
    const path = normalizeCgroupPath(this.d.cgroupPath(cgroupId));
    if (!this.watched.has(path)) return;
    const exit: ExitInfo = { code: null, signal: null, at: Date.now() };
    if (status !== null) {
      const s = decodeStatus(status);
      exit.code = s.exit_code;
      exit.signal = s.signal;
    }
    this.supervisor.onCgroupEmpty(path, exit);
  }

  private onProgramEvent(e: ProgramEvent): void {
    if (e.type === 'restart') {
      if (e.latency_ms !== null) this.observeLatency(e.program, e.latency_ms / 1000);
      this.d.bus.publish({
        type: 'restart',
        time: isoMicros(e.at * 1e6),
        node: this.d.node,
        program: e.program,
        reason: e.reason,
        restarts: e.restarts,
        pid: e.pid,
        latency_s: e.latency_ms === null ? null : e.latency_ms / 1000,
      });
    } else if (e.type === 'health') {
      this.d.bus.publish({
        type: 'health',
        time: isoMicros(e.at * 1e6),
        node: this.d.node,
        program: e.program,
        health: e.health,
        failures: e.failures,
        detail: e.detail,
      });
    } else if (e.type === 'error') {
      this.d.log.warn(`program "${e.program}": ${e.message}`);
    } else if (e.type === 'state') {
      this.d.log.info(`program "${e.program}": ${e.from} -> ${e.to}${e.reason ? ` (${e.reason})` : ''}`);
    }
  }

  private observeLatency(program: string, s: number): void {
    let h = this.latency.get(program);
    if (!h) {
      h = { buckets: new Float64Array(RESTART_LATENCY_BUCKETS.length + 1), sum: 0, count: 0 };
      this.latency.set(program, h);
    }
    let i = 0;
    while (i < RESTART_LATENCY_BUCKETS.length && s > RESTART_LATENCY_BUCKETS[i]) i++;
    h.buckets[i]++;
    h.sum += s;
    h.count++;
  }

  list(): ProgramStatus[] {
    return this.supervisor.list();
  }

  /** Every configured program, from the start (a program that never came up is visible). */
  samples(): ProgramSample[] {
    return this.supervisor.list().map((p) => {
      const last = p.last_exit;
      const code = last === null ? null : last.signal !== null ? 128 + signalNumber(last.signal) : last.code;
      return {
        name: p.name,
        state: p.state,
        restarts: p.restarts,
        lastExitCode: code,
        ...(this.d.config.programs.find((s) => s.name === p.name)?.health ? { health: p.health } : {}),
        latency: this.latency.get(p.name) ?? { buckets: new Float64Array(RESTART_LATENCY_BUCKETS.length + 1), sum: 0, count: 0 },
      };
    });
  }

  async control(action: 'start' | 'stop' | 'restart', name: string): Promise<ProgramStatus> {
    if (action === 'start') await this.supervisor.startProgram(name);
    else if (action === 'stop') await this.supervisor.stopProgram(name);
    else await this.supervisor.restartProgram(name);
    return this.supervisor.list().find((p) => p.name === name)!;
  }

  async reload(config: Config): Promise<void> {
    this.d.config = config;
    await this.supervisor.reload(config.programs);
    this.reindex();
  }

  /** On agent stop: programs are stopped unless they are to keep running. */
  stop(): Promise<void> {
    return this.supervisor.stopAll({});
  }
}

function signalNumber(name: string): number {
  return (constants.signals as Record<string, number>)[name] ?? 0;
}
