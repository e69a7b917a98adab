/**
 * Requests that no client should send still get an answer (a 4xx), and never take the agent down:
 * targets `new URL` refuses, bad percent-encoding, names inherited from Object.prototype.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot } from '../helpers/cgroup.js';
import { rawRequest } from '../helpers/raw-http.js';

describe('malformed requests', () => {
  let agent: TestAgent;

  beforeAll(async () => {
    requireRoot();
    agent = await TestAgent.start('node_name: requests\n');
  });

  afterAll(async () => {
    await agent?.stop();
  });

  const ask = (head: string) => rawRequest(`${head}\r\nHost: x\r\nConnection: close\r\n\r\n`, { port: agent.port, timeoutMs: 5000, expect: 1 });

  it.each([
    'GET // HTTP/1.1',
    'GET /// HTTP/1.1',
    'GET //a:b HTTP/1.1',
    'GET //[ HTTP/1.1',
    'GET //%zz HTTP/1.1',
    'GET //a:99999/metrics HTTP/1.1',
    'GET //@ HTTP/1.1',
    'GET http://[ HTTP/1.1',
    'GET http:// HTTP/1.1',
    'GET * HTTP/1.1',
    'GET x HTTP/1.1',
    'POST //x/api/programs/a/stop HTTP/1.1',
    'POST /api/programs/%E0%A4%A/stop HTTP/1.1',
    'POST /api/programs/%/stop HTTP/1.1',
  ])('%s: a 4xx, and the agent still serves', async (head) => {
    const r = await ask(head);
    expect(r.droppedWithoutReply, r.raw).toBe(false);
    expect(r.statuses).toHaveLength(1);
    expect(r.statuses[0]).toBeGreaterThanOrEqual(400);
    expect(r.statuses[0]).toBeLessThan(500);
    expect((await agent.get('/healthz')).status).toBe(200);
    expect(agent.proc.child.exitCode).toBeNull();
  });

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__'])('/api/%s is not found', async (name) => {
    const r = await ask(`GET /api/${name} HTTP/1.1`);
    expect(r.statuses).toEqual([404]);
    expect((await agent.get('/healthz')).status).toBe(200);
  });

  it('the known /api names still answer', async () => {
    for (const name of ['groups', 'beancounters', 'programs']) expect((await agent.get(`/api/${name}`)).status).toBe(200);
  });
});
