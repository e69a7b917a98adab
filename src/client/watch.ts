/**
 * The library API: subscribe to a running agent's event stream from any Node program.
 *
 *   import { watch } from 'forkwatch';
 *   for await (const e of watch({ url: 'unix:/run/forkwatch/api.sock', filter: { events: 'exit', failed: true } })) { … }
 *
 * Reconnects when the agent restarts or the connection drops, and says so in the stream
 * (`disconnected`, then `hello` again; `restarted: true` when it is a new run of the agent).
 * A slow consumer is not buffered without bound: past a few thousand unread events the
 * connection is paused, the agent drops the oldest events of this subscriber and the stream says
 * how many (`missed`).
 */
import type http from 'node:http';
import { DEFAULTS } from '../config/default.js';
import type { ProcessEvent } from '../events/model.js';
import type { AgentEvent } from '../stream/bus.js';
import { requestOptions, transport } from './http.js';
import { parseAgentUrl, type AgentTarget } from './target.js';
import { readTokenFile } from './token.js';

export type { ProcessEvent } from '../events/model.js';
export type { AgentEvent } from '../stream/bus.js';

/** Stream notices: the connection's own news, interleaved with events. */
export type Notice =
  | {
      type: 'hello';
      time: string;
      node: string;
      stream: string;
      seq: number;
      source: string;
      /** A new run of the agent since the last connection: what happened meanwhile is unknown. */
      restarted: boolean;
      /** Same run: events the agent published while we were away (before filtering, so an upper bound of ours). */
      skipped: number;
    }
  | { type: 'missed'; time: string; node: string; count: number; source: string }
  | { type: 'disconnected'; time: string; source: string; error: string };

export type WatchEvent = (ProcessEvent | AgentEvent | Notice) & { source?: string };

export interface WatchOptions {
  /** http://host:port, https://host:port, or unix:/path/to/api.sock */
  url: string;
  /** Bearer token (needed for TCP). */
  token?: string;
  /** A file holding the bearer token, read once at the start (instead of token). */
  tokenFile?: string;
  /** Query parameters: cgroup, comm, pid, tree, events, threads, failed, group, ancestors. */
  filter?: Record<string, string | number | boolean>;
  /** Keep reconnecting (default true); false ends the iteration at the first disconnect. */
  reconnect?: boolean;
  /** Delay before reconnecting, ms (default 500, doubling to 5 s: DEFAULTS.client). */
  retryMs?: number;
  /** Unread events held here before the connection is paused (default 4096: DEFAULTS.client). */
  highWater?: number;
  signal?: AbortSignal;
}

/** The agent refused the request (bad filter, missing or wrong token): retrying would not help. */
export class WatchError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'WatchError';
  }
}

interface Connection {
  /** Resolves with why the stream ended. */
  ended: Promise<string>;
  pause(): void;
  resume(): void;
}

/** Opens one connection; `onLine` gets each parsed line. */
function connect(t: AgentTarget, path: string, onLine: (o: WatchEvent) => void, signal: AbortSignal): Connection {
  let res: http.IncomingMessage | undefined;
  let paused = false;
  const ended = new Promise<string>((resolve, reject) => {
    const req = transport(t).get({ ...requestOptions(t, path, { Accept: 'application/x-ndjson' }), signal }, (r: http.IncomingMessage) => {
      res = r;
      if (r.statusCode !== 200) {
        let body = '';
        r.setEncoding('utf8').on('data', (d: string) => (body += d));
        r.on('end', () => {
          const why = `HTTP ${r.statusCode}: ${body.trim()}`;
          // A refusal (4xx) is for the user to fix; a server error may pass.
          if (r.statusCode! >= 400 && r.statusCode! < 500) reject(new WatchError(`${t.label}: ${why}`, r.statusCode!));
          else resolve(why);
        });
        return;
      }
      if (paused) r.pause();
      let buf = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const lineText = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!lineText) continue;
          let o: WatchEvent;
          try {
            o = JSON.parse(lineText) as WatchEvent;
          } catch {
            r.destroy();
            resolve(`not a forkwatch stream (a line is not JSON: ${lineText.slice(0, 80)})`);
            return;
          }
          onLine(o);
        }
      });
      r.on('end', () => resolve('the agent closed the stream'));
      r.on('error', (e) => resolve(e.message));
      r.on('close', () => resolve('the connection closed'));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  return {
    ended,
    pause: () => {
      paused = true;
      res?.pause();
    },
    resume: () => {
      paused = false;
      res?.resume();
    },
  };
}

/** Events from a running agent, as an async iterable. Breaking out of the loop closes the connection. */
export async function* watch(opts: WatchOptions): AsyncGenerator<WatchEvent> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(opts.filter ?? {})) params.set(k, String(v));
  const path = `/events${params.size ? `?${params}` : ''}`;
  const t = parseAgentUrl(opts.url, `watch: url ${JSON.stringify(opts.url)}`);
  t.token = opts.tokenFile !== undefined ? readTokenFile(opts.tokenFile, 'watch: tokenFile') : opts.token;
  const d = DEFAULTS.client;
  const highWater = opts.highWater ?? d.high_water;
  // Ours, so that leaving the loop early closes the connection even without the caller's signal.
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  opts.signal?.addEventListener('abort', onAbort);
  if (opts.signal?.aborted) abort.abort();
  const queue: WatchEvent[] = [];
  let wake: (() => void) | undefined;
  let stream: string | undefined;
  // Every event before this seq was received, filtered out, or reported missed.
  let position = 0;
  const retryMs = opts.retryMs ?? d.retry_s * 1000;
  let delay = retryMs;

  try {
    while (!abort.signal.aborted) {
      let done = false;
      let failure: Error | undefined;
      const conn = connect(
        t,
        path,
        (o) => {
          o.source = t.label;
          const seq = (o as { seq?: number }).seq;
          if (o.type === ('heartbeat' as string)) {
            // Sent with the queue flushed: everything before its seq has been accounted for.
            if (typeof seq === 'number') position = Math.max(position, seq);
            return;
          }
          if (o.type === 'hello') {
            const h = o;
            h.restarted = stream !== undefined && h.stream !== stream;
            h.skipped = stream !== undefined && !h.restarted ? Math.max(0, h.seq - position) : 0;
            stream = h.stream;
            position = h.seq;
            delay = retryMs;
          } else if (typeof seq === 'number') {
            position = Math.max(position, seq + 1);
          }
          queue.push(o);
          if (queue.length >= highWater) conn.pause();
          wake?.();
        },
        abort.signal,
      );
      void conn.ended.then(
        (why) => {
          done = true;
          // Stopped on purpose (the caller's signal): no news to give.
          if (!abort.signal.aborted) queue.push({ type: 'disconnected', time: new Date().toISOString(), source: t.label, error: why });
          wake?.();
        },
        (err: unknown) => {
          done = true;
          failure = err instanceof Error ? err : new Error(String(err));
          wake?.();
        },
      );
      for (;;) {
        while (queue.length) {
          yield queue.shift()!;
          if (queue.length === 0) conn.resume();
        }
        if (failure) throw failure;
        if (done) break;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
      if (opts.reconnect === false || abort.signal.aborted) return;
      await new Promise<void>((r) => {
        const timer = setTimeout(r, delay);
        abort.signal.addEventListener('abort', () => (clearTimeout(timer), r()), { once: true });
      });
      delay = Math.min(delay * 2, d.retry_max_s * 1000);
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    abort.abort();
  }
}
