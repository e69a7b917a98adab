/**
 * Runs the `exec` actions of beancounter crossings: an I/O adapter around child_process.
 *
 * One key (group + resource) never has two hooks running at once, since two copies of a hook
 * acting on the same group would race each other. A crossing that comes while that key's hook
 * runs is coalesced: it waits, and if more come, only the latest values are kept, so after the
 * running hook the queued one runs once, with the state as it stands rather than a backlog of
 * stale ones. Coalescing is per command: a barrier hook queued behind a limit hook with a
 * different command is still run (one after the other), so no configured hook is lost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';

/** The FORKWATCH_EVENT a hook is run for. */
export type HookEvent = 'barrier' | 'limit' | 'release';

/** Where hook output and hook trouble go; the agent's Logger fits. */
export interface HookLogger {
  info(msg: string): void;
  warn(msg: string): void;
}

/** One hook to run, and what it is told through its environment. */
export interface HookRequest {
  group: string;
  resource: string;
  event: HookEvent;
  held: number;
  barrier?: number;
  limit?: number;
  cgroup?: string;
  /** argv, run without a shell. */
  command: readonly string[];
  timeout_s: number;
  /** More environment; it wins over the FORKWATCH_ variables. */
  env?: Readonly<Record<string, string>>;
}

/**
 * How a hook ended: `ok` exit 0; `failed` another exit status or a signal; `timeout` killed after
 * its timeout; `error` could not be started; `closed` dropped or killed by close().
 */
export type HookStatus = 'ok' | 'failed' | 'timeout' | 'error' | 'closed';

/** The end of one hook run. */
export interface HookResult {
  status: HookStatus;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The values the hook was run with (the latest ones, when coalesced). */
  request: HookRequest;
}

/** What run() hands back: `done` settles (never rejects) when the run carrying this request ends. */
export interface HookHandle {
  readonly key: string;
  /** True when the request waits behind a running hook of the same key. */
  readonly coalesced: boolean;
  readonly done: Promise<HookResult>;
}

/** How a HookRunner is set up. */
export interface HookRunnerOptions {
  logger: HookLogger;
  /** Environment every hook starts from; default the agent's own (hooks want PATH). */
  baseEnv?: NodeJS.ProcessEnv;
  /** Output lines longer than this are cut into pieces, so a hook without newlines cannot grow memory. */
  maxLineChars?: number;
  /** After a hook exits, how long to wait for its pipes to close (a background child may hold them). */
  drain_ms?: number;
}

/** The key two hooks must not share while running. */
export function hookKey(group: string, resource: string): string {
  return `${group}\u0000${resource}`;
}

interface Pending {
  request: HookRequest;
  commandKey: string;
  done: Promise<HookResult>;
  resolve: (r: HookResult) => void;
}

interface Slot {
  running: Pending | undefined;
  child: ChildProcess | undefined;
  finished: Promise<void> | undefined;
  queue: Pending[];
}

const DEFAULT_TIMEOUT_S = 60;

/** Runs hooks, one at a time per key; never throws into its caller. */
export class HookRunner {
  readonly #log: HookLogger;
  readonly #baseEnv: NodeJS.ProcessEnv;
  readonly #maxLine: number;
  readonly #drainMs: number;
  readonly #slots = new Map<string, Slot>();
  #closed = false;

  constructor(opts: HookRunnerOptions) {
    this.#log = opts.logger;
    this.#baseEnv = opts.baseEnv ?? process.env;
    this.#maxLine = opts.maxLineChars ?? 4096;
    this.#drainMs = opts.drain_ms ?? 1000;
  }

  /** Starts a hook, or queues it behind the running one of its key (see the module comment). */
  run(request: HookRequest): HookHandle {
    const key = hookKey(request.group, request.resource);
    try {
      if (this.#closed) {
        this.#warn(`${label(request)}: not run, the hook runner is closed`);
        return { key, coalesced: false, done: Promise.resolve(result('closed', request)) };
      }
      let slot = this.#slots.get(key);
      if (slot === undefined) {
        slot = { running: undefined, child: undefined, finished: undefined, queue: [] };
        this.#slots.set(key, slot);
      }
      const commandKey = JSON.stringify(request.command);
      if (slot.running === undefined) {
        const p = pending(request, commandKey);
        this.#start(key, slot, p);
        return { key, coalesced: false, done: p.done };
      }
      const queued = slot.queue.find((p) => p.commandKey === commandKey);
      if (queued !== undefined) {
        queued.request = request;
        return { key, coalesced: true, done: queued.done };
      }
      const p = pending(request, commandKey);
      slot.queue.push(p);
      return { key, coalesced: true, done: p.done };
    } catch (err) {
      this.#warn(`${label(request)}: ${errorText(err)}`);
      return { key, coalesced: false, done: Promise.resolve(result('error', request)) };
    }
  }

