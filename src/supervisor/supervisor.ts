/**
 * All configured programs together: started and stopped as a set, told which cgroup emptied,
 * listed for `forkwatch programs`, and reconciled with a new config on reload.
 */
import { UsageError } from '../errors.js';
import { normalizeCgroupPath } from './cgroup-path.js';
import type { SupervisedSpec } from './policy.js';
import { Program } from './program.js';
import type { Clock, ExitInfo, HealthProber, Launcher, Logger, ProgramEvent, ProgramStatus, Timers } from './types.js';

/** What a Supervisor is given. */
export interface SupervisorDeps {
  launcher: Launcher;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  /** Every program's events; the agent turns them into restart events and metrics. */
  listener?: (event: ProgramEvent) => void;
  /**
   * Turn a spec's `watch` (a cgroup path, or a configured group's name) into a cgroup path
   * relative to the v2 root. Without it, `watch` is taken as a path.
   */
  resolveWatch?: (watch: string) => string;
  killGraceMs?: number;
  restartCommandTimeoutMs?: number;
  /** Runs programs' health checks. */
  prober?: HealthProber;
}

/** What reload changed, by program name. */
export interface ReloadSummary {
  added: string[];
  removed: string[];
  /** What the program runs changed: restarted (or re-checked, for a watching program). */
  restarted: string[];
  /** Only policy settings changed: applied without touching the process. */
  updated: string[];
}

/** A cgroup the kernel side should report emptying for. */
export interface SupervisedCgroup {
  program: string;
  cgroup: string;
  watching: boolean;
}

// What a process is started with; a change to any of these needs a restart to take effect.
const RUNTIME_KEYS = ['command', 'cwd', 'env', 'user', 'group', 'watch', 'restart_command'] as const;

/** Owns every program from the config. */
export class Supervisor {
  private readonly deps: SupervisorDeps;
  private readonly programs = new Map<string, Program>();
  /** Programs dropped by a reload that are still stopping: their emptying must still arrive. */
  private readonly retiring = new Set<Program>();
  private byCgroup = new Map<string, Program[]>();
  /** Starts waiting for their `after:` programs to be up. */
  private waiters: Array<{ names: readonly string[]; go: () => void }> = [];

  constructor(specs: SupervisedSpec[], deps: SupervisorDeps) {
    this.deps = deps;
    for (const spec of specs) {
      if (this.programs.has(spec.name)) throw new UsageError(`program "${spec.name}" is defined twice`);
      this.programs.set(spec.name, this.makeProgram(spec));
    }
    this.reindex();
  }

  /** Start every program; one already alive in its cgroup is adopted, not started twice. */
  async start(): Promise<void> {
    await Promise.all([...this.programs.values()].map((p) => p.start()));
  }

  /**
   * Stop every program and remove its cgroup. `keepRunning` true leaves all running, false stops
   * all; left out, each program's keep_running decides. Programs left running are detached, so
   * the agent can exit and a later agent adopts them.
   */
  async stopAll(opts: { keepRunning?: boolean } = {}): Promise<void> {
    // Reverse `after:` order: a program stops once every program that starts after it has.
    const stops = new Map<string, Promise<void>>();
    const stopInOrder = (p: Program): Promise<void> => {
      let done = stops.get(p.name);
      if (done) return done;
      stops.set(p.name, Promise.resolve()); // a cycle (refused by the config) cannot wait on itself
      const later = [...this.programs.values()].filter((q) => q.currentSpec.after?.includes(p.name));
      done = Promise.all(later.map(stopInOrder)).then(() => this.stopOrKeep(p, opts));
      stops.set(p.name, done);
      return done;
    };
    await Promise.all([...this.programs.values()].map(stopInOrder));
  }

  private async stopOrKeep(p: Program, opts: { keepRunning?: boolean }): Promise<void> {
    const keep = opts.keepRunning ?? p.currentSpec.keep_running;
    // A start still waiting for its after: programs has nothing to keep: it is called off.
    if (keep && !p.watching && (p.state === 'running' || (p.state === 'starting' && !p.waitingForAfter))) {
      if (p.state === 'starting') await p.start(); // let the launch land before letting go
      if (p.state === 'running') {
        this.deps.logger.info(`program "${p.name}": left running (keep_running)`);
        p.detach();
        return;
      }
    }
    await p.stop();
    await this.removeCgroup(p);
  }

  /**
   * Entry point for the kernel side: the cgroup at `cgroupPath` (relative to the v2 root, e.g.
   * "/forkwatch.programs/web") has no process left; `lastExit` is how its last process ended.
   * Returns false when no program lives in or watches that cgroup.
   */
  onCgroupEmpty(cgroupPath: string, lastExit?: ExitInfo): boolean {
    const programs = this.byCgroup.get(normalizeCgroupPath(cgroupPath));
    if (!programs) return false;
    for (const p of programs) p.onEmptied(lastExit);
    return true;
  }

  /** Same as onCgroupEmpty, for a caller that already mapped the cgroup to a program name. */
  onProgramEmpty(name: string, lastExit?: ExitInfo): boolean {
    const p = this.programs.get(name);
    if (!p) return false;
    p.onEmptied(lastExit);
    return true;
  }

  /** The cgroups to report emptying for (changes on reload). */
  cgroups(): SupervisedCgroup[] {
    return [...this.programs.values()].map((p) => ({ program: p.name, cgroup: p.cgroup, watching: p.watching }));
  }

  /** One program, or undefined. */
  get(name: string): Program | undefined {
    return this.programs.get(name);
  }

  /** Every program's status, in config order, for `forkwatch programs`. */
  list(): ProgramStatus[] {
    return [...this.programs.values()].map((p) => p.status());
  }

