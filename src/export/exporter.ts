/**
 * What every exporter is: a way out of the host for the event stream (NATS JetStream, OTLP, a
 * file). The agent feeds each exporter from the stream's bus (src/stream) through its own
 * subscription, with the filters of /events and the stream's redaction already applied, so an
 * exporter only moves the events it is given. One module per exporter in this folder; they are
 * built and started in src/agent/compose.ts.
 */
import type { StreamEvent } from '../stream/bus.js';

/**
 * What became of the events an exporter was given, counted since it was built. Exact at every
 * moment: `given = sent + dropped + queued`.
 * - `sent`: the engine took them (a JetStream ack, a write returned, an OTLP 2xx).
 * - `dropped`: lost for good: the bounded buffer was full, retries were given up, the engine
 *   refused them, or the exporter stopped with them still queued.
 * - `queued`: held now (buffered, in flight, waiting for a retry).
 * `sent` and `dropped` are forkwatch_export_events_total{exporter,outcome}; `queued` is
 * forkwatch_export_queued_events{exporter}.
 */
export interface ExportCounts {
  sent: number;
  dropped: number;
  queued: number;
}

export interface Exporter {
  /** The `exporter` label: `nats`, `file`, `otlp`. */
  readonly name: string;
  /**
   * Opens what the exporter writes to. Rejects only for what the operator must fix (a file that
   * cannot be created, a bad address); an engine that is away is not an error: events wait in the
   * buffer and the exporter reconnects on its own.
   */
  start(): Promise<void>;
  /**
   * Takes one event: never throws, never waits. It is queued (bounded) or counted as dropped.
   * The event is shared with other readers and must not be changed; `eventJson` (src/stream/bus)
   * gives its /events JSON, made once for all readers (with `ancestors` only for an exporter whose
   * filter asked for them: another reader's asking puts them on the shared event).
   */
  publish(event: StreamEvent): void;
  /** Sends what it can within a bounded time, counts the rest as dropped, then closes. */
  stop(): Promise<void>;
  /** The counts now (read at each scrape). */
  counts(): ExportCounts;
}
