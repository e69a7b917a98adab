/** ReorderBuffer: one stream of many late sources, put back in time order by event time. */
import { describe, expect, it } from 'vitest';
import { ReorderBuffer } from '../../src/tail/merge.js';

const at = (ms: number) => ({ time: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, ms)).toISOString().replace('Z', '000Z') });

describe('ReorderBuffer', () => {
  it('a late source within the window is put in its place, whatever the arrival times', () => {
    const now = Date.UTC(2026, 0, 1, 1) * 1000; // an hour after the events: a replay
    const out: number[] = [];
    const b = new ReorderBuffer<{ time: string }>(
      (e) => out.push(Date.parse(e.time) % 100_000),
      300_000,
      () => now,
    );
    // A replay: source A up to 350 ms arrives before source B's first event at 10 ms.
    for (const ms of [0, 100, 200, 350]) b.push(at(ms));
    expect(out).toEqual([0]); // 350 - 300 lets only 0 out
    b.push(at(10));
    b.push(at(700));
    expect(out).toEqual([0, 10, 100, 200, 350]);
    b.drain();
    expect(out).toEqual([0, 10, 100, 200, 350, 700]);
  });

  it('a quiet stream lets an event out once it waited the window', () => {
    let now = 0;
    const out: string[] = [];
    const b = new ReorderBuffer<{ time: string }>(
      (e) => out.push(e.time),
      300_000,
      () => now,
    );
    b.push(at(5));
    b.flush();
    expect(out).toEqual([]);
    now = 300_000;
    b.flush();
    expect(out).toEqual([at(5).time]);
    expect(b.pending).toBe(0);
  });

  it('an event timed far ahead of our clock does not let every later event out unordered', () => {
    const now = Date.UTC(2026, 0, 1, 0, 0, 1) * 1000; // just after the events' times
    const out: string[] = [];
    const b = new ReorderBuffer<{ time: string }>(
      (e) => out.push(e.time),
      300_000,
      () => now,
    );
    b.push({ time: '2099-01-01T00:00:00.000000Z' });
    b.push(at(200));
    b.push(at(100));
    // Without the cap, 2099 would put every event "a window behind" and out in arrival order.
    expect(out).toEqual([]);
    b.push(at(500));
    expect(out).toEqual([at(100).time, at(200).time]);
    b.drain();
    expect(out).toEqual([at(100).time, at(200).time, at(500).time, '2099-01-01T00:00:00.000000Z']);
  });
});
