/**
 * Merging several agents' streams into one, in time order. An event is let out once every open
 * stream, its own included, has shown something at least `jitter` later, or once it has waited
 * the reorder window (so a quiet or silent agent never holds the others back for longer than
 * that). The jitter is there because one agent's stream is in time order only nearly: records
 * from two CPUs are stamped before they are queued, so one stamped a few µs earlier can come
 * just after. The wait is counted from the event's arrival, not its time: a reader that fell
 * behind (or a host whose clock runs late) still gives every stream the whole window to catch up.
 */
export interface Timed {
  time: string;
}

/**
 * Whether an event's time may move its stream's "seen up to": not when it is more than the reorder
 * window ahead of our clock (a host whose clock runs that far ahead, or a forged time). Such an event
 * is still merged in its place; it only cannot make the merger believe the stream is past
 * everything, which would let every later event out at once, unordered, for the rest of the session.
 */
function credible(key: number, nowUs: number, windowUs: number): boolean {
  return key <= nowUs + windowUs;
}

/** Puts `item` in its place by key among `queue`, after those of an equal key (arrival order). */
function place<Q extends { key: number }>(queue: Q[], item: Q): void {
  let at = queue.length;
  while (at > 0 && queue[at - 1].key > item.key) at--;
  queue.splice(at, 0, item);
}

/** Epoch microseconds from our ISO times (…SS.ffffffZ), exact where Date.parse is not. */
export function timeKey(iso: string): number {
  const ms = Date.parse(iso);
  const frac = /\.(\d+)Z$/.exec(iso)?.[1] ?? '';
  const micros = Number((frac + '000000').slice(3, 6));
  return ms * 1000 + micros;
}

interface Stream<T> {
  queue: { key: number; arrived: number; ev: T }[];
  /** Open: connected, so it may still send events earlier than the others' (it holds them back). */
  open: boolean;
  /** Latest time it has shown since it (re)opened; -Infinity before its first event. */
  lastSeen: number;
}

export class StreamMerger<T extends Timed> {
  private readonly streams = new Map<string, Stream<T>>();

  /**
   * @param windowUs how long an event may wait for a stream that has shown nothing as late
   * @param nowUs the clock the window is measured on (microseconds)
   * @param jitterUs how far out of time order one stream's own events may arrive
   */
  constructor(
    private readonly emit: (ev: T, source: string) => void,
    private readonly windowUs = 300_000,
    private readonly nowUs: () => number = () => Date.now() * 1000,
    private readonly jitterUs = 2_000,
  ) {}

  private stream(source: string): Stream<T> {
    let s = this.streams.get(source);
    if (!s) this.streams.set(source, (s = { queue: [], open: true, lastSeen: -Infinity }));
    return s;
  }

  /** A stream (re)joined: until it shows an event, it holds the others back for up to the window. */
  open(source: string): void {
    const s = this.stream(source);
    s.open = true;
    s.lastSeen = -Infinity;
  }

  /**
   * A stream went away: it no longer holds the others back. What it already sent still merges in
   * order with the others' (it is not let out ahead of earlier events still held).
   */
  close(source: string): void {
    const s = this.streams.get(source);
    if (!s) return;
    s.open = false;
    this.flush();
  }

  push(source: string, ev: T): void {
    const s = this.stream(source);
    const key = timeKey(ev.time);
    // Agents send in time order but for records from different CPUs a few µs apart; an event
    // goes in its place among those still queued.
    const now = this.nowUs();
    place(s.queue, { key, arrived: now, ev });
    if (key > s.lastSeen && credible(key, now, this.windowUs)) s.lastSeen = key;
    this.flush();
  }

  /** Also call from a timer: lets events out once they are older than the window. */
  flush(): void {
    const horizon = this.nowUs() - this.windowUs;
    for (;;) {
      const best = this.earliest();
      if (!best) return;
      const [src, s] = best;
      const { key, arrived } = s.queue[0];
      // Safe when every open stream (this one too) has shown an event at least jitter later, or it waited enough.
      if (arrived > horizon) {
        for (const o of this.streams.values()) if (o.open && o.lastSeen < key + this.jitterUs) return;
      }
      this.take(src, s);
    }
  }

  /** Lets out everything queued, in time order (the end of the session). */
  drain(): void {
    for (let best = this.earliest(); best; best = this.earliest()) this.take(best[0], best[1]);
  }

  /** Events waiting for a slower stream. */
  get pending(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.queue.length;
    return n;
  }

  private earliest(): [string, Stream<T>] | undefined {
    let best: [string, Stream<T>] | undefined;
    for (const entry of this.streams) {
      const q = entry[1].queue;
      if (q.length && (!best || q[0].key < best[1].queue[0].key)) best = entry;
    }
    return best;
  }

  private take(src: string, s: Stream<T>): void {
    const item = s.queue.shift()!;
    if (!s.open && s.queue.length === 0) this.streams.delete(src);
    this.emit(item.ev, src);
  }
}

/**
 * One stream that carries many sources, each nearly in time order but late by its own delay (the
 * NATS stream, where agents' batches land as they are acked). An event is let out once an event
 * at least `windowUs` later (in event time) was seen, or once it waited `windowUs` since it
 * arrived (a quiet stream). A replay arrives far faster than it happened: event time, not arrival,
 * is what tells how far a late source can still be behind.
 */
export class ReorderBuffer<T extends Timed> {
  private queue: { key: number; arrived: number; ev: T }[] = [];
  private latest = -Infinity;

  constructor(
    private readonly emit: (ev: T) => void,
    private readonly windowUs = 300_000,
    private readonly nowUs: () => number = () => Date.now() * 1000,
  ) {}

  /** `key`: the event's place in time order (its time unless given); equal keys keep their arrival order. */
  push(ev: T, key = timeKey(ev.time)): void {
    const now = this.nowUs();
    place(this.queue, { key, arrived: now, ev });
    if (key > this.latest && credible(key, now, this.windowUs)) this.latest = key;
    this.flush();
  }

  /** Also call from a timer. */
  flush(): void {
    const horizon = this.nowUs() - this.windowUs;
    let n = 0;
    while (n < this.queue.length && (this.queue[n].key <= this.latest - this.windowUs || this.queue[n].arrived <= horizon)) n++;
    if (n > 0) for (const item of this.queue.splice(0, n)) this.emit(item.ev);
  }

  drain(): void {
    for (const item of this.queue.splice(0)) this.emit(item.ev);
  }

  get pending(): number {
    return this.queue.length;
  }
}
