/**
 * The real Launcher: programs run in cgroups under a root the agent owns (by default
 * /forkwatch.programs under the cgroup v2 mount), started, signalled and killed through cgroupfs.
 * The steps live next door: preparing the command (command.ts), starting it inside its cgroup
 * (spawn.ts, or the shell gate of shell.ts), the cgroup's files (host/cgroup-dir.ts). A pid read
 * from cgroup.procs is signalled through a pidfd, and only if cgroup.procs still lists it once the
 * pidfd is open (host/pidfd.ts): the number may have gone to another process.
 */
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { errnoCode, errnoText } from '../errors.js';
import { loadBinding, type NativeBinding } from '../host/binding.js';
import { programOutput } from '../log.js';
import { killCgroup, listedPids, livePids, makeCgroup, removeCgroup, thawIfFrozen } from '../host/cgroup-dir.js';
import { detectCgroup2Mount } from '../host/cgroupfs.js';
import { signalMembers, type PidfdNative } from '../host/pidfd.js';
import { bootTime, CLK_TCK, readStat } from '../host/procfs.js';
import { isValidCgroupName, normalizeCgroupPath } from './cgroup-path.js';
import { findSetpriv, nodeCommand, prepareCommand, sys, type Prepared } from './command.js';
import { LineSplitter } from './lines.js';
import { LogRelays, RELAYS_CGROUP, type LogRelayOptions } from './log-relay.js';
import { gateShell, runCommand } from './shell.js';
import { pipeReader, spawnIntoCgroup, type NativeSpawn, type Spawned } from './spawn.js';
import { LaunchError, realTimers, type Adopted, type ExitStatus, type Launched, type Launcher, type LaunchSpec, type Logger, type Timers } from './types.js';

/** Where a program's output line goes; by default a child of the agent's logger per program and stream (src/log.ts). */
export type OutputSink = (program: string, stream: 'stdout' | 'stderr', line: string) => void;

/** Settings of a CgroupLauncher. */
export interface CgroupLauncherOptions {
  logger: Logger;
  /** Where cgroup v2 is mounted (see detectCgroup2Mount). */
  mountPoint: string;
  /**
   * Parent of every program's cgroup, relative to the v2 root. Under systemd with Delegate=yes
   * this should sit inside the agent's own delegated cgroup.
   */
  root?: string;
  passwdFile?: string;
  groupFile?: string;
  /**
   * setpriv(1) for dropping to a program's user with its supplementary groups. null: never; Node's
   * spawn uid/gid is used then, which sets only the primary group.
   */
  setpriv?: string | null;
  output?: OutputSink;
  /** false forces the pid-by-pid SIGKILL loop used on kernels without cgroup.kill (< 5.14). */
  useCgroupKill?: boolean;
  timers?: Timers;
  /** Pause between rounds of the SIGKILL loop. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * The addon's spawnInCgroup: programs are created inside their cgroup by clone3. null: the
   * shell-gate path (Node's spawn, then a cgroup.procs write), which kernels before 5.7 get anyway.
   * CgroupLauncher.create loads the addon unless told.
   */
  native?: NativeSpawn | null;
  /**
   * The addon's pidfd calls, for signalling the processes of a program's cgroup. null: kill(2)
   * after the same membership check (a short window for pid reuse remains). CgroupLauncher.create
   * loads the addon unless told.
   */
  pidfd?: PidfdNative | null;
  /**
   * Called with a program's cgroup path (relative to the v2 root) once the cgroup exists and just
   * before the program is started in it: the agent watches it then (records on demand).
   */
  beforeSpawn?: (cgroupPath: string) => void;
  /** program_logs: each program's output to its log file through a relay (log-relay.ts); null: to `output`. */
  logs?: LogRelays | null;
}

/** The root all programs' cgroups live under unless told otherwise. */
export const DEFAULT_PROGRAMS_ROOT = '/forkwatch.programs';

/** A running main process the launcher follows; release() lets the agent exit without it. */
interface Tracked {
  release(): void;
}

/** Launcher that runs each program in its own cgroup v2 directory. */
export class CgroupLauncher implements Launcher {
  /** Absolute directory of the programs' root cgroup. */
  readonly rootDir: string;
  private readonly root: string;
  private readonly mountPoint: string;
  private readonly logger: Logger;
  private readonly output: OutputSink;
  private readonly setpriv: string | null;
  private readonly passwdFile: string;
  private readonly groupFile: string;
  private readonly useCgroupKill: boolean;
  private readonly timers: Timers;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly children = new Map<string, Tracked>();
  private warnedGroups = false;
  private native: NativeSpawn | null;
  private readonly pidfd: PidfdNative | null;
  private readonly beforeSpawn: ((cgroupPath: string) => void) | undefined;
  private readonly logs: LogRelays | null;