  /** Whether a hook of this key is running. */
  isRunning(group: string, resource: string): boolean {
    return this.#slots.get(hookKey(group, resource))?.running !== undefined;
  }

  /** Drops queued hooks, kills running ones (their whole process group) and waits for them to end. */
  async close(): Promise<void> {
    this.#closed = true;
    const waits: Promise<void>[] = [];
    for (const slot of this.#slots.values()) {
      for (const p of slot.queue.splice(0)) p.resolve(result('closed', p.request));
      const child = slot.child;
      if (child !== undefined && slot.running !== undefined) {
        if (reaped(child)) {
          // Exited, its output pipes held by something it left behind: stop waiting for them.
          child.stdout?.destroy();
          child.stderr?.destroy();
        } else {
          this.#warn(`${label(slot.running.request)} [${child.pid ?? '?'}]: killing it (SIGKILL), the hook runner is closing`);
          killTree(child);
        }
      }
      if (slot.finished !== undefined) waits.push(slot.finished);
    }
    await Promise.all(waits);
  }

  #start(key: string, slot: Slot, p: Pending): void {
    slot.running = p;
    let run: { child: ChildProcess | undefined; done: Promise<HookResult> };
    try {
      run = this.#execute(p.request);
    } catch (err) {
      this.#warn(`${label(p.request)}: ${errorText(err)}`);
      run = { child: undefined, done: Promise.resolve(result('error', p.request)) };
    }
    slot.child = run.child;
    slot.finished = run.done.then((r) => {
      // A hook killed by close() did not fail on its own; say so in its result.
      p.resolve(this.#closed && r.status === 'failed' ? { ...r, status: 'closed' } : r);
      slot.running = undefined;
      slot.child = undefined;
      slot.finished = undefined;
      const next = slot.queue.shift();
      if (next !== undefined && !this.#closed) this.#start(key, slot, next);
      else this.#slots.delete(key);
    });
  }

  /** Spawns one hook; the promise settles once it has exited and its output is logged. */
  #execute(req: HookRequest): { child: ChildProcess | undefined; done: Promise<HookResult> } {
    const name = label(req);
    const [file, ...args] = req.command;
    if (file === undefined || file === '') {
      this.#warn(`${name}: empty command`);
      return { child: undefined, done: Promise.resolve(result('error', req)) };
    }
    let timeout_s = req.timeout_s;
    if (!(timeout_s > 0) || !Number.isFinite(timeout_s)) {
      this.#warn(`${name}: timeout ${timeout_s} is not a number of seconds > 0; using ${DEFAULT_TIMEOUT_S}`);
      timeout_s = DEFAULT_TIMEOUT_S;
    }
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        env: this.#env(req),
        stdio: ['ignore', 'pipe', 'pipe'],
        // Its own process group, so a timeout kills what the hook started too (a `sh -c` script's
        // children), and none of them keeps the output pipes open after the kill.
        detached: true,
      });
    } catch (err) {
      this.#warn(`${name}: cannot start ${file}: ${errorText(err)}`);
      return { child: undefined, done: Promise.resolve(result('error', req)) };
    }
    const started = Date.now();
    const tag = `${name} [${child.pid ?? '?'}]`;
    const done = new Promise<HookResult>((resolve) => {
      let settled = false;
      let timedOut = false;
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let drain: NodeJS.Timeout | undefined;
      const out = lines(this.#maxLine, (l) => this.#info(`${tag}: ${l}`));
      const err = lines(this.#maxLine, (l) => this.#warn(`${tag}: ${l}`));
      child.stdout?.on('data', (b: Buffer) => out.push(b));
      child.stderr?.on('data', (b: Buffer) => err.push(b));
      const timer = setTimeout(() => {
        timedOut = true;
        this.#warn(`${tag}: still running after its timeout of ${timeout_s} s; killing it (SIGKILL)`);
        killTree(child);
      }, timeout_s * 1000);

      const settle = (r: HookResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (drain !== undefined) clearTimeout(drain);
        out.end();
        err.end();
        resolve(r);
      };
      const finish = (): void => {
        if (settled) return;
        const code = exit?.code ?? null;
        const signal = exit?.signal ?? null;
        const secs = ((Date.now() - started) / 1000).toFixed(3);
        if (timedOut) {
          this.#warn(`${tag}: killed after ${timeout_s} s timeout`);
          settle(result('timeout', req, code, signal));
        } else if (code === 0) {
          this.#info(`${tag}: finished in ${secs} s`);
          settle(result('ok', req, code, signal));
        } else {
          this.#warn(`${tag}: failed: ${signal !== null ? `killed by ${signal}` : `exit status ${code}`} after ${secs} s`);
          settle(result('failed', req, code, signal));
        }
      };

      child.on('error', (e) => {
        // Without a pid the hook never started (ENOENT, EACCES); otherwise this is a failed kill,
        // and 'exit' still comes.
        if (child.pid === undefined) {
          this.#warn(`${tag}: cannot start ${file}: ${errorText(e)}`);
          settle(result('error', req));
        } else {
          this.#warn(`${tag}: ${errorText(e)}`);
        }
      });
      child.on('exit', (code, signal) => {
        exit = { code, signal };
        // The timeout is for the hook itself; what it left in the background is not waited for.
        clearTimeout(timer);
        // A background child of the hook may keep the pipes open for ever; stop waiting for them.
        drain = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          finish();
        }, this.#drainMs);
      });
      child.on('close', (code, signal) => {
        exit ??= { code, signal };
        if (child.pid !== undefined) finish();
      });
    });
    return { child, done };
  }

  #env(req: HookRequest): NodeJS.ProcessEnv {
    return {
      ...this.#baseEnv,
      FORKWATCH_GROUP: req.group,
      FORKWATCH_RESOURCE: req.resource,
      FORKWATCH_HELD: String(req.held),
      FORKWATCH_BARRIER: req.barrier === undefined ? '' : String(req.barrier),
      FORKWATCH_LIMIT: req.limit === undefined ? '' : String(req.limit),
      FORKWATCH_EVENT: req.event,
      FORKWATCH_CGROUP: req.cgroup ?? '',
      ...req.env,
    };
  }

  // A logger that throws must not turn into a throw out of run() or an unhandled rejection.
  #info(msg: string): void {
    try {
      this.#log.info(msg);
    } catch {
      /* nothing sensible to do with a broken logger */
    }
  }
  #warn(msg: string): void {
    try {
      this.#log.warn(msg);
    } catch {
      /* nothing sensible to do with a broken logger */
    }
  }
}

