/**
 * `forkwatch tail --from nats://HOST:PORT`: the whole fleet's events from the JetStream stream the
 * agents export to (config export.nats), filtered as /events filters, each agent's events in the
 * order it exported them (chain.ts: the stream's own order is not that around a failed publish),
 * merged in time order across nodes (within --window of event time: an agent's events land in the
 * stream as they are acked). `--since` replays from a time; `--durable NAME` keeps a consumer on the server that
 * remembers what was shown (acked once printed), so the next run resumes where this one stopped.
 * What comes from the stream is outside input: a message that is not an event is skipped and
 * counted, every value printed inert.
 */
import { connect, type Authenticator, type TlsOptions } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { DEFAULTS } from '../config/default.js';
import { streamAccept } from '../stream/accept.js';
import type { StreamQuery } from '../stream/query.js';
import { inert } from '../terminal.js';
import { DROPPED_HEADER, exportLink, PREV_HEADER } from '../export/nats-wire.js';
import { ChainOrder } from './chain.js';
import { ReorderBuffer, timeKey } from './merge.js';
import { streamEventLine, type Ev } from './remote.js';
import type { TailIO } from './session.js';

export interface NatsTailOptions {
  servers: string[];
  stream: string;
  subjectPrefix: string;
  query: StreamQuery;
  json: boolean;
  durationS?: number;
  count?: number;
  windowS?: number;
  /** Replay from this time; without it (and without a durable that already exists), from now on. */
  since?: Date;
  durable?: string;
  /** Who tail is to the servers (export/nats-auth.ts). */
  authenticator?: Authenticator;
  /** TLS required, with these CA and client certificate (export/nats-tls.ts). */
  tls?: TlsOptions;
}

/**
 * How long an agent's event waits for an earlier one missing from the stream: the exporter sends a
 * failed publish again within its ack timeout (5 s) and pause (at most 2 s) once the cluster
 * answers, and the leader election after a node's loss takes a few seconds more.
 */
const GAP_WAIT_S = 10;

interface Held {
  time: string;
  ev: Ev;
  msg: JsMsg;
}

/** A message's event, or undefined when it is not one (its time must be ours, for the order). */
function parseEvent(data: Uint8Array): Ev | undefined {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const e = v as Record<string, unknown>;
  if (typeof e.type !== 'string' || typeof e.time !== 'string' || !Number.isFinite(timeKey(e.time))) return undefined;
  return e as unknown as Ev;
}

export async function runNatsTail(o: NatsTailOptions, io: TailIO): Promise<number> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: o.servers,
      name: 'forkwatch tail',
      authenticator: o.authenticator,
      ...(o.tls ? { tls: o.tls } : {}),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      timeout: 5000,
    });
  } catch (err) {
    io.err(inert(`forkwatch: cannot connect to ${o.servers.join(', ')}: ${(err as Error).message}`));
    return 1;
  }
  const deliver = o.since ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: o.since.toISOString() } : { deliver_policy: DeliverPolicy.New };
  let messages: ConsumerMessages;
  try {
    const js = jetstream(nc);
    if (o.durable !== undefined) {
      const jsm = await jetstreamManager(nc);
      // A durable that exists resumes where it stopped: its start policy was set when it was made.
      const have = await jsm.consumers.info(o.stream, o.durable).catch(() => undefined);
      if (!have) {
        await jsm.consumers.add(o.stream, { durable_name: o.durable, ack_policy: AckPolicy.Explicit, filter_subject: `${o.subjectPrefix}.>`, ...deliver });
      }
      messages = await (await js.consumers.get(o.stream, o.durable)).consume();
    } else {
      messages = await (await js.consumers.get(o.stream, { filter_subjects: `${o.subjectPrefix}.>`, ...deliver })).consume();
    }
  } catch (err) {
    io.err(inert(`forkwatch: stream ${o.stream}: ${(err as Error).message}`));
    await nc.close();
    return 1;
  }

  const accept = streamAccept(o.query);
  let shown = 0;
  let skipped = 0;
  const held = new Set<JsMsg>();
  const windowUs = Math.round((o.windowS ?? DEFAULTS.tail.window_s) * 1e6);
  const merger = new ReorderBuffer<Held>((h) => {
    held.delete(h.msg);
    if (o.count !== undefined && shown >= o.count) {
      h.msg.nak();
      return;
    }
    io.out(streamEventLine(h.ev, o.json));
    if (o.durable !== undefined) h.msg.ack();
    shown++;
    if (o.count !== undefined && shown >= o.count) void stop(0);
  }, windowUs);
  // The filter comes after the chain: an event it hides still links the ones around it.
  const chain = new ChainOrder<Held>(
    (h, key) => {
      if (accept(h.ev)) return merger.push(h, key);
      held.delete(h.msg);
      if (o.durable !== undefined) h.msg.ack();
    },
    windowUs,
    Math.max(windowUs, GAP_WAIT_S * 1e6),
  );
  const timer = setInterval(() => {
    chain.flush();
    merger.flush();
  }, DEFAULTS.tail.flush_s * 1000);
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let stopped = false;
  const stop = async (code: number) => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    clearTimeout(deadline);
    unsubscribe();
    chain.drain();
    merger.drain();
    // Received and not shown (past --count): the durable gives them to the next run first.
    for (const m of held) m.nak();
    if (skipped) io.err(`forkwatch: skipped ${skipped} messages of stream ${inert(o.stream)} that were not forkwatch events`);
    await messages.close().catch(() => undefined);
    // Acks and naks reach the server before the connection goes.
    await nc.flush().catch(() => undefined);
    await nc.close().catch(() => undefined);
    resolveDone(code);
  };
  const unsubscribe = io.onInterrupt(() => void stop(0));
  const deadline = o.durationS !== undefined ? setTimeout(() => void stop(0), o.durationS * 1000) : undefined;

  void (async () => {
    for await (const m of messages) {
      if (stopped) break;
      const link = exportLink(m.headers?.get('Nats-Msg-Id'), m.headers?.has(PREV_HEADER) ? m.headers.get(PREV_HEADER) : undefined);
      // The stand-in of an event the exporter dropped: it shows nothing, and its successor goes on.
      if (link && m.headers?.has(DROPPED_HEADER)) {
        chain.skip(link);
        if (o.durable !== undefined) m.ack();
        continue;
      }
      const ev = parseEvent(m.data);
      if (!ev) {
        skipped++;
        if (o.durable !== undefined) m.ack();
        continue;
      }
      held.add(m);
      chain.push({ time: ev.time, ev, msg: m }, link);
    }
  })();
  return done;
}
