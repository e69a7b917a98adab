/** Test doubles for the supervisor: a fake clock with timers, a scripted launcher, a log. */
import type { SupervisedSpec } from '../../src/supervisor/policy.js';
import type { Adopted, Clock, ExitStatus, Launched, Launcher, LaunchSpec, Logger, ProgramEvent, TimerHandle, Timers } from '../../src/supervisor/types.js';

/** Let pending promise callbacks run (the fake launcher resolves asynchronously). */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A clock and timers that move only when told. */
export class FakeTime implements Clock, Timers {
  private t = 1_700_000_000_000;
  private seq = 0;
  private queue: Array<{ id: number; at: number; fn: () => void }> = [];

  now(): number {
    return this.t;
  }

  setTimeout = (fn: () => void, ms: number): TimerHandle => {
    const id = ++this.seq;
    this.queue.push({ id, at: this.t + Math.max(0, ms), fn });
    return id;
  };

  clearTimeout = (handle: TimerHandle): void => {
    this.queue = this.queue.filter((x) => x.id !== handle);
  };

  /** Move time forward, firing due timers in order and letting promises settle in between. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      const due = this.queue.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.queue = this.queue.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
    await flush();
  }

  /** Delays (from now) of the timers still armed. */
  pendingDelays(): number[] {
    return this.queue.map((x) => x.at - this.t).sort((a, b) => a - b);
  }
}

/** A logger that keeps every line. */
export function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (m) => lines.push(`debug ${m}`),
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}

/** An event listener that keeps every event. */
export function captureEvents(): { events: ProgramEvent[]; listener: (e: ProgramEvent) => void } {
  const events: ProgramEvent[] = [];
  return { events, listener: (e) => events.push(e) };
}

/** A launcher that records calls and lets the test decide what each one does. */
export class FakeLauncher implements Launcher {
  calls: string[] = [];
  private nextPid = 100;
  /** Processes per program (owned) or per cgroup path (watched). */
  groups = new Map<string, number[]>();
  mainExits = new Map<string, (exit: ExitStatus) => void>();
  adoptable = new Map<string, Adopted>();
  /** Return an Error to make the next launch of that program reject. */
  launchError: ((spec: LaunchSpec) => Error | null) | null = null;
  /** When set, launches wait until release() is called. */
  hold = false;
  private held: Array<() => void> = [];
  /** What a watched program's restart_command does. */
  runOnceBehaviour: (argv: string[]) => ExitStatus = () => ({ code: 0, signal: null });
  /** Whether signal/kill empty the group (the kernel side still has to report it). */
  signalEmpties = true;
  killEmpties = true;
  /** Plays the kernel side: told when signal/kill emptied a group (by cgroup path). */
  reportEmpty: ((cgroupPath: string) => void) | null = null;
  /** false: launched processes die at once (the group is empty right after the launch). */
  populate = true;

  cgroupPath(name: string): string {
    return `/forkwatch.programs/${name}`;
  }

  async launch(spec: LaunchSpec, onMainExit: (exit: ExitStatus) => void): Promise<Launched> {
    this.calls.push(`launch ${spec.name}`);
    if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
    const err = this.launchError?.(spec) ?? null;
    if (err) throw err;
    const pid = this.nextPid++;
    this.groups.set(spec.name, this.populate ? [pid] : []);
    this.mainExits.set(spec.name, onMainExit);
    return { pid };
  }

  /** Let held launches go on. */
  release(): void {
    const held = this.held;
    this.held = [];
    for (const go of held) go();
  }

  async runOnce(spec: LaunchSpec, argv: string[]): Promise<ExitStatus> {
    this.calls.push(`runOnce ${spec.name} ${argv.join(' ')}`);
    return this.runOnceBehaviour(argv);
  }

  async signal(name: string, sig: NodeJS.Signals): Promise<number> {
    this.calls.push(`signal ${name} ${sig}`);
    const n = this.groups.get(name)?.length ?? 0;
    if (this.signalEmpties) this.empty(name, n);
    return n;
  }

  async kill(name: string): Promise<void> {
    this.calls.push(`kill ${name}`);
    if (this.killEmpties) this.empty(name, this.groups.get(name)?.length ?? 0);
  }

  private empty(name: string, had: number): void {
    this.groups.set(name, []);
    const report = this.reportEmpty;
    if (had > 0 && report) setImmediate(() => report(this.cgroupPath(name)));
  }

  async pids(name: string): Promise<number[]> {
    return this.groups.get(name) ?? [];
  }

  async groupPids(cgroupPath: string): Promise<number[]> {
    return this.groups.get(cgroupPath) ?? [];
  }

  async adopt(name: string): Promise<Adopted | null> {
    const found = this.adoptable.get(name) ?? null;
    if (found) {
      this.adoptable.delete(name);
      this.groups.set(name, found.pids);
    }
    return found;
  }

  async remove(name: string): Promise<void> {
    this.calls.push(`remove ${name}`);
  }

  detach(name: string): void {
    this.calls.push(`detach ${name}`);
  }

  /** The main process exits (the group may live on). */
  exitMain(name: string, exit: ExitStatus): void {
    this.mainExits.get(name)?.(exit);
  }

  count(prefix: string): number {
    return this.calls.filter((c) => c.startsWith(prefix)).length;
  }
}

/** A ProgramSpec with test defaults: on-failure, backoff 1s×2 up to 10s, burst 5 in 10s. */
export function makeSpec(overrides: Partial<SupervisedSpec> = {}): SupervisedSpec {
  return {
    name: 'web',
    command: ['/bin/true'],
    env: {},
    restart: 'on-failure',
    success_exit_codes: [0],
    backoff: { initial_s: 1, factor: 2, max_s: 10, reset_after_s: 60 },
    start_limit: { burst: 5, interval_s: 10 },
    retry_failed_after_s: null,
    stop_signal: 'SIGTERM',
    stop_timeout_s: 5,
    keep_running: false,
    after: [],
    ...overrides,
  };
}
