/**
 * The real Launcher: programs run in cgroups under a root the agent owns (by default
 * /forkwatch.programs under the cgroup v2 mount), started, signalled and killed through cgroupfs.
 * A pid read from cgroup.procs is signalled through a pidfd, and only if cgroup.procs still lists
 * it once the pidfd is open (src/host/pidfd.ts): the number may have gone to another process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { access, constants, mkdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join, posix, resolve as resolvePath } from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { detectCgroup2Mount } from '../host/cgroupfs.js';
import { loadBinding, type NativeBinding, type NativeChild } from '../host/binding.js';
import { signalMembers, type PidfdNative } from '../host/pidfd.js';
import { bootTime, CLK_TCK, isExiting, readStat } from '../host/procfs.js';
import { isValidCgroupName, normalizeCgroupPath } from './cgroup-path.js';
import { parseGroup, parsePasswd, programEnv, resolveIdentity, type Identity } from './identity.js';
import { LineSplitter } from './lines.js';
import {
  LaunchError,
  realTimers,
  type Adopted,
  type ExitStatus,
  type Launched,
  type Launcher,
  type LaunchSpec,
  type Logger,
  type Timers,
} from './types.js';

/** Where a program's output line goes; by default the agent's logger, prefixed with the program. */
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
}

/** The part of the addon the launcher uses. */
export type NativeSpawn = Pick<NativeBinding, 'spawnInCgroup'>;

/** The root all programs' cgroups live under unless told otherwise. */
export const DEFAULT_PROGRAMS_ROOT = '/forkwatch.programs';

const SETPRIV_CANDIDATES = ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv', '/sbin/setpriv'];

// The fallback on kernels without clone3(CLONE_INTO_CGROUP) (before 5.7), where the addon cannot
// create the program inside its cgroup. Run by /bin/sh as `sh -c WRAPPER forkwatch <argv...>`.
// Node cannot spawn into a cgroup, so the shell waits until the agent has written its pid to
// cgroup.procs and then says go on fd 3; the command never runs outside the cgroup, and a
// failed move is reported by the agent with the path and errno instead of by a shell.
const WRAPPER = [
  // EOF instead of a line: the agent gave up on this launch (or died); run nothing.
  'read -r go <&3 || exit 125',
  'exec 3<&-',
  // systemd's IgnoreSIGPIPE=yes: a program left running when the agent exits must not die of
  // its next log line into a pipe nobody reads any more. The addon's spawn does the same.
  "trap '' PIPE",
  'exec "$@"',
].join('\n');

/** The first setpriv found in the usual places, or null. */
export async function findSetpriv(candidates = SETPRIV_CANDIDATES): Promise<string | null> {
  for (const path of candidates) {
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // try the next place
    }
  }
  return null;
}

/** A running main process the launcher follows; release() lets the agent exit without it. */
interface Tracked {
  release(): void;
}

interface Prepared {
  /** The command found as exec would find it (absolute). */
  file: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  identity: Identity | null;
}

/**
 * The errno codes of a clone3 that lacks CLONE_INTO_CGROUP (or clone3 altogether), and EPERM:
 * older container seccomp profiles refuse clone3 outright. The fallback then reports what the
 * cgroup.procs write says, should the refusal have been about the cgroup after all.
 */
const NO_CLONE_INTO_CGROUP = new Set(['ENOSYS', 'EINVAL', 'E2BIG', 'EPERM']);