  constructor(opts: CgroupLauncherOptions) {
    this.mountPoint = opts.mountPoint;
    this.root = normalizeCgroupPath(opts.root ?? DEFAULT_PROGRAMS_ROOT);
    this.rootDir = join(this.mountPoint, this.root);
    this.logger = opts.logger;
    this.output = opts.output ?? programOutput(opts.logger);
    this.setpriv = opts.setpriv ?? null;
    this.passwdFile = opts.passwdFile ?? '/etc/passwd';
    this.groupFile = opts.groupFile ?? '/etc/group';
    this.useCgroupKill = opts.useCgroupKill ?? true;
    this.timers = opts.timers ?? realTimers;
    this.sleep = opts.sleep ?? ((ms) => sleepMs(ms).then(() => undefined));
    this.native = opts.native ?? null;
    this.pidfd = opts.pidfd ?? null;
    this.beforeSpawn = opts.beforeSpawn;
    this.logs = opts.logs ?? null;
  }

  /**
   * A launcher with the v2 mount detected, setpriv looked up and the addon loaded, unless given;
   * with `programLogs` (config program_logs), its log relays prepared (LogRelays.prepare's errors).
   */
  static async create(
    opts: Omit<CgroupLauncherOptions, 'mountPoint'> & { mountPoint?: string; programLogs?: Omit<LogRelayOptions, 'cgroupDir' | 'logger'> },
  ): Promise<CgroupLauncher> {
    const mountPoint = opts.mountPoint ?? detectCgroup2Mount('supervising programs needs it');
    const setpriv = opts.setpriv === undefined ? await findSetpriv() : opts.setpriv;
    const native = opts.native === undefined ? loadAddon(opts.logger, 'spawnInCgroup', 'programs start through a shell') : opts.native;
    const pidfd = opts.pidfd === undefined ? loadAddon(opts.logger, 'pidfdOpen', 'programs are signalled by pid') : opts.pidfd;
    const cgroupDir = join(mountPoint, normalizeCgroupPath(opts.root ?? DEFAULT_PROGRAMS_ROOT), RELAYS_CGROUP);
    const logs = opts.programLogs ? await LogRelays.prepare({ ...opts.programLogs, cgroupDir, logger: opts.logger }) : opts.logs;
    return new CgroupLauncher({ ...opts, mountPoint, setpriv, native, pidfd, logs });
  }

  cgroupPath(name: string): string {
    return posix.join(this.root, name);
  }

  /** Absolute directory of a program's cgroup. */
  dir(name: string): string {
    return join(this.rootDir, name);
  }

