/**
 * The library API: subscribe to a running agent's event stream from any Node program.
 *
 *   import { watch } from 'forkwatch';
 *   for await (const e of watch({ url: 'unix:/run/forkwatch/api.sock', filter: { events: 'exit', failed: true } })) { … }
 *
 * Reconnects when the agent restarts or the connection drops, and says so in the stream
 * (`disconnected`, then `hello` again; `restarted: true` when it is a new run of the agent).
 */
import http from 'node:http';
import type { ProcessEvent } from '../events/model.js';
import type { AgentEvent } from '../stream/bus.js';

export type { ProcessEvent } from '../events/model.js';
export type { AgentEvent } from '../stream/bus.js';

/** Stream notices: the connection's own news, interleaved with events. */
export type Notice =
  | { type: 'hello'; time: string; node: string; stream: string; seq: number; source: string; restarted: boolean; skipped: number }
  | { type: 'missed'; time: string; node: string; count: number; source: string }
  | { type: 'disconnected'; time: string; source: string; error: string };

export type WatchEvent = (ProcessEvent | AgentEvent | Notice) & { source?: string };

export interface WatchOptions {
  /** http://host:port, or unix:/path/to/api.sock */
  url: string;
  /** Bearer token (needed for TCP). */
  token?: string;
  /** Query parameters: cgroup, comm, pid, tree, events, threads, failed, group. */
  filter?: Record<string, string | number | boolean>;
  /** Keep reconnecting (default true); false ends the iteration at the first disconnect. */
  reconnect?: boolean;
  /** Delay before reconnecting, ms (default 500, doubling to 5 s). */
  retryMs?: number;
  signal?: AbortSignal;
}

function target(url: string, query: string): http.RequestOptions & { label: string } {
  if (url.startsWith('unix:')) return { socketPath: url.slice(5), path: `/events${query}`, label: url };
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port || 80, path: `${u.pathname.replace(/\/$/, '')}/events${query}`, label: url };
}

/** Reads one connection; resolves when it ends. */
function connect(t: ReturnType<typeof target>, token: string | undefined, onLine: (o: WatchEvent) => void, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ ...t, headers: { Accept: 'application/x-ndjson', ...(token ? { Authorization: `Bearer ${token}` } : {}) }, signal }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve(`HTTP ${res.statusCode}: ${body.trim()}`));
        return;
      }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const lineText = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (lineText) onLine(JSON.parse(lineText) as WatchEvent);
        }
      });
      res.on('end', () => resolve('the agent closed the stream'));
      res.on('error', (e) => resolve(e.message));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** Events from a running agent, as an async iterable. */
export async function* watch(opts: WatchOptions): AsyncGenerator<WatchEvent> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(opts.filter ?? {})) params.set(k, String(v));
  const query = params.size ? `?${params}` : '';
  const t = target(opts.url, query);
  const queue: WatchEvent[] = [];
  let wake: (() => void) | undefined;
  let stream: string | undefined;
  let lastSeq = 0;
  let delay = opts.retryMs ?? 500;

  while (!opts.signal?.aborted) {
    let done = false;
    const ended = connect(
      t,
      opts.token,
      (o) => {
        o.source = t.label;
        if (o.type === 'heartbeat' as string) return;
        if (o.type === 'hello') {
          const h = o as Extract<Notice, { type: 'hello' }>;
          h.restarted = stream !== undefined && h.stream !== stream;
          // Events published while we were away (before filtering: not all may have been ours).
          h.skipped = stream !== undefined && !h.restarted ? Math.max(0, h.seq - lastSeq - 1) : 0;
          stream = h.stream;
          delay = opts.retryMs ?? 500;
        }
        if (typeof (o as { seq?: number }).seq === 'number' && o.type !== 'hello') lastSeq = (o as { seq: number }).seq;
        queue.push(o);
        wake?.();
      },
      opts.signal,
    ).then((why) => {
      done = true;
      queue.push({ type: 'disconnected', time: new Date().toISOString(), source: t.label, error: why });
      wake?.();
    });
    for (;;) {
      while (queue.length) yield queue.shift()!;
      if (done) break;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
    await ended;
    if (opts.reconnect === false || opts.signal?.aborted) return;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 5000);
  }
}
