/** EventBus: numbered events, bounded per-subscriber queues that drop their oldest and count. */
import { describe, expect, it } from 'vitest';
import { EventBus, type AgentEvent, type StreamEvent } from '../../src/stream/bus.js';

const ev = (n: number): AgentEvent => ({ type: 'release', time: '2026-01-01T00:00:00.000000Z', group: `g${n}` });

describe('EventBus', () => {
  it('numbers every event consecutively, subscribed or not, and tells the next number', () => {
    const bus = new EventBus();
    expect(bus.nextSeq).toBe(1);
    const a = ev(1);
    bus.publish(a);
    expect(a.seq).toBe(1);
    expect(bus.nextSeq).toBe(2);
  });

  it('a full queue drops its oldest events and counts them; take() resets the count', () => {
    const bus = new EventBus();
    let wakes = 0;
    const sub = bus.subscribe(
      () => true,
      () => wakes++,
      3,
    );
    for (let i = 1; i <= 10; i++) bus.publish(ev(i));
    const t = sub.take();
    expect(t.events.map((e) => e.seq)).toEqual([8, 9, 10]);
    expect(t.missed).toBe(7);
    expect(wakes).toBe(1); // once, when the queue became non-empty
    bus.publish(ev(11));
    expect(sub.take()).toEqual({ events: [expect.objectContaining({ seq: 11 })], missed: 0 });
    expect(wakes).toBe(2);
  });

  it('a slow subscriber does not hold back or drop for another; a filtered-out event is not missed', () => {
    const bus = new EventBus();
    const slow = bus.subscribe(
      () => true,
      () => {},
      2,
    );
    const fast = bus.subscribe(
      () => true,
      () => {},
      1000,
    );
    const evenOnly = bus.subscribe(
      (e) => (e.seq ?? 0) % 2 === 0,
      () => {},
      2,
    );
    for (let i = 1; i <= 6; i++) bus.publish(ev(i));
    expect(fast.take()).toMatchObject({ missed: 0, events: { length: 6 } });
    expect(slow.take()).toMatchObject({ missed: 4 });
    const even = evenOnly.take();
    expect(even.events.map((e) => e.seq)).toEqual([4, 6]);
    expect(even.missed).toBe(1); // seq 2; the odd ones were never its own
  });

  it('close unsubscribes; active says whether anyone listens', () => {
    const bus = new EventBus();
    expect(bus.active).toBe(false);
    const s = bus.subscribe(
      () => true,
      () => {},
    );
    expect(bus.active).toBe(true);
    s.close();
    expect(bus.active).toBe(false);
    bus.publish(ev(1));
    expect(s.take().events).toEqual([]);
  });
});

describe('EventBus bounds', () => {
  const exec = (argv: string[]): StreamEvent => ({ type: 'exec', time: 't', pid: 1, ppid: 0, comm: 'x', cgroup: '/', argv }) as unknown as StreamEvent;

  it('dropping the oldest costs the same however long the queue: 200,000 events through a 100,000 queue in well under 3 s', () => {
    const bus = new EventBus();
    const sub = bus.subscribe(
      () => true,
      () => {},
      100_000,
    );
    const started = performance.now();
    for (let i = 0; i < 200_000; i++) bus.publish({ type: 'limit', time: 't', group: 'g' });
    const ms = performance.now() - started;
    const t = sub.take();
    expect(t.missed).toBe(100_000);
    expect(t.events).toHaveLength(100_000);
    expect(t.events[0].seq).toBe(100_001);
    expect(ms).toBeLessThan(3000);
  });

  it('a queue is bounded by bytes too: long argv events drop the oldest once the bytes are reached', () => {
    const bus = new EventBus();
    bus.setLimits({ events: 10_000, bytes: 100_000 });
    const sub = bus.subscribe(
      () => true,
      () => {},
    );
    const argv = ['x'.repeat(10_000)];
    for (let i = 0; i < 50; i++) bus.publish(exec(argv));
    const t = sub.take();
    const bytes = t.events.reduce((n, e) => n + JSON.stringify(e).length, 0);
    expect(bytes).toBeLessThanOrEqual(100_000);
    expect(t.events.length).toBeGreaterThanOrEqual(9);
    expect(t.missed + t.events.length).toBe(50);
    expect(t.events.at(-1)!.seq).toBe(50);
  });

  it('new limits apply to live subscribers at once (their oldest over the new bound are dropped and counted)', () => {
    const bus = new EventBus();
    bus.setLimits({ events: 100, bytes: 1e9 });
    const sub = bus.subscribe(
      () => true,
      () => {},
    );
    for (let i = 0; i < 80; i++) bus.publish({ type: 'limit', time: 't', group: 'g' });
    bus.setLimits({ events: 30, bytes: 1e9 });
    const t = sub.take();
    expect(t).toMatchObject({ missed: 50, events: { length: 30 } });
    expect(t.events[0].seq).toBe(51);
  });

  it('rewrite changes queued events (redaction turned on) and their size', () => {
    const bus = new EventBus();
    const a = bus.subscribe(
      () => true,
      () => {},
    );
    const b = bus.subscribe(
      () => true,
      () => {},
    );
    bus.publish(exec(['app', '--password=hunter2']));
    const changed = bus.rewrite((e) => {
      const x = e as { argv?: string[] };
      if (!x.argv) return false;
      x.argv = x.argv.map((w) => w.replace('hunter2', 'R'));
      return true;
    });
    expect(changed).toBe(1);
    for (const s of [a, b]) expect(JSON.stringify(s.take().events)).not.toContain('hunter2');
  });
});

describe('EventBus demand', () => {
  it('tells the demand before a subscriber is added (what it publishes then is not that one’s), and after one leaves', () => {
    const bus = new EventBus();
    const told: { subscribers: number; threads: number }[] = [];
    bus.onDemand((d) => {
      // A widening's resync publishes here: only subscribers already there get it.
      bus.publish({ type: 'release', time: 't' });
      told.push(d);
    });
    const a = bus.subscribe(
      () => true,
      () => {},
    );
    const b = bus.subscribe(
      () => true,
      () => {},
      undefined,
      { threads: true },
    );
    expect(told).toEqual([
      { subscribers: 1, threads: 0 },
      { subscribers: 2, threads: 1 },
    ]);
    expect(a.take().events).toHaveLength(1); // the second subscribe's publish
    expect(b.take().events).toHaveLength(0);
    b.close();
    b.close(); // twice: told once
    expect(bus.demand).toEqual({ subscribers: 1, threads: 0 });
    a.close();
    expect(told.slice(2)).toEqual([
      { subscribers: 1, threads: 0 },
      { subscribers: 0, threads: 0 },
    ]);
  });
});

describe('EventBus ancestors', () => {
  it('wants ancestors exactly while a subscriber that asked for them is there', () => {
    const bus = new EventBus();
    const none = () => {};
    expect(bus.wantsAncestors).toBe(false);
    const plain = bus.subscribe(() => true, none);
    expect(bus.wantsAncestors).toBe(false);
    const a = bus.subscribe(() => true, none, undefined, { ancestors: true });
    const b = bus.subscribe(() => true, none, 100, { ancestors: true, threads: true });
    expect(bus.wantsAncestors).toBe(true);
    a.close();
    a.close(); // twice: counted once
    expect(bus.wantsAncestors).toBe(true);
    b.close();
    expect(bus.wantsAncestors).toBe(false);
    expect(bus.demand).toEqual({ subscribers: 1, threads: 0 });
    plain.close();
  });
});
