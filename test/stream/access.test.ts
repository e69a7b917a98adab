/**
 * Who may read the event stream: on TCP only with the bearer token from api.token_file (401
 * without it, and not one event byte), refused outright (403) when no token file is configured;
 * on the root-only unix socket, anyone who can open it.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup } from '../helpers/cgroup.js';
import { runCli } from '../helpers/cli.js';

const TOKEN = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request; the body is read for at most `forMs` (a stream does not end by itself). */
function request(o: http.RequestOptions, forMs = 1000): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.request(o, (res) => {
      let body = '';
      const done = () => resolve({ status: res.statusCode!, headers: res.headers, body });
      const timer = setTimeout(() => {
        req.destroy();
        done();
      }, forMs);
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => {
        clearTimeout(timer);
        done();
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    req.end();
  });
}

describe('access to the event stream', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-access-'));
  const tokenFile = path.join(dir, 'token');
  let cg: TestCgroup;
  let withToken: TestAgent;
  let noToken: TestAgent;
  let busy: ReturnType<TestCgroup['run']>;

  beforeAll(async () => {
    requireRoot();
    cg = TestCgroup.create('access');
    fs.writeFileSync(tokenFile, TOKEN + '\n', { mode: 0o600 });
    [withToken, noToken] = await Promise.all([
      TestAgent.start(`node_name: guarded\napi:\n  socket: ${path.join(dir, 'guarded.sock')}\n  token_file: ${tokenFile}\n`),
      TestAgent.start('node_name: open\n'),
    ]);
    // Events exist all along: a refused request must have had something to leak.
    busy = cg.run('while :; do /bin/true; sleep 0.01; done');
  });

  afterAll(async () => {
    busy?.kill('SIGKILL');
    await cg?.remove();
    await withToken?.stop();
    await noToken?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const tcp = (a: TestAgent, p: string, headers: Record<string, string> = {}, method = 'GET') => request({ host: '127.0.0.1', port: a.port, path: p, headers, method });
  const events = () => `/events?cgroup=${encodeURIComponent(cg.path)}`;

  it('TCP without the token, or with a wrong one: 401 and not one event byte', async () => {
    for (const headers of [{}, { Authorization: `Bearer ${TOKEN.slice(0, -1)}x` }, { Authorization: TOKEN }, { Authorization: `Basic ${TOKEN}` }]) {
      const r = await tcp(withToken, events(), headers);
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer realm="forkwatch"');
      expect(r.headers['content-type']).toBe('text/plain');
      expect(r.body).toBe('a valid bearer token is required\n');
    }
    // The control API too.
    const post = await tcp(withToken, '/api/programs/x/restart', {}, 'POST');
    expect(post.status).toBe(401);
  });

  it('TCP with the token: the stream, with the workload\'s events', async () => {
    const r = await tcp(withToken, events(), { Authorization: `Bearer ${TOKEN}` }, 'GET');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/x-ndjson');
    const lines = r.body.trim().split('\n').map((l) => JSON.parse(l) as { type: string; node: string; cgroup?: string });
    expect(lines[0]).toMatchObject({ type: 'hello', node: 'guarded' });
    const evs = lines.slice(1);
    expect(evs.length).toBeGreaterThan(5);
    for (const e of evs) expect(e).toMatchObject({ node: 'guarded', cgroup: cg.path });
  });

  it('TCP with no token file configured: 403 for the stream and control, while /metrics and /healthz stay open', async () => {
    const r = await tcp(noToken, events(), { Authorization: `Bearer ${TOKEN}` });
    expect(r.status).toBe(403);
    expect(r.body).not.toContain('{');
    expect((await tcp(noToken, '/api/programs/x/stop', {}, 'POST')).status).toBe(403);
    expect((await tcp(noToken, '/healthz')).status).toBe(200);
    expect((await tcp(noToken, '/metrics')).status).toBe(200);
  });

  it('the unix socket needs no token, is root-only, and speaks SSE too', async () => {
    const st = fs.statSync(noToken.socket);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(0);
    const nd = await request({ socketPath: noToken.socket, path: events() });
    expect(nd.status).toBe(200);
    expect(nd.body.split('\n').filter(Boolean).length).toBeGreaterThan(5);
    const sse = await request({ socketPath: noToken.socket, path: events(), headers: { Accept: 'text/event-stream' } });
    expect(sse.headers['content-type']).toBe('text/event-stream');
    const frames = sse.body.split('\n\n').filter(Boolean);
    expect(frames[0]).toMatch(/^data: \{"type":"hello".*"node":"open"/);
    expect(frames.length).toBeGreaterThan(5);
    for (const f of frames) expect(f).toMatch(/^data: \{.*\}$/);
    // A bad filter is a 400 with the reason, not a stream.
    const bad = await request({ socketPath: noToken.socket, path: '/events?pid=abc' });
    expect(bad).toMatchObject({ status: 400, body: 'pid "abc": expected a process id (a positive integer)\n' });
  });

  it('tail --from with a wrong token stops at once with the agent\'s answer', () => {
    const wrong = path.join(dir, 'wrong');
    fs.writeFileSync(wrong, 'not-the-token-not-the-token\n');
    const r = runCli(['tail', '--from', withToken.url, '--token-file', wrong, '--json'], { timeoutMs: 10_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`forkwatch: ${withToken.url}: HTTP 401: a valid bearer token is required\n`);
  });
});