function pending(request: HookRequest, commandKey: string): Pending {
  let resolve!: (r: HookResult) => void;
  const done = new Promise<HookResult>((r) => (resolve = r));
  return { request, commandKey, done, resolve };
}

function result(status: HookStatus, request: HookRequest, exitCode: number | null = null, signal: NodeJS.Signals | null = null): HookResult {
  return { status, exitCode, signal, request };
}

function label(req: HookRequest): string {
  return `hook ${req.group}/${req.resource} ${req.event}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Whether Node has reaped the hook (exitCode or signalCode is set as it is reaped). */
function reaped(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * SIGKILLs the hook's process group (the hook and what it started), or the hook alone if that
 * fails. Only while the hook is not reaped: its pid, the group's id, is its own until then; after,
 * the number may have gone to a new process that leads a group of its own.
 */
function killTree(child: ChildProcess): void {
  if (child.pid === undefined || reaped(child)) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** Splits a byte stream into lines (UTF-8 safe across chunks), cutting overlong ones. */
function lines(max: number, emit: (line: string) => void): { push(b: Buffer): void; end(): void } {
  const decoder = new StringDecoder('utf8');
  let buf = '';
  const drain = (): void => {
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      emit(buf.slice(0, nl).replace(/\r$/, ''));
      buf = buf.slice(nl + 1);
    }
    while (buf.length >= max) {
      emit(buf.slice(0, max));
      buf = buf.slice(max);
    }
  };
  return {
    push(b) {
      buf += decoder.write(b);
      drain();
    },
    end() {
      buf += decoder.end();
      drain();
      if (buf.length > 0) emit(buf);
      buf = '';
    },
  };
}
