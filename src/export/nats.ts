/**
 * The NATS JetStream exporter: each event to `<prefix>.<node>.<type>` in the configured stream,
 * with the message id `<stream id>-<seq>` so that JetStream stores an event sent twice (a retry
 * after a lost ack) once. While no server answers, events wait in a bounded buffer (given = sent
 * + dropped + queued, exactly); the client reconnects forever, moving between the cluster's
 * servers.
 *
 * One event is published at a time, and the next only once its ack came back. That is what keeps
 * an agent's events in the stream in the agent's order whatever fails: with several publishes
 * out at once, a node lost or a stream leader elected in the middle fails some of them while the
 * later ones are stored, and the earlier ones, sent again, land after them (CI saw it). With one
 * out, a publish that failed (or whose ack was lost) is sent again, same message id, before
 * anything after it: JetStream stores it once, where it belongs. Server 2.9 (Debian's) has no
 * conditional publish that could keep the order with several out (the expected-last checks are
 * per stream or per exact subject, and an agent's events span subjects and share the stream with
 * other agents), so the cost is one round trip to the stream's leader per event
 * (bench/export.mjs measures what that carries).
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
  /** Exits keep their ancestors (the filter's `ancestors`); without it they are left out, as /events does. */
  ancestors?: boolean;
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
  /** The oldest event not acked: sent now, or waiting to be sent again. Nothing after it is sent. */
  private head: Msg | undefined;
  /** The head's publish is out (it cannot be dropped: its ack may still come). */
  private inFlight = false;
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
    this.waiting.push({ subject: this.prefix + e.type, data: this.enc.encode(eventJson(e, this.o.ancestors === true)), id: `${this.o.streamId}-${e.seq}` });
    this.trim();
    this.schedule();
  }

  counts(): ExportCounts {
    return { sent: this.sent, dropped: this.dropped, queued: this.waiting.length + (this.head ? 1 : 0) };
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
    this.dropped += this.waiting.length;
    this.waiting.drain();
    await this.nc?.close().catch(() => undefined);
    // A publish still out settles (as a failure) once the connection is closed.
    while (this.inFlight && Date.now() < deadline + ACK_TIMEOUT_MS) await new Promise((r) => setTimeout(r, 10));
    if (this.head) this.dropped++;
    this.head = undefined;
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

  /** The oldest go past the bound (the head too, unless its publish is out). */
  private trim(): void {
    while (this.waiting.length + (this.head ? 1 : 0) > this.o.buffer_events) {
      if (this.head && !this.inFlight) this.head = undefined;
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

  /**
   * Sends the events in order while connected, one at a time: the head until it is acked (the
   * same message id each time, so a retry of an event that was stored after all is not stored
   * again), then the next.
   */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    let backoff = RETRY_MS;
    try {
      while (this.ready && !this.stopping) {
        this.head ??= this.waiting.shift();
        const m = this.head;
        if (!m) break;
        this.inFlight = true;
        let acked = true;
        try {
          await this.js!.publish(m.subject, m.data, { msgID: m.id, timeout: ACK_TIMEOUT_MS });
        } catch {
          acked = false;
        } finally {
          this.inFlight = false;
        }
        if (this.head !== m) continue; // stop() counted it dropped meanwhile
        if (acked) {
          this.head = undefined;
          this.sent++;
          backoff = RETRY_MS;
          continue;
        }
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