/** Child steps whose failure a retry soon will not fix, unless the errno says it might. */
const CHILD_STEPS = new Set(['execve', 'chdir', 'setgroups', 'setgid', 'setuid']);
const TRANSIENT_CODES = new Set(['EAGAIN', 'ENOMEM', 'ETXTBSY', 'EINTR', 'ENFILE', 'EMFILE']);

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

  constructor(opts: CgroupLauncherOptions) {
    this.mountPoint = opts.mountPoint;
    this.root = normalizeCgroupPath(opts.root ?? DEFAULT_PROGRAMS_ROOT);
    this.rootDir = join(this.mountPoint, this.root);
    this.logger = opts.logger;
    this.output = opts.output ?? ((program, _stream, line) => opts.logger.info(`[${program}] ${line}`));
    this.setpriv = opts.setpriv ?? null;
    this.passwdFile = opts.passwdFile ?? '/etc/passwd';
    this.groupFile = opts.groupFile ?? '/etc/group';
    this.useCgroupKill = opts.useCgroupKill ?? true;
    this.timers = opts.timers ?? realTimers;
    this.sleep = opts.sleep ?? ((ms) => sleepMs(ms).then(() => undefined));
    this.native = opts.native ?? null;
    this.pidfd = opts.pidfd ?? null;
  }

  /** A launcher with the v2 mount detected, setpriv looked up and the addon loaded, unless given. */
  static async create(
    opts: Omit<CgroupLauncherOptions, 'mountPoint'> & { mountPoint?: string },
  ): Promise<CgroupLauncher> {
    const mountPoint = opts.mountPoint ?? detectCgroup2Mount('supervising programs needs it');
    const setpriv = opts.setpriv === undefined ? await findSetpriv() : opts.setpriv;
    const native = opts.native === undefined ? loadAddon(opts.logger, 'spawnInCgroup', 'programs start through a shell') : opts.native;
    const pidfd = opts.pidfd === undefined ? loadAddon(opts.logger, 'pidfdOpen', 'programs are signalled by pid') : opts.pidfd;
    return new CgroupLauncher({ ...opts, mountPoint, setpriv, native, pidfd });
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
    // A restart finds its cgroup there. mkdir would find out too, but it takes the kernel's
    // cgroup_mutex, which another program's migration may hold for a whole RCU grace period.
    if (!existsSync(dir)) await sys(name, 'mkdir', dir, () => mkdir(dir, { recursive: true }));
    const already = await this.readProcs(dir, 1);
    if (already.length > 0) {
      throw new LaunchError(name, `${dir} already holds ${already.length} process(es); refusing to start a second copy`, {
        permanent: false,
      });
    }
    this.thaw(name, dir);

    const t1 = performance.now();
    if (this.native) {
      const launched = this.spawnNative(this.native, name, prepared, dir, onMainExit);
      if (launched) {
        const t2 = performance.now();
        // Where a start's time goes; bench/supervisor reads this line (and gateShell's).
        this.logger.debug?.(
          `program "${name}": pid ${launched.pid} started in ${ms(t0, t2)} ms (checks ${ms(t0, t1)}, spawn ${ms(t1, t2)} by clone3 into its cgroup)`,
        );
        return launched;
      }
    }
    return this.gateShell(name, prepared, dir, onMainExit, t0, t1);
  }

  /**
   * Start the program inside its cgroup with the addon (clone3 CLONE_INTO_CGROUP). Null when
   * this kernel cannot: the launcher then uses the shell gate from now on.
   */
  private spawnNative(
    native: NativeSpawn,
    name: string,
    prepared: Prepared,
    dir: string,
    onMainExit: (exit: ExitStatus) => void,
  ): Launched | null {
    const identity = prepared.identity;
    let child: NativeChild;
    const tracked: Tracked = { release: () => undefined };
    try {
      child = native.spawnInCgroup(
        {
          file: prepared.file,
          argv: prepared.argv,
          envp: Object.entries(prepared.env).map(([k, v]) => `${k}=${v}`),
          cwd: prepared.cwd,
          cgroupDir: dir,
          // Own session: a ^C at the agent's terminal or a signal to its process group is not
          // for the programs, and keep_running programs must outlive the agent.
          setsid: true,
          ...(identity
            ? { ...(identity.uid !== undefined ? { uid: identity.uid } : {}), gid: identity.gid, groups: identity.groups }
            : {}),
        },
        (exit) => {
          if (this.children.get(name) === tracked) this.children.delete(name);
          onMainExit(exit);
        },
      );
    } catch (err) {
      const e = err as NativeError;
      if (e.step === 'clone3' && e.code !== undefined && NO_CLONE_INTO_CGROUP.has(e.code)) {
        this.native = null;
        this.logger.warn(
          `clone3(CLONE_INTO_CGROUP) is not available here (${nativeErrorText(e)}; Linux 5.7 has it, and a container's seccomp profile may refuse it): ` +
            `programs start through a shell moved into their cgroup instead, which takes longer`,
        );
        return null;
      }
      const permanent = e.step !== undefined && CHILD_STEPS.has(e.step) && !TRANSIENT_CODES.has(e.code ?? '');
      throw new LaunchError(name, nativeErrorText(e), { permanent, ...(e.code ? { code: e.code } : {}) });
    }
    const streams = { stdout: pipeReader(child.stdoutFd), stderr: pipeReader(child.stderrFd) };
    tracked.release = () => {
      // Output keeps flowing to the log while the agent lives; none of it may keep the agent alive.
      child.unref();
      streams.stdout.unref();
      streams.stderr.unref();
    };
    this.children.set(name, tracked);
    this.pipeOutput(name, streams);
    return { pid: child.pid };
  }

  /** The fallback: Node spawns a shell, the agent moves it into the cgroup, then lets it exec. */
  private async gateShell(
    name: string,
    prepared: Prepared,
    dir: string,
    onMainExit: (exit: ExitStatus) => void,
    t0: number,
    t1: number,
  ): Promise<Launched> {
    const { argv, ids } = this.nodeCommand(prepared);
    const child = spawn('/bin/sh', ['-c', WRAPPER, 'forkwatch', ...argv], {
      cwd: prepared.cwd,
      env: prepared.env,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      // Own session, as in spawnNative.
      detached: true,
      ...ids,
    });
    const gate = child.stdio[3] as Duplex | null | undefined;
    // The gate breaks with EPIPE when the shell is gone already; the exit handler tells that story.
    gate?.on('error', () => undefined);
    // A pid means the shell was started (libuv waits for its exec); only a failure needs the
    // 'error' event, which comes a turn of the event loop later.
    if (child.pid === undefined) {
      try {
        await once(child, 'spawn');
      } catch (err) {
        throw new LaunchError(name, `spawn /bin/sh: ${errnoText(err)}`, { permanent: false, code: errnoCode(err) });
      }
    }
    const pid = child.pid as number;
    const tracked: Tracked = { release: () => releaseChild(child) };
    child.once('exit', (code, signal) => {
      if (this.children.get(name) === tracked) this.children.delete(name);
      onMainExit({ code, signal });
    });
    this.pipeOutput(name, child);
    const t2 = performance.now();
    try {
      await writeFile(join(dir, 'cgroup.procs'), String(pid));
    } catch (err) {
      child.kill('SIGKILL');
      throw new LaunchError(name, `write ${join(dir, 'cgroup.procs')} (pid ${pid}): ${errnoText(err)}`, {
        permanent: false,
        code: errnoCode(err),
      });
    }
    this.children.set(name, tracked);
    gate?.end('go\n');
    // Where a start's time goes (bench/supervisor reads it): the move into the cgroup waits for
    // an RCU grace period in the kernel, the spawn is Node's fork+exec of the shell.
    const t3 = performance.now();
    this.logger.debug?.(
      `program "${name}": pid ${pid} started in ${ms(t0, t3)} ms (checks ${ms(t0, t1)}, spawn ${ms(t1, t2)}, cgroup move ${ms(t2, t3)})`,
    );
    return { pid };
  }

  async runOnce(spec: LaunchSpec, argv: string[], timeoutMs: number): Promise<ExitStatus> {
    if (argv.length === 0) throw new LaunchError(spec.name, 'empty command', { permanent: true });
    const prepared = await this.prepare(spec, argv);
    const command = this.nodeCommand(prepared);
    const [file, ...args] = command.argv as [string, ...string[]];
    const child = spawn(file, args, {
      cwd: prepared.cwd,
      env: prepared.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      ...command.ids,
    });
    try {
      await once(child, 'spawn');
    } catch (err) {
      throw new LaunchError(spec.name, `spawn ${file}: ${errnoText(err)}`, { permanent: false, code: errnoCode(err) });
    }
    this.pipeOutput(`${spec.name} ${posix.basename(argv[0] as string)}`, child);
    return new Promise<ExitStatus>((resolve) => {
      let timedOut = false;
      const timer = this.timers.setTimeout(() => {
        timedOut = true;
        // Its own process group (detached): take whatever it started along with it. The timer is
        // cleared on exit, so the leader is not reaped yet and its pid (the group's id) is still its own.
        signalQuietly(-(child.pid as number), 'SIGKILL');
      }, timeoutMs);
      child.once('exit', (code, signal) => {
        this.timers.clearTimeout(timer);
        resolve({ code, signal, ...(timedOut ? { timedOut: true } : {}) });
      });
    });
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
      try {
        await writeFile(join(dir, 'cgroup.kill'), '1');
        return;
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') {
          throw new Error(`write ${join(dir, 'cgroup.kill')}: ${errnoText(err)}`);
        }
        if (!(await exists(dir))) return;
        // The directory is there but cgroup.kill is not: a kernel before 5.14.
      }
    }
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
    const dir = this.dir(name);
    try {
      await rmdir(dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw new Error(`rmdir ${dir}: ${errnoText(err)}`);
    }
  }

  detach(name: string): void {
    const tracked = this.children.get(name);
    if (!tracked) return;
    this.children.delete(name);
    tracked.release();
  }

  // --- helpers --------------------------------------------------------------------------------

  /** Everything that can be checked before spawning, so a bad config gets a clear error. */
  private async prepare(spec: LaunchSpec, argv: string[]): Promise<Prepared> {
    const identity = await this.identity(spec);
    const env = programEnv(spec.env, identity);
    const cwd = spec.cwd ?? '/';
    // Both looks at once (one trip through the thread pool on the restart path); a bad cwd is
    // reported first, as it would be found first.
    const [dirCheck, commandCheck] = await Promise.allSettled([
      checkDirectory(spec.name, cwd),
      resolveCommand(spec.name, argv[0] as string, env.PATH ?? '', cwd),
    ]);
    if (dirCheck.status === 'rejected') throw dirCheck.reason;
    if (commandCheck.status === 'rejected') throw commandCheck.reason;
    return { file: commandCheck.value, argv, env, cwd, identity };
  }

  /** argv and ids for Node's spawn: the identity drop through setpriv, else Node's uid/gid. */
  private nodeCommand(prepared: Prepared): { argv: string[]; ids: { uid?: number; gid?: number } } {
    const { argv, identity } = prepared;
    if (!identity) return { argv, ids: {} };
    if (this.setpriv) {
      const drop = [
        this.setpriv,
        ...(identity.uid !== undefined ? [`--reuid=${identity.uid}`] : []),
        `--regid=${identity.gid}`,
        identity.groups.length > 0 ? `--groups=${identity.groups.join(',')}` : '--clear-groups',
        '--',
      ];
      return { argv: [...drop, ...argv], ids: {} };
    }
    if (identity.groups.some((g) => g !== identity.gid) && !this.warnedGroups) {
      this.warnedGroups = true;
      this.logger.warn('setpriv (util-linux) not found: programs run with their primary group only, no supplementary groups');
    }
    return { argv, ids: { ...(identity.uid !== undefined ? { uid: identity.uid } : {}), gid: identity.gid } };
  }

  private async identity(spec: LaunchSpec): Promise<Identity | null> {
    if (spec.user === undefined && spec.group === undefined) return null;
    const [passwd, group] = await Promise.all([
      sys(spec.name, 'read', this.passwdFile, () => readFile(this.passwdFile, 'utf8')),
      sys(spec.name, 'read', this.groupFile, () => readFile(this.groupFile, 'utf8')),
    ]);
    return resolveIdentity(spec.name, spec, parsePasswd(passwd), parseGroup(group), {
      passwd: this.passwdFile,
      group: this.groupFile,
    });
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
   * systemd thaws a unit it starts. Synchronous, like readProcs: a pseudo-file on the restart path.
   */
  private thaw(name: string, dir: string): void {
    const file = join(dir, 'cgroup.freeze');
    let frozen: boolean;
    try {
      frozen = readFileSync(file, 'utf8').trim() === '1';
    } catch {
      return; // no freezer here (kernels before 5.2): nothing can be frozen
    }
    if (!frozen) return;
    try {
      writeFileSync(file, '0');
      this.logger.warn(`program "${name}": its cgroup ${dir} was frozen; thawed it to start the program`);
    } catch (err) {
      throw new LaunchError(name, `write ${file}: ${errnoText(err)} (the cgroup is frozen and could not be thawed)`, {
        permanent: false,
        code: errnoCode(err),
      });
    }
  }

  /**
   * Live processes listed in a cgroup.procs (at most `limit`). Synchronous reads on purpose: these
   * are kernel pseudo-files answered from memory in microseconds, and this sits on the restart
   * path (the check that an emptied group really is empty, the check before a launch), where
   * each asynchronous read would cost a round trip through libuv's thread pool and the event loop
   * (milliseconds on a busy host).
   */
  private async readProcs(dir: string, limit = Infinity): Promise<number[]> {
    let text: string;
    try {
      text = readFileSync(join(dir, 'cgroup.procs'), 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENODEV') return [];
      throw new Error(`read ${join(dir, 'cgroup.procs')}: ${errnoText(err)}`);
    }
    const alive: number[] = [];
    for (const line of text.split('\n')) {
      const pid = Number(line);
      if (line === '' || !Number.isInteger(pid) || pid <= 0 || isExiting(pid)) continue;
      alive.push(pid);
      if (alive.length >= limit) break;
    }
    return alive;
  }
}

/** Every pid cgroup.procs lists now (none when the cgroup is gone), for the check after the pidfds are open. */
function listedPids(dir: string): Set<number> {
  try {
    return new Set(readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
  } catch {
    return new Set();
  }
}

// --- module helpers ---------------------------------------------------------------------------

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

/** An Error from the addon: "step(object): text", with code, step and object. */
interface NativeError extends Error {
  code?: string;
  step?: string;
  object?: string;
}

/** "execve /usr/bin/x: ENOENT (no such file or directory)", like the launcher's other errors. */
function nativeErrorText(e: NativeError): string {
  if (e.step === undefined || e.code === undefined) return e.message;
  const at = e.message.indexOf('): ');
  const text = at >= 0 ? e.message.slice(at + 3) : e.message;
  return `${e.step} ${e.object ?? ''}: ${e.code} (${text.charAt(0).toLowerCase()}${text.slice(1)})`;
}

/** A read end of a program's output pipe as a stream; it closes the fd at EOF. */
function pipeReader(fd: number): Socket {
  return new Socket({ fd, readable: true, writable: false });
}

/** Milliseconds between two performance.now() readings, for the debug lines. */
function ms(from: number, to: number): string {
  return (to - from).toFixed(1);
}

function releaseChild(child: ChildProcess): void {
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
}

async function checkDirectory(program: string, cwd: string): Promise<void> {
  try {
    if ((await stat(cwd)).isDirectory()) return;
  } catch (err) {
    throw new LaunchError(program, `working directory ${cwd}: ${errnoText(err)}`, { permanent: true, code: errnoCode(err) });
  }
  throw new LaunchError(program, `working directory ${cwd} is not a directory`, { permanent: true });
}

/**
 * Find the command as exec would, to say "not found" before spawning rather than leave a shell's
 * exit 127 to be read as a crash.
 */
async function resolveCommand(program: string, command: string, pathVar: string, cwd: string): Promise<string> {
  if (command.includes('/')) {
    const path = resolvePath(cwd, command);
    const problem = await executableProblem(path);
    if (problem) throw new LaunchError(program, `command ${command}: ${problem}`, { permanent: true });
    return path;
  }
  for (const dir of pathVar.split(':')) {
    const path = resolvePath(cwd, dir === '' ? '.' : dir, command);
    if ((await executableProblem(path)) === null) return path;
  }
  throw new LaunchError(program, `command "${command}" not found in PATH=${pathVar}`, { permanent: true, code: 'ENOENT' });
}

async function executableProblem(path: string): Promise<string | null> {
  try {
    const st = await stat(path);
    if (!st.isFile()) return 'not a regular file';
    if ((st.mode & 0o111) === 0) return 'not executable (no x permission)';
    return null;
  } catch (err) {
    return errnoCode(err) === 'ENOENT' ? 'does not exist' : errnoText(err);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Run an fs step, turning its failure into a LaunchError naming step, object and errno. */
async function sys<T>(program: string, op: string, object: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new LaunchError(program, `${op} ${object}: ${errnoText(err)}`, { permanent: false, code: errnoCode(err) });
  }
}

function signalQuietly(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // ESRCH: it exited between reading cgroup.procs and now, which is what we wanted anyway.
  }
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** "EACCES (permission denied)" from a Node system error; the message otherwise. */
function errnoText(err: unknown): string {
  const code = errnoCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const m = /^([A-Z0-9]+): ([^,]+)/.exec(message);
  if (m) return `${m[1]} (${m[2]})`;
  return code ? `${code} (${message})` : message;
}
