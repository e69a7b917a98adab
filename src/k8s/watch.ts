/**
 * The node's pods from the API server, kept by list + watch: one list, then a watch from the
 * list's resourceVersion, so a new pod (and each container the kubelet reports started) is known
 * as soon as the API server has it, not at the next poll.
 *
 * - Each event moves the resourceVersion on; bookmarks (allowWatchBookmarks) move it on in quiet
 *   times, so a reconnect resumes where it was instead of listing again.
 * - A watch the server ends (timeoutSeconds, 2 min) is resumed at once. A dropped connection, a refused
 *   one or an HTTP error is resumed from the last resourceVersion after a backoff (doubling up to
 *   its bound, reset by an answer).
 * - 410 Gone (as the watch's HTTP status or as an ERROR event): the resourceVersion is too old,
 *   the list is read again, at once.
 * - A stream that sends garbage (a line that is not JSON, an event past the line bound) may have
 *   lost an event in it: after the backoff, the list is read again. One that goes quiet past the
 *   idle deadline (longer than the server's own timeout and bookmark period) is dropped and resumed.
 */
import { ApiError, StreamError, type ApiClient, type WatchStream } from './http.js';
import { PodIndex } from './pods.js';

/**
 * The server ends each watch after this; the agent resumes it from where it was. Short enough
 * that a stream gone quiet without a close (a half-open connection) is found within
 * WATCH_TIMEOUT_S + 30 s; each resume costs the API server one request per node per period.
 */
const WATCH_TIMEOUT_S = 120;

export interface PodWatchOptions {
  client: Pick<ApiClient, 'getJson' | 'watch'>;
  /** The list's path and query: `/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a`. */
  path: string;
  /** A change that may rename groups (a pod came or went, a container was reported). */
  onChange?: () => void;
  /** Told when listing or watching starts failing and when it works again (not on every failure). */
  onState?: (ok: boolean, detail: string) => void;
  backoff?: { initialMs: number; maxMs: number };
  /** The server ends each watch after this (timeoutSeconds); the agent resumes it. */
  watchTimeoutS?: number;
  /** No byte for this long: the stream is taken for dead (ms). */
  idleMs?: number;
}

/** A watch event's shape (watch.Event): type and the object. */
interface WatchEvent {
  type?: unknown;
  object?: { kind?: unknown; code?: unknown; message?: unknown; metadata?: { resourceVersion?: unknown } };
}

export class PodWatch {
  readonly index = new PodIndex();
  private resourceVersion: string | undefined;
  private stream: WatchStream | undefined;
  private closed = false;
  private healthy: boolean | undefined;
  private delayMs: number;
  private sleeping: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  private loop: Promise<void> | undefined;
  /** Lists read and watches opened (for tests and the log). */
  lists = 0;
  watches = 0;

  constructor(private readonly o: PodWatchOptions) {
    this.delayMs = o.backoff?.initialMs ?? 500;
  }

  /** Starts listing and watching; resolves once the first list is read or failed. */
  start(): Promise<void> {
    let first: () => void = () => undefined;
    const listed = new Promise<void>((r) => (first = r));
    this.loop = this.run(first);
    return listed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stream?.close();
    if (this.sleeping) {
      clearTimeout(this.sleeping.timer);
      this.sleeping.wake();
    }
    await this.loop;
  }

  private async run(listed: () => void): Promise<void> {
    while (!this.closed) {
      try {
        if (this.resourceVersion === undefined) await this.list();
        listed();
        await this.watch();
        this.delayMs = this.o.backoff?.initialMs ?? 500; // the server ended it: resume now
      } catch (err) {
        listed();
        if (this.closed) return;
        const gone = err instanceof ApiError && err.status === 410;
        // A line that is not JSON or too long, an unknown event: what it skipped is not known.
        if (gone || err instanceof StreamError) this.resourceVersion = undefined;
        if (!gone) {
          this.report(false, (err as Error).message);
          await this.sleep(this.delayMs);
          this.delayMs = Math.min(this.delayMs * 2, this.o.backoff?.maxMs ?? 30_000);
        }
      }
    }
  }

  private async list(): Promise<void> {
    this.lists++;
    const list = (await this.o.client.getJson(this.o.path)) as { metadata?: { resourceVersion?: unknown } } | null;
    const rv = list?.metadata?.resourceVersion;
    if (typeof rv !== 'string' || rv === '' || !this.index.replace(list)) throw new Error(`GET ${this.o.path}: the answer is not a pod list`);
    this.resourceVersion = rv;
    this.delayMs = this.o.backoff?.initialMs ?? 500;
    this.report(true, `${this.index.size} pods`);
    this.o.onChange?.();
  }

  private async watch(): Promise<void> {
    this.watches++;
    const q = `watch=1&allowWatchBookmarks=true&timeoutSeconds=${this.o.watchTimeoutS ?? WATCH_TIMEOUT_S}&resourceVersion=${encodeURIComponent(this.resourceVersion!)}`;
    const path = `${this.o.path}${this.o.path.includes('?') ? '&' : '?'}${q}`;
    const idle = this.o.idleMs ?? ((this.o.watchTimeoutS ?? WATCH_TIMEOUT_S) + 30) * 1000;
    this.stream = this.o.client.watch(path, idle, (e) => this.apply(e as WatchEvent));
    try {
      await this.stream.done;
    } finally {
      this.stream = undefined;
    }
  }

  private apply(e: WatchEvent): void {
    const obj = e?.object;
    if (e?.type === 'ERROR') {
      const code = typeof obj?.code === 'number' ? obj.code : undefined;
      throw new ApiError(`watch ${this.o.path}: ${code ?? 'error'} ${typeof obj?.message === 'string' ? obj.message.slice(0, 200) : ''}`.trim(), code);
    }
    let changed = false;
    if (e?.type === 'ADDED' || e?.type === 'MODIFIED') changed = this.index.upsert(obj);
    else if (e?.type === 'DELETED') changed = this.index.remove(obj);
    else if (e?.type !== 'BOOKMARK') throw new StreamError(`watch ${this.o.path}: an event of type ${JSON.stringify(e?.type)?.slice(0, 40)}`);
    const rv = obj?.metadata?.resourceVersion;
    if (typeof rv === 'string' && rv !== '') this.resourceVersion = rv;
    this.delayMs = this.o.backoff?.initialMs ?? 500;
    this.report(true, `${this.index.size} pods`);
    if (changed) this.o.onChange?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((wake) => {
      const timer = setTimeout(() => {
        this.sleeping = undefined;
        wake();
      }, ms);
      timer.unref();
      this.sleeping = { timer, wake };
    });
  }

  private report(ok: boolean, detail: string): void {
    if (this.healthy !== ok) this.o.onState?.(ok, detail);
    this.healthy = ok;
  }
}
