/**
 * Feeds one exporter from the event stream: a subscription of its own on the bus, filtered by the
 * exporter's `filter` exactly as /events filters (src/stream/query.ts, accept.ts), its events
 * already redacted by the publisher. Events are handed over once per loop turn, so a burst of
 * records is one pass; the bus drops the oldest past its bound and the drops are counted here.
 */
import { UsageError } from '../errors.js';
import type { ExportFilter } from '../config/types.js';
import type { ExportSample } from '../metrics/registry.js';
import type { EventBus, QueueLimits, StreamEvent, Subscription } from '../stream/bus.js';
import { streamAccept } from '../stream/accept.js';
import { parseStreamQuery, type StreamQuery } from '../stream/query.js';
import type { Exporter } from './exporter.js';

/** What the bus may hold for an exporter between two loop turns; the exporter bounds its own buffer. */
const FEED_LIMITS: QueueLimits = { events: 100_000, bytes: 64 * 2 ** 20 };

/** The filter as /events' query; a bad value is a UsageError naming the config key. */
export function exportQuery(filter: ExportFilter, key: string): StreamQuery {
  try {
    return parseStreamQuery(new URLSearchParams(filter));
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`config ${key}.filter: ${err.message}`);
    throw err;
  }
}

export class ExportFeed {
  private readonly sub: Subscription;
  private scheduled = false;
  /** Events the bus dropped before the exporter took them. */
  private missed = 0;

  constructor(
    bus: EventBus,
    readonly exporter: Exporter,
    query: StreamQuery,
    descendants?: (pid: number) => Iterable<number>,
  ) {
    let accept: (e: StreamEvent) => boolean = () => false;
    this.sub = bus.subscribe(
      (e) => accept(e),
      () => this.schedule(),
      FEED_LIMITS,
      { threads: query.filter.threads === true, ancestors: query.ancestors },
    );
    // As /events: the process table is complete once subscribing widened the records.
    const tree = query.filter.pid !== undefined && query.filter.tree && descendants ? descendants(query.filter.pid) : undefined;
    accept = streamAccept(query, tree);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const { events, missed } = this.sub.take();
    this.missed += missed;
    for (const e of events) this.exporter.publish(e);
  }

  /** The exporter's counts with the feed's drops, for the metrics. */
  sample(): ExportSample {
    const c = this.exporter.counts();
    return { exporter: this.exporter.name, sent: c.sent, dropped: c.dropped + this.missed, queued: c.queued };
  }

  /** Hands over what the bus still holds, leaves the bus, then stops the exporter. */
  async stop(): Promise<void> {
    try {
      this.drain();
      this.sub.close();
    } finally {
      await this.exporter.stop();
    }
  }
}
