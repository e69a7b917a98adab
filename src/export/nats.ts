/**
 * The NATS JetStream exporter: each event to `<prefix>.<node>.<type>` in the configured stream,
 * with the message id `<stream id>-<seq>` so that JetStream stores an event sent twice (a retry
 * after a lost ack) once. While no server answers, events wait in a bounded buffer (given = sent
 * + dropped + queued, exactly); the client reconnects forever, moving between the cluster's
 * servers.
 *
 * Publishes are pipelined: up to `batch` are out at once, each with a reply subject of its own
 * under one inbox, acks matched as they come (no request, timer or promise per event). A publish
 * that fails (an error ack, no stream for the subject, no ack within the timeout, the connection
 * lost) is sent again with its message id, after a pause, in the agent's order and before anything
 * new; JetStream keeps one copy. So every event is stored once, but around a failure the stream's
 * own order is not the agent's: later events may be stored before a retried earlier one. Server
 * 2.9 (Debian's) has no conditional publish that could prevent that with several out (its
 * expected-last checks are per stream or per exact subject, and an agent's events span subjects
 * and share the stream), so readers put it back: each message carries the seq of the event this
 * exporter sent just before it (header `Forkwatch-Prev`, 0 for its first), fixed when it is first
 * sent. The buffer's bound drops only events never sent, which are in no chain. An event the
 * stream refuses for good (too large for its max_msg_size, its subject full with discard new per
 * subject, a sealed stream: permanentError) cannot be retried and stored; it is dropped, and a
 * stand-in goes in its place: the same message id and Forkwatch-Prev, a `Forkwatch-Dropped`
 * header and no body. Its successor may be out already naming it (its headers are fixed at its
 * first send, and a copy of it may be stored), so the chain cannot be relinked around it; the
 * stand-in fills the hole instead, and a reader passes it at once rather than waiting its gap wait
 * (seconds, for every such drop, and behind it every later event of the agent). Only when the
 * stand-in is refused too (a subject full with discard new takes nothing more) is there a hole,
 * which readers skip after that wait. `forkwatch tail --from nats://` follows the chain
 * (src/tail/chain.ts).
 */
import { connect, createInbox, type Authenticator, type Msg as NatsMsg, type NatsConnection, type TlsOptions } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsExportConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { Ring } from '../stream/ring.js';
import { eventJson, type StreamEvent } from '../stream/bus.js';
import type { ExportCounts, Exporter } from './exporter.js';
import { ExportHeaders, msgId, permanentError, PREV_HEADER, subjectToken } from './nats-wire.js';

export interface NatsExporterOptions extends Omit<NatsExportConfig, 'filter' | 'tls'> {
  node: string;
  /** This run of the agent (the /events hello's `stream`): with seq, the message id. */
  streamId: string;
  log: Pick<Logger, 'info' | 'warn'>;
  /** How long stop() may spend sending what waits (ms). */
  stopTimeoutMs?: number;
  /** Exits keep their ancestors (the filter's `ancestors`); without it they are left out, as /events does. */
  ancestors?: boolean;
  /** How long a publish may wait for its ack before it is sent again (ms). */
  ackTimeoutMs?: number;
  /** Who the agent is to the servers (export/nats-auth.ts, from the auth keys' files). */
  authenticator?: Authenticator;
  /** TLS required, with these CA and client certificate (export/nats-tls.ts, from export.nats.tls's files). */
  tls?: TlsOptions;
}

/** An event that has been sent at least once: it stays until acked (or the exporter stops). */
interface Sent {
  seq: number;
  subject: string;
  data: Uint8Array;
  hdrs: ExportHeaders;
  /** The reply token of the attempt out now (0: none out). */
  token: number;
  /** When the attempt out now is given up (ms). */
  deadline: number;
  /** The stand-in of a dropped event: not counted queued, dropped without one of its own. */
  stand?: boolean;
}

const COUNTED = ' (forkwatch_export_events_total{exporter="nats",outcome="dropped"})';
const ACK_TIMEOUT_MS = 5000;
const RETRY_MS = 250;
const RETRY_MAX_MS = 2000;

