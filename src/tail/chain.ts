/**
 * Puts each agent's events back in the order it exported them, from a stream that may hold them
 * out of it (the NATS stream: around a failed publish, later events are stored before the retried
 * earlier one). Every event names its predecessor (export/nats.ts: `Forkwatch-Prev`), so an event
 * goes out at once when it follows the last one shown of its source, and otherwise waits for the
 * events before it: at most `gapWaitUs` since it arrived, after which the gap is skipped (an event
 * lost for good, or expired from the stream, never stalls its source for longer). A source's first
 * event waits `startWaitUs` (its predecessor came before the reader started, or a replay brings it
 * a moment later), unless it is the run's first (predecessor 0). An event older than what was shown
 * (it came after its gap was skipped) goes out at once, late rather than never.
 *
 * Each event leaves with a time key for the merge by time (merge.ts): its own time, or the source's
 * previous key when that is later (records from two CPUs are stamped a few µs out of order), so
 * the merge never undoes the source's order.
 */
import { timeKey, type Timed } from './merge.js';

/** Where an event sits in its source's chain. */
export interface Link {
  /** The exporting agent's run. */
  source: string;
  seq: number;
  /** The seq of the event exported just before it; 0 for the run's first. */
  prev: number;
}

interface Waiting<T> {
  item: T;
  prev: number;
  arrived: number;
}

interface Source {
  /** The seq of the last event shown; undefined before the first. */
  last: number | undefined;
  /** The last time key given out. */
  key: number;
  /** By seq, in arrival order (so the first waited longest). */
  held: Map<number, Waiting<unknown>>;
  /** seq by prev, for the held events. */
  next: Map<number, number>;
}

/** Sources with nothing held are forgotten past this many (the oldest first). */
const MAX_SOURCES = 10_000;

export class ChainOrder<T extends Timed> {
  private readonly sources = new Map<string, Source>();
  private heldCount = 0;

  constructor(
    private readonly emit: (item: T, key: number) => void,
    private readonly startWaitUs: number,
    private readonly gapWaitUs: number,
    private readonly nowUs: () => number = () => Date.now() * 1000,
  ) {}

  /** An event; without a link (not from a forkwatch exporter) it goes out at once, by its time. */
  push(item: T, link?: Link): void {
    if (!link) {
      this.emit(item, timeKey(item.time));
      return;
    }
    const s = this.source(link.source);
    if (s.last === undefined ? link.prev === 0 : link.prev === s.last) {
      this.show(s, link.seq, item);
      this.follow(s);
    } else if ((s.last !== undefined && link.seq <= s.last) || s.held.has(link.seq)) {
      this.out(s, item); // late, or a second copy: shown, not held
    } else {
      const now = this.nowUs();
      s.held.set(link.seq, { item, prev: link.prev, arrived: now });
      s.next.set(link.prev, link.seq);
      this.heldCount++;
      this.expire(s, now); // a wait of 0
    }
  }

  /** Call from a timer: skips the gaps that were waited for long enough. */
  flush(): void {
    if (this.heldCount === 0) return;
    const now = this.nowUs();
    for (const s of this.sources.values()) this.expire(s, now);
  }

  /** Lets out everything held, each source in its order (the end of the session). */
  drain(): void {
    for (const s of this.sources.values()) {
      for (const seq of [...s.held.keys()].sort((a, b) => a - b)) this.release(s, seq);
    }
  }

  /** Events waiting for an earlier one. */
  get pending(): number {
    return this.heldCount;
  }

  private source(name: string): Source {
    let s = this.sources.get(name);
    if (s) {
      // Most recently used last, so the oldest idle ones are forgotten first.
      this.sources.delete(name);
      this.sources.set(name, s);
      return s;
    }
    if (this.sources.size >= MAX_SOURCES) {
      for (const [k, o] of this.sources) {
        if (this.sources.size < MAX_SOURCES) break;
        if (o.held.size === 0) this.sources.delete(k);
      }
    }
    this.sources.set(name, (s = { last: undefined, key: -Infinity, held: new Map(), next: new Map() }));
    return s;
  }

  /** While the event held longest has waited enough: the earliest held goes out, and what follows it. */
  private expire(s: Source, now: number): void {
    for (;;) {
      const oldest = s.held.values().next().value;
      if (!oldest || now - oldest.arrived < (s.last === undefined ? this.startWaitUs : this.gapWaitUs)) return;
      let seq = Infinity;
      for (const k of s.held.keys()) if (k < seq) seq = k;
      this.release(s, seq);
      this.follow(s);
    }
  }

  /** Shows the held events that follow the last one shown. */
  private follow(s: Source): void {
    for (let seq = s.next.get(s.last!); seq !== undefined; seq = s.next.get(s.last!)) this.release(s, seq);
  }

  private release(s: Source, seq: number): void {
    const w = s.held.get(seq)!;
    s.held.delete(seq);
    if (s.next.get(w.prev) === seq) s.next.delete(w.prev);
    this.heldCount--;
    this.show(s, seq, w.item as T);
  }

  private show(s: Source, seq: number, item: T): void {
    s.last = seq;
    this.out(s, item);
  }

  private out(s: Source, item: T): void {
    s.key = Math.max(s.key, timeKey(item.time));
    this.emit(item, s.key);
  }
}
