/**
 * The OTLP exporter: each event becomes one log record (otlp-record.ts) through the OpenTelemetry
 * SDK (a LoggerProvider per origin, so that container.id and k8s.pod.uid sit in the resource), and
 * the records go to a collector over HTTP/protobuf with the SDK's OTLPLogExporter.
 *
 * The SDK's BatchLogRecordProcessor is not used: it drops a batch whose export failed and counts
 * its drops nowhere we can read. Our processor holds the records in a bounded queue instead and
 * sends one batch at a time, so every record is accounted for exactly: sent when the collector
 * answered 2xx, dropped when the buffer was full (the oldest waiting record goes), when the
 * collector refused the batch for good (an HTTP status the SDK does not retry, e.g. 400), or when
 * the agent stopped with it still held. A batch that failed otherwise (the collector away, 503s
 * past the SDK's own retries, a timeout) stays and is tried again after a backoff that doubles up
 * to max_backoff, so an outage costs at most the buffer.
 */
import type { LogRecord as ApiLogRecord, Logger as OtelLogger } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, type LogRecordExporter, type LogRecordProcessor, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { OtlpExportConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { StreamEvent } from '../stream/bus.js';
import { Ring } from '../stream/ring.js';
import type { ExportCounts, Exporter } from './exporter.js';
import { eventRecord, OriginCache, type RecordOrigin } from './otlp-record.js';

/** The ExportResult the SDK's exporters call back with (code 0: success). */
interface ExportResult {
  code: number;
  error?: Error;
}

export interface OtlpExporterOptions {
  config: OtlpExportConfig;
  /** The agent's resource: service.name, host.name, ...; each record's origin is added to it. */
  resource: Record<string, string>;
  log: Logger;
  /** Where batches go; the SDK's OTLPLogExporter for config.endpoint unless given. */
  transport?: LogRecordExporter;
  /** How long stop() may still send; config.timeout_s capped at 5 s unless given. */
  stopTimeoutS?: number;
}

/**
 * The agent's own resource attributes: which service, which host (the node name, which a
 * DaemonSet sets to the Kubernetes node's), which run of the agent.
 */
export function agentResource(o: { node: string; streamId: string; kubernetes: boolean }): Record<string, string> {
  const r: Record<string, string> = { 'service.name': 'forkwatch', 'service.instance.id': o.streamId, 'host.name': o.node };
  if (o.kubernetes) r['k8s.node.name'] = o.node;
  return r;
}

const INITIAL_BACKOFF_MS = 1000;
const DROP_WARNING_EVERY_MS = 60_000;
/** Loggers (one LoggerProvider each) kept by origin; cleared past this (pods come and go). */
const MAX_ORIGINS = 1024;

/** The SDK's processor slot: every record the loggers emit is handed to `take`. */
class Collector implements LogRecordProcessor {
  constructor(private readonly take: (r: ReadableLogRecord) => void) {}
  onEmit(r: ReadableLogRecord): void {
    this.take(r);
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** The SDK's OTLPLogExporter for the config: protobuf over HTTP, one request at a time. */
export function otlpTransport(c: OtlpExportConfig): LogRecordExporter {
  return new OTLPLogExporter({
    url: c.endpoint,
    headers: c.headers,
    compression: c.compression === 'gzip' ? ('gzip' as never) : ('none' as never),
    timeoutMillis: Math.round(c.timeout_s * 1000),
    // One batch is out at a time (OtlpExporter); the SDK frees its slot only after our callback
    // returned, so the next batch, sent from that callback, needs a second.
    concurrencyLimit: 2,
  });
}

/** A refusal for good: the collector answered with an HTTP status the SDK does not retry. */
function permanent(err: Error | undefined): boolean {
  return typeof (err as { code?: unknown } | undefined)?.code === 'number';
}

export class OtlpExporter implements Exporter {
  readonly name = 'otlp';
  private readonly c: OtlpExportConfig;
  private readonly transport: LogRecordExporter;
  private readonly collector: Collector;
  private readonly origins = new OriginCache();
  private readonly loggers = new Map<string, OtelLogger>();
  private readonly waiting = new Ring<ReadableLogRecord>();
  /** The batch sent now or waiting for its retry. */
  private batch: ReadableLogRecord[] | undefined;
  /** Settles when the batch's request is answered. */
  private inFlight: Promise<void> | undefined;
  private sent = 0;
  private dropped = 0;
  private backoffMs = 0;
  private failures = 0;
  private droppedInOutage = 0;
  private lastDropWarning = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Bumped when stop() gives up on a batch: a late answer about it changes no count. */
  private generation = 0;

  constructor(private readonly o: OtlpExporterOptions) {
    this.c = o.config;
    this.transport = o.transport ?? otlpTransport(o.config);
    this.collector = new Collector((r) => this.waiting.push(r));
  }

  start(): Promise<void> {
    this.o.log.info(`export.otlp: exporting events as log records to ${this.c.endpoint} (buffer ${this.c.buffer} records, batches of ${this.c.batch_size})`);
    return Promise.resolve();
  }

  publish(event: StreamEvent): void {
    if (this.stopped) {
      this.dropped++;
      return;
    }
    if (this.waiting.length + (this.batch?.length ?? 0) >= this.c.buffer && !this.dropOldest()) {
      this.dropped++; // everything held is in flight: the newest goes
      this.noteDrop();
      return;
    }
    try {
      const r = eventRecord(event, this.origins);
      const rec: ApiLogRecord = {
        eventName: r.eventName,
        timestamp: r.timestamp,
        severityNumber: r.severityNumber,
        severityText: r.severityText,
        body: r.body,
        attributes: r.attributes,
      };
      this.loggerFor(r.origin).emit(rec);
    } catch (err) {
      this.dropped++;
      this.o.log.error(`export.otlp: cannot make a log record of a ${event.type} event: ${(err as Error).message}`);
      return;
    }
    this.schedule();
  }

  counts(): ExportCounts {
    return { sent: this.sent, dropped: this.dropped, queued: this.waiting.length + (this.batch?.length ?? 0) };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const deadline = Date.now() + (this.o.stopTimeoutS ?? Math.min(this.c.timeout_s, 5)) * 1000;
    // What is held goes out while time is left and the collector takes it; one failure ends it.
    let failed = false;
    while (!failed && Date.now() < deadline && (this.batch || this.waiting.length > 0)) {
      if (!this.inFlight) {
        const before = this.failures;
        this.send();
        await this.within(this.inFlight, deadline);
        failed = this.failures > before;
      } else {
        await this.within(this.inFlight, deadline);
      }
    }
    const held = this.waiting.length + (this.batch?.length ?? 0);
    if (held > 0) this.o.log.warn(`export.otlp: stopping with ${held} events not sent (dropped)`);
    this.dropped += held;
    this.waiting.drain();
    this.batch = undefined;
    this.generation++;
    await this.within(this.transport.shutdown(), Date.now() + 1000);
  }

  private async within(p: Promise<unknown> | undefined, deadline: number): Promise<void> {
    if (!p) return;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([p.catch(() => {}), new Promise<void>((resolve) => (t = setTimeout(resolve, Math.max(0, deadline - Date.now()))))]);
    clearTimeout(t);
  }

  /** The logger whose provider's resource is the agent's plus this origin. */
  private loggerFor(origin: RecordOrigin): OtelLogger {
    const key = `${origin['container.id'] ?? ''}|${origin['k8s.pod.uid'] ?? ''}`;
    let l = this.loggers.get(key);
    if (l === undefined) {
      if (this.loggers.size >= MAX_ORIGINS) this.loggers.clear();
      const provider = new LoggerProvider({ resource: resourceFromAttributes({ ...this.o.resource, ...origin }), processors: [this.collector] });
      l = provider.getLogger('forkwatch', this.o.resource['service.version']);
      this.loggers.set(key, l);
    }
    return l;
  }

  /** Makes room by dropping the oldest waiting record; false when none waits (all in flight). */
  private dropOldest(): boolean {
    if (this.waiting.shift() === undefined) return false;
    this.dropped++;
    this.noteDrop();
    return true;
  }

  /** Counts a drop for the recovery line; says so at most once a minute (a storm drops per event). */
  private noteDrop(): void {
    this.droppedInOutage++;
    const now = Date.now();
    if (now - this.lastDropWarning < DROP_WARNING_EVERY_MS) return;
    this.lastDropWarning = now;
    this.o.log.warn(`export.otlp: buffer full (${this.c.buffer} events): dropping the oldest (${this.dropped} dropped so far)`);
  }

  /** A full batch goes now; a partial one after flush_interval; nothing while a batch is out or backing off. */
  private schedule(): void {
    if (this.batch || this.stopped) return;
    if (this.waiting.length >= this.c.batch_size) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.send();
    } else if (this.timer === undefined && this.waiting.length > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (!this.batch) this.send();
      }, this.c.flush_interval_s * 1000);
      this.timer.unref();
    }
  }

  /** Sends the held batch again, or the next one from the queue. */
  private send(): void {
    if (!this.batch) {
      const n = Math.min(this.c.batch_size, this.waiting.length);
      if (n === 0) return;
      const batch: ReadableLogRecord[] = new Array<ReadableLogRecord>(n);
      for (let i = 0; i < n; i++) batch[i] = this.waiting.shift()!;
      this.batch = batch;
    }
    const batch = this.batch;
    const gen = this.generation;
    let settle!: () => void;
    const p = new Promise<void>((resolve) => (settle = resolve));
    this.inFlight = p;
    // The SDK may call back at once (before export returns): inFlight is set before, cleared here.
    const finish = (res: ExportResult) => {
      if (this.inFlight === p) this.inFlight = undefined;
      this.answered(batch, gen, res);
      settle();
    };
    try {
      this.transport.export(batch, finish);
    } catch (err) {
      finish({ code: 1, error: err as Error });
    }
  }

  private answered(batch: ReadableLogRecord[], gen: number, res: ExportResult): void {
    if (gen !== this.generation || batch !== this.batch) return; // stop() already counted it
    if (res.code === 0) {
      this.sent += batch.length;
      this.batch = undefined;
      if (this.failures > 0) {
        this.o.log.info(
          `export.otlp: ${this.c.endpoint} takes events again (after ${this.failures} failed requests; ${this.droppedInOutage} events dropped meanwhile)`,
        );
      }
      this.failures = 0;
      this.droppedInOutage = 0;
      this.backoffMs = 0;
      this.schedule();
      return;
    }
    const why = res.error?.message ?? 'export failed';
    if (permanent(res.error)) {
      // The collector will not take this batch however often it is sent: it goes, counted.
      this.dropped += batch.length;
      this.batch = undefined;
      this.o.log.warn(`export.otlp: ${this.c.endpoint} refused ${batch.length} events (${why}; HTTP ${(res.error as { code?: number }).code}): dropped`);
      this.schedule();
      return;
    }
    this.failures++;
    this.backoffMs = Math.min(this.backoffMs === 0 ? INITIAL_BACKOFF_MS : this.backoffMs * 2, this.c.max_backoff_s * 1000);
    if (this.failures === 1)
      this.o.log.warn(`export.otlp: cannot send to ${this.c.endpoint} (${why}); holding up to ${this.c.buffer} events, trying again with backoff`);
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.send();
    }, this.backoffMs);
    this.timer.unref();
  }
}
