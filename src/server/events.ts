/**
 * GET /events: the live stream, newline-delimited JSON (or Server-Sent Events for browsers), with
 * tail's filters as query parameters. Each subscriber has its own bounded queue in the bus: a
 * reader that stops reading only loses its own oldest events, and is told how many
 * (`{"type":"missed","count":N}`) when it reads again.
 */
import type http from 'node:http';
import { UsageError } from '../errors.js';
import { isoMicros } from '../events/clock.js';
import type { EventBus, StreamEvent } from '../stream/bus.js';
import { streamAccept } from '../stream/accept.js';
import { parseStreamQuery } from '../stream/query.js';

export interface EventsDeps {
  bus: EventBus;
  node: string;
  /** Identifies this run of the agent: a reader seeing a new one knows the agent restarted. */
  streamId: string;
  descendants(pid: number): Set<number>;
  /** Events a subscriber may queue before the oldest are dropped. */
  queueLimit?: number;
  heartbeatMs?: number;
}

/**
 * Each event serialized once, however many subscribers take it (events are not changed after
 * publish; the cache goes with the event).
 */
const serialized = new WeakMap<object, string>();
function json(e: object): string {
  let s = serialized.get(e);
  if (s === undefined) serialized.set(e, (s = JSON.stringify(e)));
  return s;
}

export function serveEvents(req: http.IncomingMessage, res: http.ServerResponse, url: URL, deps: EventsDeps): void {
  let q;
  try {
    q = parseStreamQuery(url.searchParams, req.headers.accept);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    res.writeHead(400, { 'Content-Type': 'text/plain' });
    res.end(err.message + '\n');
    return;
  }
  const sse = q.sse;
  res.writeHead(200, {
    'Content-Type': sse ? 'text/event-stream' : 'application/x-ndjson',
    'Cache-Control': 'no-cache',
    'X-Accel-Buffering': 'no',
  });
  const line = (o: object) => (sse ? `data: ${JSON.stringify(o)}\n\n` : JSON.stringify(o) + '\n');
  const eventLine = (e: object) => (sse ? `data: ${json(e)}\n\n` : json(e) + '\n');
  const now = () => isoMicros(Date.now() * 1e6);
  res.write(line({ type: 'hello', time: now(), node: deps.node, stream: deps.streamId, seq: deps.bus.nextSeq }));

  let waitingDrain = false;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (waitingDrain || res.destroyed) return;
    const { events, missed } = sub.take();
    let text = missed ? line({ type: 'missed', time: now(), node: deps.node, count: missed }) : '';
    for (const e of events) text += eventLine(e as StreamEvent & object);
    if (text && !res.write(text)) {
      // The socket is full: stop taking from the queue (it drops its oldest) until it drains.
      waitingDrain = true;
      res.once('drain', () => {
        waitingDrain = false;
        schedule();
      });
    }
  };
  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  const accept = streamAccept(q, q.filter.pid !== undefined && q.filter.tree ? deps.descendants(q.filter.pid) : undefined);
  const sub = deps.bus.subscribe(accept, schedule, deps.queueLimit ?? 10_000);
  // A heartbeat goes out with the queue flushed, so its seq tells a reader that every earlier event
  // reached it, was filtered out or was reported missed (what a reconnecting reader counts from).
  const heartbeat = setInterval(() => {
    flush();
    if (!waitingDrain && !res.destroyed) res.write(sse ? ': heartbeat\n\n' : line({ type: 'heartbeat', time: now(), node: deps.node, seq: deps.bus.nextSeq }));
  }, deps.heartbeatMs ?? 15_000);
  const end = () => {
    clearInterval(heartbeat);
    sub.close();
  };
  req.on('close', end);
  res.on('error', end);
}
