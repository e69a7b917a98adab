/**
 * The NATS JetStream exporter: each event to `<prefix>.<node>.<type>` in the configured stream,
 * with the message id `<stream id>-<seq>` so that JetStream stores an event sent twice (a retry
 * after a lost ack) once. Events are published `batch` at a time and that batch's acks awaited
 * before the next; what failed goes back to the front and is sent again once the client is
 * connected. While no server answers, events wait in a bounded buffer (given = sent + dropped +
 * queued, exactly); the client reconnects forever, moving between the cluster's servers.
 */
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsExportConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { Ring } from '../stream/ring.js';
import { eventJson, type StreamEvent } from '../stream/bus.js';
import type { ExportCounts, Exporter } from './exporter.js';

export interface NatsExporterOptions extends Omit<NatsExportConfig, 'filter'> {
  node: string;
  /** This run of the agent (the /events hello's `stream`): with seq, the message id. */
  streamId: string;
  log: Pick<Logger, 'info' | 'warn'>;
  /** How long stop() may spend sending what waits (ms). */
  stopTimeoutMs?: number;
}

interface Msg {
  subject: string;
  data: Uint8Array;
  id: string;
}

/**
 * A subject token from any string: characters other than letters, digits, `_` and `-` (a node
 * name's dots above all, which would split the token) are written %XX, so two names never meet.
 */
export function subjectToken(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_-]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out || '%00';
}

const ACK_TIMEOUT_MS = 5000;
const RETRY_MS = 250;
const RETRY_MAX_MS = 2000;

export class NatsExporter implements Exporter {
  readonly name = 'nats';
  private nc: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  /** Connected, and the stream is there. */
  private ready = false;
  private stopping = false;
  private readonly waiting = new Ring<Msg>();
  /** Sent and not acked: they go back to the front. */
  private retry: Msg[] = [];
  private inFlight = 0;
  private pumping = false;
  private scheduled = false;
  private sent = 0;
  private dropped = 0;
  private readonly prefix: string;
  private readonly enc = new TextEncoder();
  private wake: (() => void) | undefined;

  constructor(private readonly o: NatsExporterOptions) {
    this.prefix = `${o.subject_prefix}.${subjectToken(o.node)}.`;
  }

  start(): Promise<void> {
    void this.run();
    return Promise.resolve();
  }

  publish(e: StreamEvent): void {
    this.waiting.push({ subject: this.prefix + e.type, data: this.enc.encode(eventJson(e)), id: `${this.o.streamId}-${e.seq}` });
    this.trim();
    this.schedule();
  }

  counts(): ExportCounts {
    return { sent: this.sent, dropped: this.dropped, queued: this.waiting.length + this.retry.length + this.inFlight };
  }

  async stop(): Promise<void> {
    const deadline = Date.now() + (this.o.stopTimeoutMs ?? 2000);
    // What waits goes out while the servers answer, within the bounded time.
    while (this.ready && this.counts().queued > 0 && Date.now() < deadline) {
      this.schedule();
      await new Promise((r) => setTimeout(r, 20));
    }
    this.stopping = true;
    this.wake?.();
    const left = this.waiting.length + this.retry.length;
    this.dropped += left;
    this.waiting.drain();
    this.retry = [];
    await this.nc?.close().catch(() => undefined);
    // Publishes still in flight settle (as failures) once the connection is closed.
    while (this.inFlight > 0 && Date.now() < deadline + ACK_TIMEOUT_MS) await new Promise((r) => setTimeout(r, 10));
    this.dropped += this.retry.length;
    this.retry = [];
  }

  /** Waits `ms`, or until woken (a reconnect, stop). */
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

  /** The oldest go past the bound: the buffer holds what waits, what failed and what is in flight. */
  private trim(): void {
    while (this.waiting.length + this.retry.length + this.inFlight > this.o.buffer_events) {
      if (this.retry.length > 0) this.retry.shift();
      else if (this.waiting.length > 0) this.waiting.shift();
      else return;
      this.dropped++;
    }
  }

  private schedule(): void {
    if (this.scheduled || !this.ready) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.pump();
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
    o.log.info(`export.nats: connected to ${this.nc.getServer()}`);
    this.js = jetstream(this.nc, { timeout: ACK_TIMEOUT_MS });
    await this.ensureStream();
    void (async () => {
      for await (const s of this.nc!.status()) {
        if (s.type === 'disconnect') {
          this.ready = false;
          o.log.warn(`export.nats: lost ${s.server}; events wait (up to ${o.buffer_events}) while it reconnects`);
        } else if (s.type === 'reconnect') {
          o.log.info(`export.nats: reconnected to ${s.server}`);
          this.ready = true;
          this.wake?.();
          this.schedule();
        }
      }
    })();
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
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** Sends batch after batch while connected; a batch with failures waits before the next. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    let backoff = RETRY_MS;
    try {
      while (this.ready && !this.stopping && this.waiting.length + this.retry.length > 0) {
        const batch = this.retry.splice(0, this.o.batch);
        while (batch.length < this.o.batch && this.waiting.length > 0) batch.push(this.waiting.shift()!);
        this.inFlight += batch.length;
        const results = await Promise.allSettled(batch.map((m) => this.js!.publish(m.subject, m.data, { msgID: m.id, timeout: ACK_TIMEOUT_MS })));
        this.inFlight -= batch.length;
        const failed = batch.filter((_, i) => results[i].status === 'rejected');
        this.sent += batch.length - failed.length;
        if (failed.length === 0) {
          backoff = RETRY_MS;
          continue;
        }
        this.retry = failed.concat(this.retry);
        this.trim();
        // A leader election or a server going away: wait a little (or for the reconnect).
        await this.pause(backoff);
        backoff = Math.min(backoff * 2, RETRY_MAX_MS);
      }
    } finally {
      this.pumping = false;
    }
  }
}