  async launch(spec: LaunchSpec, onMainExit: (exit: ExitStatus) => void): Promise<Launched> {
    const name = spec.name;
    if (!isValidCgroupName(name)) {
      throw new LaunchError(name, 'the name cannot be a cgroup directory (no "/", not "cgroup.*")', { permanent: true });
    }
    if (!spec.command || spec.command.length === 0) {
      throw new LaunchError(name, 'has no command to run', { permanent: true });
    }
    const t0 = performance.now();
    const prepared = await this.prepare(spec, spec.command);
    const dir = this.dir(name);
    // A restart finds its cgroup there.
    await sys(name, 'mkdir', dir, () => makeCgroup(dir));
    const already = await this.readProcs(dir, 1);
    if (already.length > 0) {
      throw new LaunchError(name, `${dir} already holds ${already.length} process(es); refusing to start a second copy`, {
        permanent: false,
      });
    }
    this.thaw(name, dir);
    this.beforeSpawn?.(this.cgroupPath(name));

    // The exit may come before the start is followed; it then finds nothing to forget.
    const tracked: Tracked = { release: () => undefined };
    const onExit = (exit: ExitStatus) => {
      if (this.children.get(name) === tracked) this.children.delete(name);
      onMainExit(exit);
    };
    const t1 = performance.now();
    let spawned: Spawned | null = null;
    if (this.native) {
      const result = spawnIntoCgroup(this.native, name, prepared, dir, onExit, this.logs !== null);
      if ('unavailable' in result) {
        this.native = null;
        this.logger.warn(
          `clone3(CLONE_INTO_CGROUP) is not available here (${result.unavailable}; Linux 5.7 has it, and a container's seccomp profile may refuse it): ` +
            `programs start through a shell moved into their cgroup instead, which takes longer`,
        );
      } else {
        spawned = result;
        const t2 = performance.now();
        // Where a start's time goes; bench/supervisor reads this line (and the shell gate's).
        this.logger.debug?.(
          `program "${name}": pid ${result.pid} started in ${ms(t0, t2)} ms (checks ${ms(t0, t1)}, spawn ${ms(t1, t2)} by clone3 into its cgroup)`,
        );
      }
    }
    if (spawned === null) {
      const relay = this.logs?.open(name) ?? null;
      let gated;
      try {
        gated = await gateShell(name, prepared, this.nodeCommand(prepared), dir, onExit, relay ? [relay.stdout, relay.stderr] : undefined);
      } finally {
        relay?.close();
      }
      spawned = gated;
      const { spawnMs, moveMs } = gated.timing;
      this.logger.debug?.(
        `program "${name}": pid ${gated.pid} started in ${ms(t0, performance.now())} ms (checks ${ms(t0, t1)}, spawn ${spawnMs.toFixed(1)}, cgroup move ${moveMs.toFixed(1)})`,
      );
    }
    tracked.release = spawned.release;
    this.children.set(name, tracked);
    this.routeOutput(name, spawned);
    return { pid: spawned.pid };
  }

  async runOnce(spec: LaunchSpec, argv: string[], timeoutMs: number, opts: { quiet?: boolean } = {}): Promise<ExitStatus> {
    if (argv.length === 0) throw new LaunchError(spec.name, 'empty command', { permanent: true });
    const prepared = await this.prepare(spec, argv);
    const label = `${spec.name} ${posix.basename(argv[0])}`;
    return runCommand(spec.name, prepared, this.nodeCommand(prepared), this.timers, timeoutMs, (streams) =>
      opts.quiet ? dropOutput(streams) : this.pipeOutput(label, streams),
    );
  }

  async signal(name: string, sig: NodeJS.Signals): Promise<number> {
    const dir = this.dir(name);
    const seen = new Set<number>();
    const members = () => listedPids(dir);
    let sent = 0;
    // A process may fork between reading cgroup.procs and signalling; read again until no new
    // pid shows up (bounded: a fork bomb is what cgroup.kill at the timeout is for).
    for (let round = 0; round < 10; round++) {
      const fresh = (await this.readProcs(dir)).filter((pid) => !seen.has(pid));
      if (fresh.length === 0) break;
      for (const pid of fresh) seen.add(pid);
      sent += signalMembers(this.pidfd, fresh, members, sig);
      // A stopped process would not act on the signal until continued (systemd does the same).
      if (sig !== 'SIGKILL' && sig !== 'SIGSTOP' && sig !== 'SIGCONT') signalMembers(this.pidfd, fresh, members, 'SIGCONT');
    }
    return sent;
  }

  async kill(name: string): Promise<void> {
    const dir = this.dir(name);
    if (this.useCgroupKill) {
      const done = await killCgroup(dir);
      if (done !== 'unsupported') return;
    }
    // Pid by pid: kernels before 5.14 have no cgroup.kill.
    for (let round = 0; round < 200; round++) {
      const pids = await this.readProcs(dir);
      if (pids.length === 0) return;
      signalMembers(this.pidfd, pids, () => listedPids(dir), 'SIGKILL');
      await this.sleep(10);
    }
    throw new Error(`kill ${dir}: processes still there after 200 rounds of SIGKILL`);
  }

  pids(name: string, limit?: number): Promise<number[]> {
    return this.readProcs(this.dir(name), limit);
  }

  groupPids(cgroupPath: string, limit?: number): Promise<number[]> {
    return this.readProcs(join(this.mountPoint, normalizeCgroupPath(cgroupPath)), limit);
  }