export class NatsExporter implements Exporter {
  readonly name = 'nats';
  private nc: NatsConnection | undefined;
  private inboxPrefix = '';
  /** Connected, and the stream is there. */
  private ready = false;
  private stopping = false;
  /** Given and never sent: the only events the buffer's bound may drop. */
  private readonly unsent = new Ring<StreamEvent>();
  /** Out now, by reply token, in the order sent (so the oldest deadline is first). */
  private readonly out = new Map<number, Sent>();
  /** Failed, waiting to be sent again: in seq order. */
  private again: Sent[] = [];
  /** The seq of the last event sent for the first time: the next one's Forkwatch-Prev. */
  private lastSeq = 0;
  private nextToken = 1;
  /** Publishes out (and failed ones waiting) at most. */
  private readonly window: number;
  private readonly ackTimeoutMs: number;
  /**
   * After a failure nothing is sent until the resume timer fires. A flag the timer clears, not a
   * time compared with Date.now(): a timer may fire a millisecond before the wall clock reaches the
   * time it was set for, and a pump that then found itself still paused would arm nothing, so the
   * retries would wait for the next event forever.
   */
  private paused = false;
  private backoff = RETRY_MS;
  private resumeTimer: NodeJS.Timeout | undefined;
  private ackTimer: NodeJS.Timeout | undefined;
  /** A failure was logged since the last ack. */
  private failing = false;
  private scheduled = false;
  private sent = 0;
  private dropped = 0;
  /** Stand-ins out or waiting (in `out` and `again`, not events: not queued). */
  private stands = 0;
  /** The kinds of trouble logged already (refusals, server errors): each is logged once. */
  private readonly logged = new Set<string>();
  private readonly prefix: string;
  private readonly dec = new TextDecoder();
  private wake: (() => void) | undefined;

  constructor(private readonly o: NatsExporterOptions) {
    this.prefix = `${o.subject_prefix}.${subjectToken(o.node)}.`;
    this.window = Math.max(1, Math.min(o.batch, o.buffer_events));
    this.ackTimeoutMs = o.ackTimeoutMs ?? ACK_TIMEOUT_MS;
  }

  start(): Promise<void> {
    void this.run();
    return Promise.resolve();
  }

  publish(e: StreamEvent): void {
    this.unsent.push(e);
    if (this.queued() > this.o.buffer_events) this.trim();
    this.schedule();
  }

  counts(): ExportCounts {
    return { sent: this.sent, dropped: this.dropped, queued: this.queued() };
  }

  private queued(): number {
    return this.unsent.length + this.again.length + this.out.size - this.stands;
  }

  async stop(): Promise<void> {
    const deadline = Date.now() + (this.o.stopTimeoutMs ?? 2000);
    // What waits goes out while the servers answer, within the bounded time.
    while (this.ready && this.counts().queued > 0 && Date.now() < deadline) {
      this.pump();
      await new Promise((r) => setTimeout(r, 20));
    }
    this.stopping = true;
    this.wake?.();
    clearTimeout(this.resumeTimer);
    clearInterval(this.ackTimer);
    // Unacked ones may have been stored; they are counted dropped: the exporter gave up on them.
    this.dropped += this.counts().queued;
    this.unsent.drain();
    this.again = [];
    this.out.clear();
    this.stands = 0;
    await this.nc?.close().catch(() => undefined);
  }

