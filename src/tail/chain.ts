/**
 * Puts each agent's events back in the order it exported them, from a stream that may hold them
 * out of it (the NATS stream: around a failed publish, later events are stored before the retried
 * earlier one). Every event names its predecessor (export/nats.ts: `Forkwatch-Prev`), so an event
 * goes out at once when it follows the last one shown of its source, and otherwise waits for the
 * events before it: at most `gapWaitUs` since it arrived, after which the gap is skipped (an event
 * lost for good, or expired from the stream, never stalls its source for longer). A source's first
 * event waits `startWaitUs` (its predecessor came before the reader started, or a replay brings it
 * a moment later), unless it is the run's first (predecessor 0). An event older than what was shown
 * (it came after its gap was skipped) goes out at once, late rather than never. An event the
 * exporter dropped for good has a stand-in in the stream (skip()): it links its neighbours and
 * shows nothing.
 *
 * The links are outside input (anyone who may publish to the stream can write them), so what is
 * held is bounded: at most `maxHeld` events (past it the gap before the event held longest is
 * skipped) and `MAX_SOURCES` sources (past it the least recently seen one is let out and
 * forgotten), and every step is O(log n) in what is held, so a flood of forged gaps costs memory
 * up to the bound and no more, and never a stall. A forged link can reorder its source's events or
 * make them wait, within those bounds; it cannot make one be lost.
 *
 * Each event leaves with a time key for the merge by time (merge.ts): its own time, or the source's
 * previous key when that is later (records from two CPUs are stamped a few µs out of order), so
 * the merge never undoes the source's order.
 */
import { Ring } from '../stream/ring.js';
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
  /** Undefined for a dropped event's stand-in: it links, it is not shown. */
  item: T | undefined;
  source: Source<T>;
  seq: number;
  prev: number;
  arrived: number;
  /** Let out: its entries in the queues below are skipped when they come up. */
  gone: boolean;
}

interface Source<T> {
  name: string;
  /** The seq of the last event shown; undefined before the first. */
  last: number | undefined;
  /** The last time key given out. */
  key: number;
  /** By seq. */
  held: Map<number, Waiting<T>>;
  /**
   * The held events in arrival order, the first waited longest (with ones let out since, skipped
   * when they come up). Not the Map's order: a Map keeps its deleted entries as holes until it is
   * rehashed, so its first live entry can be tens of thousands of holes in.
   */
  order: Ring<Waiting<T>>;
  /** seq by prev, for the held events. */
  next: Map<number, number>;
  /** The held seqs, smallest on top (with seqs let out by follow() until they come up). */
  low: MinHeap;
}

/** Sources are forgotten past this many, the least recently seen first (what they hold let out). */
const MAX_SOURCES = 10_000;
/** Events held at most, by default, across sources. */
const MAX_HELD = 100_000;

export class ChainOrder<T extends Timed> {
  /** Least recently seen first. */
  private readonly sources = new Map<string, Source<T>>();
  /** The sources holding something (the only ones flush() visits). */
  private readonly holding = new Set<Source<T>>();
  /** Every held event in arrival order (with ones let out since, skipped when they come up). */
  private readonly arrivals = new Ring<Waiting<T>>();
  private heldCount = 0;

  constructor(
    private readonly emit: (item: T, key: number) => void,
    private readonly startWaitUs: number,
    private readonly gapWaitUs: number,
    private readonly nowUs: () => number = () => Date.now() * 1000,
    private readonly maxHeld = MAX_HELD,
  ) {}

  /** An event; without a link (not from a forkwatch exporter) it goes out at once, by its time. */
  push(item: T, link?: Link): void {
    if (link && valid(link)) this.place(item, link);
    else this.emit(item, timeKey(item.time));
  }

  /** A link without an event (the stand-in of one the exporter dropped): its successor need not wait for it. */
  skip(link: Link): void {
    if (valid(link)) this.place(undefined, link);
  }

  /** Call from a timer: skips the gaps that were waited for long enough. */
  flush(): void {
    if (this.heldCount === 0) return;
    const now = this.nowUs();
    for (const s of this.holding) this.expire(s, now);
  }

  /** Lets out everything held, each source in its order (the end of the session). */
  drain(): void {
    for (const s of [...this.holding]) this.release(s);
  }

  /** Events waiting for an earlier one. */
  get pending(): number {
    return this.heldCount;
  }

  /** Sources remembered. */
  get sourceCount(): number {
    return this.sources.size;
  }

  private place(item: T | undefined, link: Link): void {
    const s = this.source(link.source);
    if (s.last === undefined ? link.prev === 0 : link.prev === s.last) {
      this.show(s, link.seq, item);
      this.follow(s);
    } else if ((s.last !== undefined && link.seq <= s.last) || s.held.has(link.seq)) {
      this.out(s, item); // late, or a second copy: shown, not held
    } else {
      const now = this.nowUs();
      const w: Waiting<T> = { item, source: s, seq: link.seq, prev: link.prev, arrived: now, gone: false };
      s.held.set(link.seq, w);
      s.next.set(link.prev, link.seq);
      s.low.push(link.seq);
      s.order.push(w);
      this.arrivals.push(w);
      this.holding.add(s);
      this.heldCount++;
      this.expire(s, now); // a wait of 0
      if (this.heldCount > this.maxHeld) this.overflow();
    }
  }

