/**
 * The agent's event stream: process events plus what the agent itself decides (barrier, limit,
 * release, restart, health). Subscribers each get a queue bounded in events and in bytes: a slow one
 * loses its oldest events (counted, and told in the stream) and never slows the agent or the
 * others. Each event is serialized once, however many subscribers take it.
 */
import type { ProcessEvent } from '../events/model.js';
import { Ring } from './ring.js';

/** Events the agent adds to the kernel's. */
export interface AgentEvent {
  type: 'barrier' | 'limit' | 'release' | 'restart' | 'health';
  time: string;
  node?: string;
  group?: string;
  program?: string;
  seq?: number;
  [key: string]: unknown;
}

export type StreamEvent = ProcessEvent | AgentEvent;

/** What one subscriber may have queued: events, and bytes of their JSON. */
export interface QueueLimits {
  events: number;
  bytes: number;
}

export interface Subscription {
  /** Takes what is queued (oldest first) and how many were dropped since the last take. */
  take(): { events: StreamEvent[]; missed: number };
  close(): void;
}

/**
 * The event's JSON, made once and kept with it (events are not changed after publish, except
 * by EventBus.rewrite, which drops this).
 */
const serialized = new WeakMap<object, string>();
const withoutAncestors = new WeakMap<object, string>();
export function eventJson(e: StreamEvent, ancestors = true): string {
  if (!ancestors && 'ancestors' in e) {
    let s = withoutAncestors.get(e);
    if (s === undefined) withoutAncestors.set(e, (s = JSON.stringify({ ...e, ancestors: undefined })));
    return s;
  }
  let s = serialized.get(e);
  if (s === undefined) serialized.set(e, (s = JSON.stringify(e)));
  return s;
}

/** Who reads the stream now: what decides which kernel events must become records (src/agent/interest.ts). */
export interface StreamDemand {
  subscribers: number;
  /** Subscribers that asked for thread create / exit events. */
  threads: number;
}

class Subscriber implements Subscription {
  private queue = new Ring<StreamEvent>();
  private bytes = 0;
  private missed = 0;
  closed = false;

  constructor(
    private readonly bus: EventBus,
    readonly accept: (e: StreamEvent) => boolean,
    private readonly own: QueueLimits | undefined,
    readonly wake: () => void,
    readonly threads: boolean,
    readonly ancestors: boolean,
  ) {}

  private get limits(): QueueLimits {
    return this.own ?? this.bus.limits;
  }

  push(e: StreamEvent): void {
    if (!this.accept(e)) return;
    const size = eventJson(e).length;
    this.queue.push(e);
    this.bytes += size;
    this.trim();
    if (this.queue.length === 1) this.wake();
  }

  /** Drops the oldest until within the limits (one event larger than the byte limit goes too). */
  trim(): void {
    const { events, bytes } = this.limits;
    while (this.queue.length > events || (this.bytes > bytes && this.queue.length > 0)) {
      this.bytes -= eventJson(this.queue.shift()!).length;
      this.missed++;
    }
  }

  /** The queued events, for a rewrite; `resize` after changing them. */
  queued(): Iterable<StreamEvent> {
    return this.queue;
  }

  resize(): void {
    this.bytes = 0;
    for (const e of this.queue) this.bytes += eventJson(e).length;
    this.trim();
  }

  take(): { events: StreamEvent[]; missed: number } {
    const out = { events: this.queue.drain(), missed: this.missed };
    this.bytes = 0;
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
  private threadSubs = 0;
  private ancestorSubs = 0;
  private demandListener: ((d: StreamDemand) => void) | undefined;
  /** The limits of every subscriber that was not given its own. */
  limits: QueueLimits = { events: 10_000, bytes: 4 * 2 ** 20 };

  /** True when someone listens: building process events is skipped otherwise. */
  get active(): boolean {
    return this.subs.size > 0;
  }

  get subscribers(): number {
    return this.subs.size;
  }

  /** True when a subscriber asked for exits' ancestors: the publisher builds them only then. */
  get wantsAncestors(): boolean {
    return this.ancestorSubs > 0;
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

  /**
   * `wake` is called when the queue goes from empty to non-empty. Without `limit` the subscriber
   * follows the bus's limits, also when they change; a number is a limit in events. `wants`:
   * thread events (they widen what the kernel records), exits' ancestors (built while one asks).
   */
  subscribe(
    accept: (e: StreamEvent) => boolean,
    wake: () => void,
    limit?: number | QueueLimits,
    wants: { threads?: boolean; ancestors?: boolean } = {},
  ): Subscription {
    const own = typeof limit === 'number' ? { events: limit, bytes: Infinity } : limit;
    const s = new Subscriber(this, accept, own, wake, wants.threads === true, wants.ancestors === true);
    // The demand grows before the subscriber is added: what the widening drains and rescans is
    // in place before its first event (src/agent/interest.ts).
    this.demandListener?.({ subscribers: this.subs.size + 1, threads: this.threadSubs + (s.threads ? 1 : 0) });
    this.subs.add(s);
    if (s.threads) this.threadSubs++;
    if (s.ancestors) this.ancestorSubs++;
    return s;
  }

  unsubscribe(s: Subscription): void {
    const sub = s as Subscriber;
    if (!this.subs.delete(sub)) return;
    if (sub.threads) this.threadSubs--;
    if (sub.ancestors) this.ancestorSubs--;
    this.demandListener?.(this.demand);
  }

  /** Subscribers now, and those that asked for threads. */
  get demand(): StreamDemand {
    return { subscribers: this.subs.size, threads: this.threadSubs };
  }

  /** Told when the demand changes: before a subscriber is added (with it counted), after one leaves. */
  onDemand(listener: (d: StreamDemand) => void): void {
    this.demandListener = listener;
  }

  /** New limits, applied to live subscribers at once. */
  setLimits(limits: QueueLimits): void {
    this.limits = { ...limits };
    for (const s of this.subs) s.trim();
  }

  /**
   * Changes queued events in place (a reload turned redaction on: what waits must not leave
   * unredacted). `update` returns whether it changed the event. Returns how many changed.
   */
  rewrite(update: (e: StreamEvent) => boolean): number {
    const seen = new Set<StreamEvent>();
    let changed = 0;
    for (const s of this.subs) {
      for (const e of s.queued()) {
        if (seen.has(e)) continue;
        seen.add(e);
        if (update(e)) {
          serialized.delete(e);
          withoutAncestors.delete(e);
          changed++;
        }
      }
    }
    for (const s of this.subs) s.resize();
    return changed;
  }
}
