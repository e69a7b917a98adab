/**
 * Merging several agents' streams into one, in time order. Each stream is already in order; an
 * event is let out once every connected stream has shown something at least as late, or once it
 * is older than the reorder window (so a quiet agent never holds the others back for long).
 */
export interface Timed {
  time: string;
}

/** Epoch microseconds from our ISO times (…SS.ffffffZ), exact where Date.parse is not. */
export function timeKey(iso: string): number {
  const ms = Date.parse(iso);
  const frac = /\.(\d+)Z$/.exec(iso)?.[1] ?? '';
  const micros = Number((frac + '000000').slice(3, 6));
  return ms * 1000 + micros;
}

export class StreamMerger<T extends Timed> {
  private readonly queues = new Map<string, { key: number; ev: T }[]>();
  private readonly lastSeen = new Map<string, number>();

  constructor(
    private readonly emit: (ev: T, source: string) => void,
    private readonly windowUs = 300_000,
    private readonly nowUs: () => number = () => Date.now() * 1000,
  ) {}

  /** A stream (re)joined: it holds others back only once it has shown an event. */
  open(source: string): void {
    if (!this.queues.has(source)) this.queues.set(source, []);
  }

  /** A stream went away: it no longer holds the others back. */
  close(source: string): void {
    const q = this.queues.get(source);
    this.queues.delete(source);
    this.lastSeen.delete(source);
    for (const item of q ?? []) this.emit(item.ev, source);
    this.flush();
  }

  push(source: string, ev: T): void {
    this.open(source);
    const key = timeKey(ev.time);
    this.queues.get(source)!.push({ key, ev });
    this.lastSeen.set(source, Math.max(this.lastSeen.get(source) ?? 0, key));
    this.flush();
  }

  /** Also call from a timer: lets events out once they are older than the window. */
  flush(): void {
    const horizon = this.nowUs() - this.windowUs;
    for (;;) {
      let best: string | undefined;
      let bestKey = Infinity;
      for (const [src, q] of this.queues) {
        if (q.length && q[0].key < bestKey) {
          bestKey = q[0].key;
          best = src;
        }
      }
      if (best === undefined) return;
      // Safe when every other open stream has shown an event at least this late, or it is old.
      let safe = bestKey <= horizon;
      if (!safe) {
        safe = true;
        for (const src of this.queues.keys()) {
          if (src !== best && (this.lastSeen.get(src) ?? -Infinity) < bestKey) safe = false;
        }
      }
      if (!safe) return;
      const item = this.queues.get(best)!.shift()!;
      this.emit(item.ev, best);
    }
  }
}
