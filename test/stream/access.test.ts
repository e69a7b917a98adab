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

  const tcp = (a: TestAgent, p: string, headers: Record<string, string> = {}, method = 'GET') =>
    request({ host: '127.0.0.1', port: a.port, path: p, headers, method });
  const events = () => `/events?cgroup=${encodeURIComponent(cg.path)}`;

  it('TCP without the token, or with a wrong one: 401 and not one event byte', async () => {
    for (const headers of [{}, { Authorization: `Bearer ${TOKEN.slice(0, -1)}x` }, { Authorization: TOKEN }, { Authorization: `Basic ${TOKEN}` }] as Record<
      string,
      string
    >[]) {
      const r = await tcp(withToken, events(), headers);
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer realm="forkwatch"');
      expect(r.headers['content-type']).toBe('text/plain');
      expect(r.body).toBe('a valid bearer token is required\n');
    }
    // The control API has no token here (api.control_token_file unset): refused on TCP, even with the read token.
    for (const headers of [{}, { Authorization: `Bearer ${TOKEN}` }] as Record<string, string>[]) {
      const post = await tcp(withToken, '/api/programs/x/restart', headers, 'POST');
      expect(post.status).toBe(403);
      expect(post.body).toContain('api.control_token_file');
    }
  });

  it("TCP with the token: the stream, with the workload's events", async () => {
    const r = await tcp(withToken, events(), { Authorization: `Bearer ${TOKEN}` }, 'GET');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/x-ndjson');
    const lines = r.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; node: string; cgroup?: string });
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

  it("tail --from with a wrong token stops at once with the agent's answer", () => {
    const wrong = path.join(dir, 'wrong');
    fs.writeFileSync(wrong, 'not-the-token-not-the-token\n');
    const r = runCli(['tail', '--from', withToken.url, '--token-file', wrong, '--json'], { timeoutMs: 10_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`forkwatch: ${withToken.url}: HTTP 401: a valid bearer token is required\n`);
  });
});

describe('read and control tokens', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-tokens-'));
  const READ = 'r'.repeat(8) + '0123456789abcdef0123456789';
  const CONTROL = 'c'.repeat(8) + 'fedcba9876543210fedcba9876';
  let agent: TestAgent;

  beforeAll(async () => {
    requireRoot();
    fs.writeFileSync(path.join(dir, 'read'), READ + '\n', { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'control'), CONTROL + '\n', { mode: 0o600 });
    agent = await TestAgent.start(
      `node_name: tokens\napi:\n  socket: ${path.join(dir, 'api.sock')}\n  token_file: ${path.join(dir, 'read')}\n  control_token_file: ${path.join(dir, 'control')}\n  max_subscribers: 2\n`,
    );
  });

  afterAll(async () => {
    await agent?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const tcp = (p: string, token: string | undefined, method = 'GET', forMs = 300) =>
    request({ host: '127.0.0.1', port: agent.port, path: p, method, headers: token ? { Authorization: `Bearer ${token}` } : {} }, forMs);

  it('the read token reads the stream and cannot control; the control token does both', async () => {
    expect((await tcp('/events', READ)).status).toBe(200);
    const refused = await tcp('/api/programs/none/stop', READ, 'POST');
    expect(refused.status).toBe(403);
    expect(refused.body).toBe('the read token (api.token_file) cannot control programs; send the control token (api.control_token_file)\n');
    // Past the token check: the program does not exist.
    const controlled = await tcp('/api/programs/none/stop', CONTROL, 'POST');
    expect(controlled.status).toBe(404);
    expect((await tcp('/events', CONTROL)).status).toBe(200);
    expect((await tcp('/api/programs/none/stop', undefined, 'POST')).status).toBe(401);
  });

  it('at most api.max_subscribers streams: the next is told 503, and one that ends makes room', async () => {
    const open = [http.get({ socketPath: path.join(dir, 'api.sock'), path: '/events' }), http.get({ socketPath: path.join(dir, 'api.sock'), path: '/events' })];
    const statuses = await Promise.all(open.map((r) => new Promise<number>((resolve) => r.on('response', (res) => resolve(res.statusCode!)))));
    expect(statuses).toEqual([200, 200]);
    const third = await request({ socketPath: path.join(dir, 'api.sock'), path: '/events' }, 300);
    expect(third.status).toBe(503);
    expect(third.headers['retry-after']).toBe('10');
    expect(third.body).toBe('too many /events subscribers (api.max_subscribers is 2); try again later\n');
    for (const r of open) r.destroy();
    // The agent frees a slot when it sees the stream's socket close, which it does not announce:
    // ask until it answers 200 (each 503 proves the slots are still counted, not a failure).
    const sock = path.join(dir, 'api.sock');
    let next = await request({ socketPath: sock, path: '/events' }, 300);
    for (let i = 0; i < 100 && next.status === 503; i++) {
      await new Promise((r) => setTimeout(r, 20));
      next = await request({ socketPath: sock, path: '/events' }, 300);
    }
    expect(next.status).toBe(200);
  });

  it('one token in both files is refused at start, in one line', async () => {
    fs.writeFileSync(path.join(dir, 'same'), READ + '\n', { mode: 0o600 });
    const cfg = path.join(dir, 'same.yaml');
    fs.writeFileSync(
      cfg,
      `listen: "127.0.0.1:1"\napi:\n  socket: ${path.join(dir, 'same.sock')}\n  token_file: ${path.join(dir, 'read')}\n  control_token_file: ${path.join(dir, 'same')}\n`,
    );
    const r = runCli(['run', '--config', cfg], { timeoutMs: 20_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'forkwatch: api.token_file and api.control_token_file hold the same token, so a reader could control; give the control token its own value\n',
    );
  });
});
