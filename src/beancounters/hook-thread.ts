/**
 * Hooks run from a worker thread. Starting a child blocks the thread that starts it until the
 * child has exec'd (libuv waits on a CLOEXEC pipe): a few milliseconds on an idle host, tens to
 * hundreds on a loaded one, where the child waits for a CPU before it can exec. On the agent's
 * main thread that wait would hold up every kernel record behind it, so a fork storm that runs a
 * hook at its barrier would have its limit (and kill) seen late. The worker runs an ordinary
 * HookRunner; the main thread only posts requests and relays what the runner logs.
 */
import { Worker } from 'node:worker_threads';
import type { HookLogger, HookRequest, HookResult } from './hooks.js';

/** Messages from the worker (src/beancounters/hook-worker.ts). */
export type FromWorker = { kind: 'log'; level: 'info' | 'warn'; msg: string } | { kind: 'done'; id: number; result: HookResult } | { kind: 'closed' };

/** Messages to the worker. */
export type ToWorker = { kind: 'run'; id: number; request: HookRequest } | { kind: 'close' };

/** The Hooks of BeancounterService, with the runner in a worker thread. */
export class ThreadedHooks {
  readonly #worker: Worker;
  readonly #log: HookLogger;
  readonly #pending = new Map<number, { request: HookRequest; settle: (r: HookResult) => void }>();
  #seq = 0;
  #closing: Promise<void> | undefined;

  /**
   * @param workerUrl the worker's module: the built hook-worker.js beside this file unless given
   *   (the tests pass a bundle of hook-worker.ts, as a worker cannot load TypeScript).
   */
  constructor(log: HookLogger, workerUrl: URL = new URL('./hook-worker.js', import.meta.url)) {
    this.#log = log;
    this.#worker = new Worker(workerUrl);
    // The agent's own lifetime decides when it exits, not an idle hook thread.
    this.#worker.unref();
    this.#worker.on('message', (m: FromWorker) => {
      if (m.kind === 'log') this.#log[m.level](m.msg);
      else if (m.kind === 'done') {
        this.#pending.get(m.id)?.settle(m.result);
        this.#pending.delete(m.id);
      }
    });
    this.#worker.on('error', (err) => this.#log.warn(`hook thread: ${err.stack ?? err.message}`));
  }

  /** Queues a hook (see HookRunner.run); `done` settles when its run ends. */
  run(request: HookRequest): { done: Promise<HookResult> } {
    if (this.#closing !== undefined) {
      this.#log.warn(`hook ${request.group}/${request.resource} ${request.event}: not run, the hook runner is closed`);
      return { done: Promise.resolve({ status: 'closed', exitCode: null, signal: null, request }) };
    }
    const id = ++this.#seq;
    const done = new Promise<HookResult>((settle) => this.#pending.set(id, { request, settle }));
    this.#worker.postMessage({ kind: 'run', id, request } satisfies ToWorker);
    return { done };
  }

  /** Kills running hooks (HookRunner.close in the worker), then ends the thread. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      const finish = () => {
        for (const { request, settle } of this.#pending.values()) settle({ status: 'closed', exitCode: null, signal: null, request });
        this.#pending.clear();
        void this.#worker.terminate().then(() => resolve());
      };
      this.#worker.on('message', (m: FromWorker) => m.kind === 'closed' && finish());
      this.#worker.once('exit', () => resolve());
      this.#worker.postMessage({ kind: 'close' } satisfies ToWorker);
    });
    return this.#closing;
  }
}
