/** EventBus: numbered events, bounded per-subscriber queues that drop their oldest and count. */
import { describe, expect, it } from 'vitest';
import { EventBus, type AgentEvent } from '../../src/stream/bus.js';

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
    const sub = bus.subscribe(() => true, () => wakes++, 3);
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
    const slow = bus.subscribe(() => true, () => {}, 2);
    const fast = bus.subscribe(() => true, () => {}, 1000);
    const evenOnly = bus.subscribe((e) => (e.seq ?? 0) % 2 === 0, () => {}, 2);
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
    const s = bus.subscribe(() => true, () => {});
    expect(bus.active).toBe(true);
    s.close();
    expect(bus.active).toBe(false);
    bus.publish(ev(1));
    expect(s.take().events).toEqual([]);
  });
});
