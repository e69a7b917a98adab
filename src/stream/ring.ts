/** A FIFO queue with O(1) push and shift (Array#shift moves every element: 170 us at 100,000). */
export class Ring<T> {
  private buf: (T | undefined)[] = new Array<T | undefined>(16);
  private head = 0;
  private n = 0;

  get length(): number {
    return this.n;
  }

  push(v: T): void {
    if (this.n === this.buf.length) this.grow();
    this.buf[(this.head + this.n) % this.buf.length] = v;
    this.n++;
  }

  /** The oldest, left in place. */
  first(): T | undefined {
    return this.n === 0 ? undefined : this.buf[this.head];
  }

  shift(): T | undefined {
    if (this.n === 0) return undefined;
    const v = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) % this.buf.length;
    this.n--;
    return v;
  }

  /** Oldest first. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.n; i++) yield this.buf[(this.head + i) % this.buf.length] as T;
  }

  /** Everything, oldest first, leaving the ring empty (and small again). */
  drain(): T[] {
    const out = [...this];
    this.buf = new Array<T | undefined>(16);
    this.head = 0;
    this.n = 0;
    return out;
  }

  private grow(): void {
    const next = new Array<T | undefined>(this.buf.length * 2);
    for (let i = 0; i < this.n; i++) next[i] = this.buf[(this.head + i) % this.buf.length];
    this.buf = next;
    this.head = 0;
  }
}
