/**
 * GET /events: the live stream, newline-delimited JSON (or Server-Sent Events for browsers), with
 * tail's filters as query parameters. Each subscriber has its own bounded queue in the bus: a
 * reader that stops reading only loses its own oldest events, and is told how many
 * (`{"type":"missed","count":N}`) when it reads again.
 */
import type http from 'node:http';
import { UsageError } from '../errors.js';
import { isoMicros } from '../events/clock.js';
import { eventJson, type EventBus, type StreamEvent } from '../stream/bus.js';
import { streamAccept } from '../stream/accept.js';
import { parseStreamQuery } from '../stream/query.js';

export interface EventsDeps {
  bus: EventBus;
  node: string;
  /** Identifies this run of the agent: a reader seeing a new one knows the agent restarted. */
  streamId: string;
  descendants(pid: number): Set<number>;
  /** Streams served at once (api.max_subscribers); read per request, so a reload applies. */
  maxSubscribers(): number;
  heartbeatMs?: number;
}

export function serveEvents(req: http.IncomingMessage, res: http.ServerResponse, query: URLSearchParams, deps: EventsDeps): void {
  const max = deps.maxSubscribers();
  if (deps.bus.subscribers >= max) {
    res.writeHead(503, { 'Content-Type': 'text/plain', 'Retry-After': '10' });
    res.end(`too many /events subscribers (api.max_subscribers is ${max}); try again later\n`);
    return;
  }
  let q;
  try {
    q = parseStreamQuery(query, req.headers.accept);
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
  const eventLine = (e: StreamEvent) => (sse ? `data: ${eventJson(e, q.ancestors)}\n\n` : eventJson(e, q.ancestors) + '\n');
  const now = () => isoMicros(Date.now() * 1e6);

  let waitingDrain = false;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (waitingDrain || res.destroyed) return;
    const { events, missed } = sub.take();
    let text = missed ? line({ type: 'missed', time: now(), node: deps.node, count: missed }) : '';
    for (const e of events) text += eventLine(e);
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
  // The bus's limits (api.subscriber_queue, api.subscriber_queue_bytes), followed when a reload changes them.
  // Subscribing may widen what the kernel records (src/agent/interest.ts): the process table is
  // complete only once it returns, so --tree's descendants are read after it, and hello's seq
  // follows what the widening's resync published before this reader's first event.
  let accept: (e: StreamEvent) => boolean = () => false;
  const sub = deps.bus.subscribe((e) => accept(e), schedule, undefined, { threads: q.filter.threads === true, ancestors: q.ancestors });
  accept = streamAccept(q, q.filter.pid !== undefined && q.filter.tree ? deps.descendants(q.filter.pid) : undefined);
  res.write(line({ type: 'hello', time: now(), node: deps.node, stream: deps.streamId, seq: deps.bus.nextSeq }));
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
