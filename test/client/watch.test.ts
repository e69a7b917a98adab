/**
 * watch() against the real API server and event bus (no kernel): notices, reconnection, refusal,
 * leaving the loop, and a slow consumer.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { watch, WatchError, type Notice, type WatchEvent } from '../../src/client/watch.js';
import { createApiServer, type ApiHandlers } from '../../src/server/api.js';
import { EventBus, type AgentEvent } from '../../src/stream/bus.js';
import { until } from '../helpers/cgroup.js';

const TOKEN = '0123456789abcdef0123';

class FakeAgent {
  readonly bus = new EventBus();
  server!: http.Server;
  port = 0;
  constructor(
    readonly streamId: string,
    private readonly opts: { token?: string; queueLimit?: number; heartbeatMs?: number } = {},
  ) {}

  async listen(port = 0): Promise<this> {
    const h: ApiHandlers = {
      metrics: async () => ({ body: '', contentType: 'text/plain' }),
      health: () => ({ ok: true, detail: {} }),
      get: {},
      events: {
        bus: this.bus,
        node: 'n1',
        streamId: this.streamId,
        descendants: () => new Set(),
        maxSubscribers: () => 32,
        heartbeatMs: this.opts.heartbeatMs,
      },
      control: async () => ({}),
    };
    if (this.opts.queueLimit !== undefined) this.bus.setLimits({ events: this.opts.queueLimit, bytes: Infinity });
    this.server = createApiServer(h, { trusted: false, readToken: this.opts.token ?? TOKEN }, (err) => {
      throw err;
    });
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  publish(n: number, from = 0): void {
    for (let i = 0; i < n; i++) this.bus.publish({ type: 'release', time: new Date().toISOString().replace('Z', '000Z'), group: `g${from + i}` });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

const agents: FakeAgent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.close().catch(() => {});
});
async function fake(streamId: string, opts: ConstructorParameters<typeof FakeAgent>[1] = {}, port = 0): Promise<FakeAgent> {
  const a = await new FakeAgent(streamId, opts).listen(port);
  agents.push(a);
  return a;
}

/** Collects what watch() yields, in the background. */
function collect(opts: Parameters<typeof watch>[0]) {
  const seen: WatchEvent[] = [];
  let error: unknown;
  const done = (async () => {
    try {
      for await (const e of watch(opts)) seen.push(e);
    } catch (err) {
      error = err;
    }
  })();
  return { seen, done, error: () => error, of: <T extends string>(type: T) => seen.filter((e) => e.type === type) as Extract<Notice, { type: T }>[] };
}

describe('watch()', () => {
  it('says hello, yields events in order, and closes its connection when the loop is left', async () => {
    const a = await fake('run-1');
    const got: WatchEvent[] = [];
    const loop = (async () => {
      for await (const e of watch({ url: `http://127.0.0.1:${a.port}`, token: TOKEN })) {
        got.push(e);
        if (got.length === 4) break;
      }
    })();
    await until(() => a.bus.subscribers === 1, 'the subscription');
    a.publish(5);
    await loop;
    expect(got[0]).toMatchObject({ type: 'hello', node: 'n1', stream: 'run-1', seq: 1, restarted: false, skipped: 0 });
    expect(got.slice(1).map((e) => (e as AgentEvent).seq)).toEqual([1, 2, 3]);
    await until(() => a.bus.subscribers === 0, 'the agent to see the reader go');
  });

  it('a refused token is an error, not a retry loop', async () => {
    const a = await fake('run-1');
    const c = collect({ url: `http://127.0.0.1:${a.port}`, token: 'wrong-token-wrong-token' });
    await c.done;
    expect(c.error()).toBeInstanceOf(WatchError);
    expect((c.error() as WatchError).status).toBe(401);
    expect(c.seen).toEqual([]);
  });

  it('reconnects: the same run says how many events it published meanwhile; a new run says restarted', async () => {
    const a = await fake('run-1', { heartbeatMs: 50 });
    const abort = new AbortController();
    const c = collect({ url: `http://127.0.0.1:${a.port}`, token: TOKEN, retryMs: 50, signal: abort.signal });
    await until(() => a.bus.subscribers === 1, 'the subscription');
    a.publish(3);
    await until(() => c.seen.length === 4, 'three events');
    a.publish(2); // seen, then acknowledged by a heartbeat
    await until(() => c.seen.length === 6, 'two more');
    await new Promise((r) => setTimeout(r, 120)); // heartbeats carry the position past seq 5
    // The connection drops; the agent keeps running and publishes 7 more.
    a.server.closeAllConnections();
    await until(() => c.of('disconnected').length === 1, 'the disconnect');
    a.publish(7);
    await until(() => c.of('hello').length === 2, 'the reconnection');
    expect(c.of('hello')[1]).toMatchObject({ stream: 'run-1', restarted: false, skipped: 7 });

    // A new run of the agent on the same port.
    const port = a.port;
    await a.close();
    agents.splice(agents.indexOf(a), 1);
    await until(() => c.of('disconnected').length === 2, 'the second disconnect');
    const b = await fake('run-2', {}, port);
    await until(() => c.of('hello').length === 3, 'the new run');
    expect(c.of('hello')[2]).toMatchObject({ stream: 'run-2', restarted: true, skipped: 0 });
    b.publish(1);
    await until(() => c.seen.at(-1)?.type === 'release', 'an event of the new run');
    abort.abort();
    await c.done;
    expect(c.error()).toBeUndefined();
  });

  it('a consumer that stops pulling pauses the connection: the agent drops for it and the stream counts exactly', async () => {
    const a = await fake('run-1', { queueLimit: 100 });
    const it = watch({ url: `http://127.0.0.1:${a.port}`, token: TOKEN, highWater: 50 });
    expect((await it.next()).value).toMatchObject({ type: 'hello' });
    const total = 200_000;
    // Published in slices, so the socket fills and the agent's queue for this reader overflows.
    for (let i = 0; i < total; i += 2000) {
      a.publish(2000, i);
      await new Promise((r) => setImmediate(r));
    }
    let received = 0;
    let missed = 0;
    let last = 0;
    for (;;) {
      const next = await it.next();
      if (next.done) throw new Error(`the watch ended after ${received} events and ${missed} missed`);
      const value = next.value;
      if (value.type === 'missed') missed += (value as { count: number }).count;
      else {
        received++;
        last = (value as AgentEvent).seq!;
      }
      if (last === total) break;
    }
    await it.return(undefined);
    expect(missed).toBeGreaterThan(0);
    expect(received + missed).toBe(total);
  });
});
