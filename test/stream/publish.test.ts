/**
 * ProcessPublisher: an exit's identity is built with its ancestors only while a subscriber asked
 * for them (they walk the process table per exit), and a reader that did not ask never sees them.
 */
import { describe, expect, it } from 'vitest';
import { RawEvent } from '../../src/events/decode.js';
import { EventType } from '../../src/events/layout.js';
import type { ExitIdentity } from '../../src/events/model.js';
import { EventBus, eventJson, type StreamEvent } from '../../src/stream/bus.js';
import { ProcessPublisher } from '../../src/stream/publish.js';
import type { ProcessInfo } from '../../src/process/table.js';

const before: ProcessInfo = { pid: 12, ppid: 11, comm: 'sh', uid: 0, cgroupId: 5, startNs: 12_000, threads: 1, exe: '/bin/sh' };

function exit(): RawEvent {
  const e = new RawEvent();
  Object.assign(e, { type: EventType.EXIT, pid: 12, tid: 12, ppid: 11, comm: 'sh', cgroupId: 5, startNs: 12_000, ts: 20_000 });
  return e;
}

function publisher() {
  const bus = new EventBus();
  const asked: boolean[] = [];
  const p = new ProcessPublisher({
    bus,
    node: 'n',
    bootId: '0123456789abcdef0123',
    redact: [],
    ctx: { iso: () => '2026-12-06T00:00:00.000000Z', cgroupPath: () => '/x' },
    groupOf: () => undefined,
    identity: (_e, _before, ancestors): ExitIdentity => {
      asked.push(ancestors);
      return { filename: '/bin/sh', ...(ancestors ? { ancestors: [{ pid: 11, comm: 'bash' }] } : {}) };
    },
  });
  const publish = () => p.publish(exit(), { before, after: undefined });
  return { bus, asked, publish };
}

const take = (s: { take(): { events: StreamEvent[] } }) => s.take().events.map((e) => JSON.parse(eventJson(e, false)) as Record<string, unknown>);

describe('ProcessPublisher ancestors', () => {
  it('builds an exit without ancestors while nobody asked, with them while someone does, without again once they left', () => {
    const { bus, asked, publish } = publisher();
    const plain = bus.subscribe(
      () => true,
      () => {},
    );
    publish();
    const chain = bus.subscribe(
      () => true,
      () => {},
      undefined,
      { ancestors: true },
    );
    publish();
    const withChain = chain.take().events;
    expect(withChain.map((e) => (e as { ancestors?: unknown }).ancestors)).toEqual([[{ pid: 11, comm: 'bash' }]]);
    chain.close();
    publish();
    expect(asked).toEqual([false, true, false]);
    // The reader that did not ask gets the same exits without them, the one built with them too.
    const seen = take(plain);
    expect(seen.map((e) => [e.filename, 'ancestors' in e])).toEqual([
      ['/bin/sh', false],
      ['/bin/sh', false],
      ['/bin/sh', false],
    ]);
  });

  it('builds nothing while nobody subscribes', () => {
    const { asked, publish } = publisher();
    publish();
    expect(asked).toEqual([]);
  });
});