  async adopt(name: string): Promise<Adopted | null> {
    if (!isValidCgroupName(name)) return null;
    const pids = await this.pids(name);
    if (pids.length === 0) return null;
    const inGroup = new Set(pids);
    const stats = pids.map((pid) => readStat(pid)).filter((s) => s !== undefined);
    // The main process is the top of the tree: its parent is outside the cgroup.
    const tops = stats.filter((s) => !inGroup.has(s.ppid)).sort((a, b) => a.startTicks - b.startTicks);
    const main = tops[0] ?? null;
    const btime = main ? bootTime() : undefined;
    return {
      pids,
      mainPid: main?.pid ?? null,
      startedAt: main && btime !== undefined ? btime * 1000 + (main.startTicks * 1000) / CLK_TCK : null,
    };
  }

  async remove(name: string): Promise<void> {
    this.children.delete(name);
    await removeCgroup(this.dir(name));
  }

  detach(name: string): void {
    const tracked = this.children.get(name);
    if (!tracked) return;
    this.children.delete(name);
    tracked.release();
  }

  // --- helpers --------------------------------------------------------------------------------

  private prepare(spec: LaunchSpec, argv: string[]): Promise<Prepared> {
    return prepareCommand(spec, argv, { passwd: this.passwdFile, group: this.groupFile });
  }

  /** The command for Node's spawn; says once when supplementary groups cannot be set. */
  private nodeCommand(prepared: Prepared): ReturnType<typeof nodeCommand> {
    const command = nodeCommand(prepared, this.setpriv);
    if (command.groupsDropped && !this.warnedGroups) {
      this.warnedGroups = true;
      this.logger.warn('setpriv (util-linux) not found: programs run with their primary group only, no supplementary groups');
    }
    return command;
  }

  /**
   * The hook for program_logs: a program's output goes to its log relay when the spawn handed
   * back the pipes' read ends (a relay started before the program already has them); else, or
   * when the relay cannot start, its lines go to `output` (the agent's log).
   */
  private routeOutput(name: string, spawned: Spawned): void {
    const fds = spawned.outputFds;
    if (fds && !this.logs?.attach(name, fds)) {
      spawned = { ...spawned, stdout: pipeReader(fds[0]), stderr: pipeReader(fds[1]) };
    }
    this.pipeOutput(name, spawned);
  }

  private pipeOutput(label: string, streams: { stdout: Readable | null; stderr: Readable | null }): void {
    for (const which of ['stdout', 'stderr'] as const) {
      const stream = streams[which];
      if (!stream) continue;
      const lines = new LineSplitter();
      stream.on('data', (chunk: Buffer) => {
        for (const line of lines.push(chunk)) this.output(label, which, line);
      });
      stream.on('end', () => {
        for (const line of lines.end()) this.output(label, which, line);
      });
      stream.on('error', () => undefined);
    }
  }

  /**
   * A program's cgroup left frozen (a beancounter `freeze`, or by hand) would freeze the new
   * process at once: a restart that never runs. Starting a program thaws its cgroup first, as
   * systemd thaws a unit it starts.
   */
  private thaw(name: string, dir: string): void {
    try {
      if (thawIfFrozen(dir)) this.logger.warn(`program "${name}": its cgroup ${dir} was frozen; thawed it to start the program`);
    } catch (err) {
      throw new LaunchError(name, `write ${join(dir, 'cgroup.freeze')}: ${errnoText(err)} (the cgroup is frozen and could not be thawed)`, {
        permanent: false,
        code: errnoCode(err),
      });
    }
  }

  /** Live processes in a cgroup (host/cgroup-dir.ts), at most `limit`. */
  private readProcs(dir: string, limit = Infinity): Promise<number[]> {
    // A read error rejects (the executor's throw), as callers that return this promise expect.
    return new Promise((resolve) => resolve(livePids(dir, limit)));
  }
}

/** The addon when it has `fn`, or null with the reason logged (`without`: what the launcher does then). */
function loadAddon(logger: Logger, fn: 'spawnInCgroup' | 'pidfdOpen', without: string): NativeBinding | null {
  try {
    const binding = loadBinding();
    if (typeof binding[fn] === 'function') return binding;
    logger.warn(`the native addon has no ${fn} (built from older sources?): ${without}`);
  } catch (err) {
    logger.warn(`${without}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return null;
}

/** Read and forget a command's output (a health check's), so a full pipe never blocks it. */
function dropOutput(streams: { stdout: Readable | null; stderr: Readable | null }): void {
  for (const stream of [streams.stdout, streams.stderr]) {
    stream?.on('error', () => undefined);
    stream?.resume();
  }
}

/** Milliseconds between two performance.now() readings, for the debug lines. */
function ms(from: number, to: number): string {
  return (to - from).toFixed(1);
}
