/** One JSON call to an agent (src/client/http.ts), against a local server: answers, refusals, the default timeout. */
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestJson } from '../../src/client/http.js';
import { parseAgentUrl, type AgentTarget } from '../../src/client/target.js';
import { DEFAULTS } from '../../src/config/default.js';
import { EnvironmentError, UsageError } from '../../src/errors.js';
import { freePort } from '../helpers/net.js';

const seen: http.IncomingHttpHeaders[] = [];
const server = http.createServer((req, res) => {
  seen.push(req.headers);
  if (req.url === '/api/ok') return void res.end(JSON.stringify({ method: req.method }));
  if (req.url === '/api/missing') return void res.writeHead(404).end('"no program named \\"x\\""\n');
  if (req.url === '/api/refused') return void res.writeHead(401).end('a valid bearer token is required\n');
  if (req.url === '/api/html') return void res.end('<html>');
  // /api/silent: never answers.
});
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-http-'));
const sock = path.join(dir, 'api.sock');
const unixServer = http.createServer((_req, res) => res.end('[1,2]'));
let tcp: AgentTarget;

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => unixServer.listen(sock, r));
  tcp = parseAgentUrl(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await new Promise((r) => unixServer.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    expect((err as Error).message).not.toContain('\n');
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('requestJson', () => {
  it('returns the JSON of a 200, sending the token as a bearer token', async () => {
    expect(await requestJson(tcp, 'POST', '/api/ok')).toEqual({ method: 'POST' });
    expect(seen.at(-1)!.authorization).toBeUndefined();
    expect(await requestJson({ ...tcp, token: 'tok-0123456789abcdef' }, 'GET', '/api/ok')).toEqual({ method: 'GET' });
    expect(seen.at(-1)!.authorization).toBe('Bearer tok-0123456789abcdef');
  });

  it('over the unix socket', async () => {
    expect(await requestJson(parseAgentUrl(`unix:${sock}`), 'GET', '/api/programs')).toEqual([1, 2]);
  });

  it("a 404 is the user's to fix (usage error with the agent's words); a 401 is the environment's", async () => {
    const missing = await rejection(requestJson(tcp, 'GET', '/api/missing'));
    expect(missing).toBeInstanceOf(UsageError);
    expect(missing).not.toBeInstanceOf(EnvironmentError);
    expect(missing.message).toBe('no program named \\"x\\"');
    const refused = await rejection(requestJson(tcp, 'GET', '/api/refused'));
    expect(refused).toBeInstanceOf(EnvironmentError);
    expect(refused.message).toBe(`the agent at ${tcp.label} answered 401 for /api/refused: a valid bearer token is required`);
  });

  it('an answer that is not JSON says so', async () => {
    expect((await rejection(requestJson(tcp, 'GET', '/api/html'))).message).toMatch(/answered \/api\/html with something that is not JSON/);
  });

  it('an agent that is not there: one line with the errno and a hint', async () => {
    const port = await freePort();
    const err = await rejection(requestJson(parseAgentUrl(`http://127.0.0.1:${port}`), 'GET', '/api/groups'));
    expect(err).toBeInstanceOf(EnvironmentError);
    expect(err.message).toBe(`cannot reach the agent at http://127.0.0.1:${port} (ECONNREFUSED); is 'forkwatch run' running? (--url points elsewhere)`);
    const gone = await rejection(requestJson(parseAgentUrl(`unix:${dir}/absent.sock`), 'GET', '/api/programs'));
    expect(gone.message).toMatch(/\(ENOENT\); is 'forkwatch run' running\? \(the socket is root-only: use sudo, or --url with --token-file\)$/);
  });

  it('an agent that does not answer fails at the timeout, by default DEFAULTS.client.timeout_s', async () => {
    const given = await rejection(requestJson(tcp, 'GET', '/api/silent', { timeoutS: 0.2 }));
    expect(given.message).toBe(`cannot reach the agent at ${tcp.label} (ETIMEDOUT); is 'forkwatch run' running? (--url points elsewhere)`);
    // The default is read from the one home of defaults at each call.
    const defaults = DEFAULTS.client as { timeout_s: number };
    const before = defaults.timeout_s;
    defaults.timeout_s = 0.2;
    try {
      const started = performance.now();
      const err = await rejection(requestJson(tcp, 'GET', '/api/silent'));
      expect(err.message).toContain('(ETIMEDOUT)');
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      defaults.timeout_s = before;
    }
  });
});