  /** Waits `ms`, or until woken (stop). */
  private async pause(ms: number): Promise<void> {
    await new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    });
    this.wake = undefined;
  }

  /** The oldest never sent go past the bound (what was sent stays: the window is within it). */
  private trim(): void {
    while (this.unsent.length > 0 && this.queued() > this.o.buffer_events) {
      this.unsent.shift();
      this.dropped++;
    }
  }

  private schedule(): void {
    if (this.scheduled || !this.ready) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Connects (forever), makes sure the stream is there, and follows the connection's state. */
  private async run(): Promise<void> {
    const o = this.o;
    // The first connection is tried here, not by the client's waitOnFirstConnect, which cannot be
    // called off: an agent stopped before any server answered must not wait for one.
    let warned = false;
    for (let wait = RETRY_MS; !this.nc; wait = Math.min(wait * 2, RETRY_MAX_MS)) {
      if (this.stopping) return;
      try {
        this.nc = await connect({
          servers: o.servers,
          name: `forkwatch ${o.node}`,
          authenticator: o.authenticator,
          ...(o.tls ? { tls: o.tls } : {}),
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          timeout: ACK_TIMEOUT_MS,
          // A server killed without closing the socket is noticed in seconds, not minutes.
          pingInterval: 2000,
          maxPingOut: 2,
        });
      } catch (err) {
        if (!warned)
          o.log.warn(
            `export.nats: cannot connect to ${o.servers.join(', ')}: ${(err as Error).message}; events wait (up to ${o.buffer_events}) while it tries again`,
          );
        warned = true;
        await this.pause(wait);
      }
    }
    if (this.stopping) {
      await this.nc.close();
      return;
    }
    const nc = this.nc;
    o.log.info(`export.nats: connected to ${nc.getServer()}`);
    // One subscription takes every ack: the reply subject's last token says which publish it answers.
    this.inboxPrefix = createInbox() + '.';
    nc.subscribe(this.inboxPrefix + '*', { callback: (_err, m) => this.answered(m) });
    await this.ensureStream();
    if (this.stopping) return;
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.ready = false;
          o.log.warn(`export.nats: lost ${s.server}; events wait (up to ${o.buffer_events}) while it reconnects`);
          // Their acks may never come: they go again, once connected, after the usual pause.
          for (const m of [...this.out.values()]) this.failed(m, 'connection lost');
        } else if (s.type === 'reconnect') {
          o.log.info(`export.nats: reconnected to ${s.server}`);
          this.ready = true;
          this.schedule();
        } else if (s.type === 'error') {
          // A permissions violation (an account that may not publish the subjects) says why no ack
          // comes; each kind once, the retries would repeat it for every event.
          this.logOnce(`server ${s.error.message}`, `the server says: ${s.error.message}`);
        }
      }
    })();
    this.ackTimer = setInterval(() => this.expire(), Math.min(250, this.ackTimeoutMs));
    this.ready = true;
    this.schedule();
  }

  /** The stream, made when it is not there (and create_stream); retried until the cluster answers. */
  private async ensureStream(): Promise<void> {
    const o = this.o;
    let warned = false;
    for (let wait = RETRY_MS; !this.stopping; wait = Math.min(wait * 2, RETRY_MAX_MS)) {
      try {
        const jsm = await jetstreamManager(this.nc!, { timeout: ACK_TIMEOUT_MS });
        try {
          await jsm.streams.info(o.stream);
          return;
        } catch (err) {
          if (!/stream not found/i.test((err as Error).message) || !o.create_stream) throw err;
        }
        await jsm.streams.add({
          name: o.stream,
          subjects: [`${o.subject_prefix}.>`],
          num_replicas: o.replicas,
          max_age: Math.round(o.max_age_s * 1e9),
          duplicate_window: 120e9,
        });
        o.log.info(`export.nats: created stream ${o.stream} (${o.replicas} replicas)`);
        return;
      } catch (err) {
        if (!warned) o.log.warn(`export.nats: stream ${o.stream}: ${(err as Error).message}; trying again`);
        warned = true;
        await this.pause(wait);
      }
    }
  }

  /**
   * Fills the window while connected and not pausing after a failure: the failed ones first, in
   * seq order, then the oldest never sent. Not before half of it is free: fewer, larger writes
   * (every path that frees the window calls it again: an ack, a failure's pause, a reconnect).
   */
  private pump(): void {
    if (!this.ready || this.stopping || this.out.size > this.window / 2) return;
    while (this.out.size < this.window && !this.paused) {
      const m = this.again.shift();
      if (m) {
        const refusal = this.send(m);
        if (refusal !== undefined) this.giveUp(m, refusal, 'client');
        continue;
      }
      const e = this.unsent.shift();
      if (!e) return;
      this.first(e);
    }
  }

  /** An event's first send: its subject, JSON and headers, made once for every attempt. */
  private first(e: StreamEvent): void {
    const seq = e.seq ?? 0;
    const hdrs = new ExportHeaders(msgId(this.o.streamId, seq), this.lastSeq);
    // Bytes made here, once: Buffer.from is faster than the client's TextEncoder on a short string.
    const data = Buffer.from(eventJson(e, this.o.ancestors === true));
    // Sent (or waiting to go again), it is in the chain; refused, it never left and is not.
    const m: Sent = { seq, subject: this.prefix + e.type, data, hdrs, token: 0, deadline: 0 };
    const refusal = this.send(m);
    if (refusal === undefined) this.lastSeq = seq;
    else {
      this.dropped++;
      this.refused('client', `event ${seq} on ${m.subject} was refused by the client (${refusal}): dropped${COUNTED}`);
    }
  }

  /**
   * Publishes one attempt under a new reply token. The client's refusal of the event itself
   * (larger than the server's max_payload), for the caller to drop it; undefined when it is out
   * (or waits to go again).
   */
  private send(m: Sent): string | undefined {
    const token = this.nextToken++;
    try {
      this.nc!.publish(m.subject, m.data, { reply: this.inboxPrefix + token, headers: m.hdrs });
    } catch (err) {
      if (!this.nc!.isClosed() && !this.nc!.isDraining()) {
        return (err as Error).message;
      }
      this.requeue(m, (err as Error).message);
      return undefined;
    }
    m.token = token;
    m.deadline = Date.now() + this.ackTimeoutMs;
    this.out.set(token, m);
    return undefined;
  }

  /** A reply to one of our publishes: a JetStream ack, an error, or no responders. */
  private answered(r: NatsMsg): void {
    const m = this.out.get(Number(r.subject.slice(this.inboxPrefix.length)));
    if (!m) return; // an attempt given up already (or stop)
    let error: string | undefined;
    let code: number | undefined;
    if (r.data.length === 0) error = r.headers?.description || `status ${r.headers?.code ?? 'empty'}`;
    else {
      try {
        const a = JSON.parse(this.dec.decode(r.data)) as { error?: { description?: unknown; err_code?: unknown }; stream?: string };
        if (a.error || typeof a.stream !== 'string') {
          error = typeof a.error?.description === 'string' ? a.error.description : 'not an ack';
          code = typeof a.error?.err_code === 'number' ? a.error.err_code : undefined;
        }
      } catch {
        error = 'not an ack';
      }
    }
    if (error !== undefined && permanentError(code, error)) {
      this.out.delete(m.token);
      m.token = 0;
      this.giveUp(m, error, String(code));
      this.schedule();
      return;
    }
    if (error !== undefined) {
      this.failed(m, error);
      return;
    }
    this.out.delete(m.token);
    if (m.stand) this.stands--;
    else this.sent++;
    this.backoff = RETRY_MS;
    this.failing = false;
    // The acks of one read come one by one: the window is refilled once they are all in, in one
    // write, not one write per ack.
    this.schedule();
  }

  /** Acks not back in time: those attempts failed. */
  private expire(): void {
    const now = Date.now();
    for (const m of this.out.values()) {
      if (m.deadline > now) return; // the rest were sent later
      this.failed(m, 'no ack in time');
    }
  }

  /** The attempt out failed. */
  private failed(m: Sent, why: string): void {
    this.out.delete(m.token);
    m.token = 0;
    this.requeue(m, why);
  }

  /**
   * An event sent and then refused for good (`code`: the JetStream error code, or `client` with
   * the client's refusal as `why`): it
   * is dropped, and its stand-in (the same id and predecessor, no body) goes in its place, in seq
   * order before anything new and without a pause (the servers answer), so that its successor,
   * which may be out already naming it, has its predecessor in the stream and readers need not
   * wait for it. A stand-in refused too is dropped with nothing in its place: a hole readers skip
   * after their gap wait.
   */
  private giveUp(m: Sent, why: string, code: string): void {
    const reason = code === 'client' ? `refused by the client: ${why}` : `${why}, err_code ${code}`;
    if (m.stand) {
      this.stands--;
      this.refused(
        `stand-in ${code}`,
        `the stand-in of dropped event ${m.seq} on ${m.subject} was refused too (${reason}): readers skip that hole after their gap wait`,
      );
      return;
    }
    this.dropped++;
    this.refused(
      code,
      `event ${m.seq} on ${m.subject} can never be stored in stream ${this.o.stream} (${reason}): dropped${COUNTED}, a stand-in in its place keeps the Forkwatch-Prev chain whole`,
    );
    const hdrs = new ExportHeaders(msgId(this.o.streamId, m.seq), Number(m.hdrs.get(PREV_HEADER)), code);
    this.stands++;
    this.insert({ seq: m.seq, subject: m.subject, data: new Uint8Array(0), hdrs, token: 0, deadline: 0, stand: true });
  }

  /** Logs one line for the first refusal of each kind; later ones are only counted. */
  private refused(kind: string, line: string): void {
    this.logOnce(kind, `${line}; later ones like it are counted, not logged`);
  }

  /** One line for the first trouble of each kind (at most 64 kinds: servers' texts are theirs). */
  private logOnce(kind: string, line: string): void {
    if (this.logged.has(kind) || this.logged.size >= 64) return;
    this.logged.add(kind);
    this.o.log.warn(`export.nats: ${line}`);
  }

  /** In seq order among those waiting to go again. */
  private insert(m: Sent): void {
    let at = this.again.length;
    while (at > 0 && this.again[at - 1].seq > m.seq) at--;
    this.again.splice(at, 0, m);
  }

  /** The event waits (in seq order, before anything new) for the pause after a failure. */
  private requeue(m: Sent, why: string): void {
    this.insert(m);
    if (!this.failing) {
      this.failing = true;
      this.o.log.warn(`export.nats: a publish to ${m.subject} failed (${why}); it and what fails with it go again, in order, with their ids`);
    }
    if (this.paused) return; // one pause for what fails together
    this.paused = true;
    this.resumeTimer = setTimeout(() => {
      this.paused = false;
      this.pump();
    }, this.backoff);
    this.backoff = Math.min(this.backoff * 2, RETRY_MAX_MS);
  }
}