  /** Start one program by name (for the API); a UsageError names the known programs. */
  startProgram(name: string): Promise<void> {
    return this.must(name).start();
  }

  /** Stop one program by name (for the API). */
  stopProgram(name: string): Promise<void> {
    return this.must(name).stop();
  }

  /** Restart one program by name (for the API). */
  restartProgram(name: string): Promise<void> {
    return this.must(name).restart();
  }

  /**
   * Bring the running set in line with a new config: new programs start, removed ones stop,
   * changed ones restart when what they run changed and otherwise take the new policy in place.
   */
  async reload(specs: SupervisedSpec[]): Promise<ReloadSummary> {
    const summary: ReloadSummary = { added: [], removed: [], restarted: [], updated: [] };
    const next = new Map<string, SupervisedSpec>();
    for (const spec of specs) {
      if (next.has(spec.name)) throw new UsageError(`program "${spec.name}" is defined twice`);
      next.set(spec.name, spec);
    }
    // Resolve every watch before changing anything, so a bad config changes nothing.
    const watchPaths = new Map<string, string | undefined>();
    for (const spec of specs) watchPaths.set(spec.name, this.watchPathOf(spec));

    const work: Promise<void>[] = [];
    for (const [name, p] of this.programs) {
      if (next.has(name)) continue;
      this.programs.delete(name);
      summary.removed.push(name);
      work.push(this.retire(p));
    }
    const reordered = new Map<string, Program>();
    for (const spec of specs) {
      const old = this.programs.get(spec.name);
      if (!old || (old.currentSpec.watch !== undefined) !== (spec.watch !== undefined)) {
        if (old) work.push(this.retire(old));
        const p = this.makeProgram(spec, watchPaths.get(spec.name));
        reordered.set(spec.name, p);
        summary.added.push(spec.name);
        work.push(p.start());
        continue;
      }
      reordered.set(spec.name, old);
      if (stableJson(old.currentSpec) === stableJson(spec)) continue;
      const runtimeChanged = RUNTIME_KEYS.some((k) => stableJson(old.currentSpec[k]) !== stableJson(spec[k]));
      const wasActive = old.state !== 'stopped';
      old.updateSpec(spec, watchPaths.get(spec.name));
      if (runtimeChanged && wasActive) {
        summary.restarted.push(spec.name);
        // A watching program re-checks its (maybe new) group; restart would run restart_command.
        work.push(old.watching ? old.stop().then(() => old.start()) : old.restart());
      } else {
        summary.updated.push(spec.name);
      }
    }
    this.programs.clear();
    for (const [name, p] of reordered) this.programs.set(name, p);
    this.reindex();
    await Promise.all(work);
    return summary;
  }

  // --- helpers --------------------------------------------------------------------------------

  private makeProgram(spec: SupervisedSpec, watchPath = this.watchPathOf(spec)): Program {
    return new Program(spec, {
      launcher: this.deps.launcher,
      clock: this.deps.clock,
      timers: this.deps.timers,
      logger: this.deps.logger,
      listener: (e) => {
        this.deps.listener?.(e);
        if (e.type === 'state' || e.type === 'health') this.wakeWaiters();
      },
      gate: (after) => this.whenUp(after),
      ...(watchPath !== undefined ? { watchPath } : {}),
      ...(this.deps.killGraceMs !== undefined ? { killGraceMs: this.deps.killGraceMs } : {}),
      ...(this.deps.restartCommandTimeoutMs !== undefined ? { restartCommandTimeoutMs: this.deps.restartCommandTimeoutMs } : {}),
      ...(this.deps.prober ? { prober: this.deps.prober } : {}),
    });
  }

  /**
   * Resolves once every named program is up (running, and healthy when checked). A name no longer
   * configured (dropped by a reload) is not waited for.
   */
  private whenUp(names: readonly string[]): Promise<void> {
    return new Promise((go) => {
      if (this.allUp(names)) go();
      else this.waiters.push({ names, go });
    });
  }

  private allUp(names: readonly string[]): boolean {
    return names.every((n) => this.programs.get(n)?.up ?? true);
  }

  private wakeWaiters(): void {
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => this.allUp(w.names));
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.go();
  }

  private watchPathOf(spec: SupervisedSpec): string | undefined {
    if (spec.watch === undefined) return undefined;
    return normalizeCgroupPath(this.deps.resolveWatch ? this.deps.resolveWatch(spec.watch) : spec.watch);
  }

  private async retire(p: Program): Promise<void> {
    this.retiring.add(p);
    try {
      await p.stop();
      await this.removeCgroup(p);
    } finally {
      this.retiring.delete(p);
      this.reindex();
    }
  }

  private reindex(): void {
    const index = new Map<string, Program[]>();
    for (const p of [...this.programs.values(), ...this.retiring]) {
      const key = normalizeCgroupPath(p.cgroup);
      index.set(key, [...(index.get(key) ?? []), p]);
    }
    this.byCgroup = index;
  }

  private async removeCgroup(p: Program): Promise<void> {
    if (p.watching || p.state !== 'stopped') return;
    try {
      await this.deps.launcher.remove(p.name);
    } catch (err) {
      this.deps.logger.warn(`program "${p.name}": ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private must(name: string): Program {
    const p = this.programs.get(name);
    if (p) return p;
    const known = [...this.programs.keys()];
    throw new UsageError(`no program named "${name}"; configured: ${known.length > 0 ? known.join(', ') : '(none)'}`);
  }
}

/** JSON with object keys sorted, so {a,b} and {b,a} compare equal. */
function stableJson(value: unknown): string {
  return (
    JSON.stringify(value, (_key, v: unknown) =>
      v !== null && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : v,
    ) ?? 'undefined'
  );
}