  private source(name: string): Source<T> {
    let s = this.sources.get(name);
    if (s) {
      // Most recently seen last, so the oldest idle ones are forgotten first.
      this.sources.delete(name);
      this.sources.set(name, s);
      return s;
    }
    // One forgotten for each new one: what it holds goes out, in its order, late rather than never.
    if (this.sources.size >= MAX_SOURCES) {
      const [oldest] = this.sources.values();
      this.release(oldest);
      this.sources.delete(oldest.name);
    }
    s = { name, last: undefined, key: -Infinity, held: new Map(), order: new Ring(), next: new Map(), low: new MinHeap() };
    this.sources.set(name, s);
    return s;
  }

  /** While the event held longest has waited enough: the gap before the earliest held is skipped. */
  private expire(s: Source<T>, now: number): void {
    for (;;) {
      const oldest = firstHeld(s.order);
      if (!oldest || now - oldest.arrived < (s.last === undefined ? this.startWaitUs : this.gapWaitUs)) return;
      this.skipGap(s);
    }
  }

  /** Too much held: the gap before the event held longest (of any source) is skipped. */
  private overflow(): void {
    while (this.heldCount > this.maxHeld) {
      this.skipGap(firstHeld(this.arrivals)!.source);
    }
  }

  /** Shows the earliest held event of the source, and what follows it. */
  private skipGap(s: Source<T>): void {
    for (let seq = s.low.peek(); seq !== undefined; seq = s.low.peek()) {
      if (s.held.has(seq)) {
        this.take(s, seq);
        this.follow(s);
        return;
      }
      s.low.pop(); // let out by follow() already
    }
  }

  /** Shows the held events that follow the last one shown. */
  private follow(s: Source<T>): void {
    for (let seq = s.next.get(s.last!); seq !== undefined; seq = s.next.get(s.last!)) this.take(s, seq);
  }

  /** Lets out all the source holds, in seq order. */
  private release(s: Source<T>): void {
    for (const seq of [...s.held.keys()].sort((a, b) => a - b)) this.take(s, seq);
  }

  private take(s: Source<T>, seq: number): void {
    const w = s.held.get(seq)!;
    s.held.delete(seq);
    if (s.next.get(w.prev) === seq) s.next.delete(w.prev);
    w.gone = true;
    this.heldCount--;
    if (s.held.size === 0) {
      this.holding.delete(s);
      s.low.clear();
      s.order.drain();
    } else {
      if (s.low.size > 2 * s.held.size + 64) s.low.reset(s.held.keys());
      compact(s.order, s.held.size + 64);
    }
    compact(this.arrivals, this.heldCount + 1024);
    this.show(s, seq, w.item);
  }

  private show(s: Source<T>, seq: number, item: T | undefined): void {
    // Never back: with forged links an earlier held one can come out after a later one (through
    // follow()), and a source that went back would hold again what it has shown.
    s.last = s.last === undefined ? seq : Math.max(s.last, seq);
    this.out(s, item);
  }

  private out(s: Source<T>, item: T | undefined): void {
    if (item === undefined) return;
    s.key = Math.max(s.key, timeKey(item.time));
    this.emit(item, s.key);
  }
}

/** The first of the queue not let out yet (those before it are dropped). */
function firstHeld<T>(q: Ring<Waiting<T>>): Waiting<T> | undefined {
  let w = q.first();
  while (w?.gone) {
    q.shift();
    w = q.first();
  }
  return w;
}

/**
 * A queue of arrivals keeps what was let out until it comes up; it is rebuilt when that is most of
 * it, so its size stays within twice what is held (each rebuild paid by the releases before it).
 */
function compact<T>(q: Ring<Waiting<T>>, held: number): void {
  if (q.length > 2 * held) for (const a of q.drain()) if (!a.gone) q.push(a);
}

/** A link that can be a place in a chain: whole seqs, each after its predecessor. */
const valid = (l: Link) => Number.isSafeInteger(l.seq) && Number.isSafeInteger(l.prev) && l.prev >= 0 && l.prev < l.seq;

/** A binary min-heap of numbers. */
class MinHeap {
  private a: number[] = [];

  get size(): number {
    return this.a.length;
  }

  peek(): number | undefined {
    return this.a[0];
  }

  push(v: number): void {
    const a = this.a;
    let i = a.push(v) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= v) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = v;
  }

  pop(): number | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const c = l + 1 < a.length && a[l + 1] < a[l] ? l + 1 : l;
        if (a[c] >= last) break;
        a[i] = a[c];
        i = c;
      }
      a[i] = last;
    }
    return top;
  }

  clear(): void {
    this.a = [];
  }

  /** Exactly these values (a sorted array is a heap). */
  reset(values: Iterable<number>): void {
    this.a = [...values].sort((x, y) => x - y);
  }
}
