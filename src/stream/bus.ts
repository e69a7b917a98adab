/**
 * The agent's event stream: process events plus what the agent itself decides (barrier, limit,
 * release, restart). Subscribers each get a bounded queue: a slow one loses its oldest events
 * (counted, and told in the stream) and never slows the agent or the others.
 */
import type { ProcessEvent } from '../events/model.js';

/** Events the agent adds to the kernel's. */
export interface AgentEvent {
  type: 'barrier' | 'limit' | 'release' | 'restart';
  time: string;
  node?: string;
  group?: string;
  program?: string;
  seq?: number;
  [key: string]: unknown;
}

export type StreamEvent = ProcessEvent | AgentEvent;

export interface Subscription {
  /** Takes what is queued (oldest first) and how many were dropped since the last take. */
  take(): { events: StreamEvent[]; missed: number };
  close(): void;
}

class Subscriber implements Subscription {
  private queue: StreamEvent[] = [];
  private missed = 0;
  closed = false;

  constructor(
    private readonly bus: EventBus,
    readonly accept: (e: StreamEvent) => boolean,
    private readonly limit: number,
    readonly wake: () => void,
  ) {}

  push(e: StreamEvent): void {
    if (!this.accept(e)) return;
    if (this.queue.length >= this.limit) {
      this.queue.shift();
      this.missed++;
    }
    this.queue.push(e);
    if (this.queue.length === 1) this.wake();
  }

  take(): { events: StreamEvent[]; missed: number } {
    const out = { events: this.queue, missed: this.missed };
    this.queue = [];
    this.missed = 0;
    return out;
  }

  close(): void {
    this.closed = true;
    this.bus.unsubscribe(this);
  }
}

export class EventBus {
  private readonly subs = new Set<Subscriber>();
  private seq = 0;

  /** True when someone listens: building process events is skipped otherwise. */
  get active(): boolean {
    return this.subs.size > 0;
  }

  get subscribers(): number {
    return this.subs.size;
  }

  /** Numbers the event (seq: consecutive per agent run, so readers can tell a gap) and fans it out. */
  publish(e: StreamEvent): void {
    e.seq = ++this.seq;
    for (const s of this.subs) s.push(e);
  }

  /** The seq the next event will get. */
  get nextSeq(): number {
    return this.seq + 1;
  }

  /** `wake` is called when the queue goes from empty to non-empty. */
  subscribe(accept: (e: StreamEvent) => boolean, wake: () => void, limit = 10_000): Subscription {
    const s = new Subscriber(this, accept, limit, wake);
    this.subs.add(s);
    return s;
  }

  unsubscribe(s: Subscription): void {
    this.subs.delete(s as Subscriber);
  }
}
