/**
 * HTTP fuzz against the real agent: thousands of generated malformed requests (targets, methods,
 * versions, headers, huge headers, bad percent-encoding, pipelining) and slow clients. Every
 * request gets an answer, every answer is a 4xx, the agent keeps answering /healthz after each
 * batch, and its memory stays bounded.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot } from '../helpers/cgroup.js';
import { rawRequest, type RawAnswer } from '../helpers/raw-http.js';
import { seeded } from '../helpers/random.js';

const { rand, int, pick } = seeded(0x5eed);
const bytes = (n: number, alphabet?: string) =>
  Array.from({ length: n }, () => (alphabet ? alphabet[int(alphabet.length)] : String.fromCharCode(int(256)))).join('');

const URLISH = "/%?#:@[]\\.-_~!$&'()*+,;=abcXYZ019 \t\x00\x7f\xff";
const BAD_PERCENT = ['%', '%z', '%zz', '%E0%A4%A', '%C0', '%ED%A0%80', '%FF%FE', '%%', '%0', '%u0041'];

/** A target this agent cannot serve (never a real route, never a valid /events query). */
function target(): string {
  switch (int(9)) {
    case 0:
      return '//' + bytes(int(12), URLISH);
    case 1:
      return 'http://' + bytes(int(12), URLISH.replace(/[/?#]/g, '')) + '/nope';
    case 2:
      return pick(['*', 'x', '?', '#', '\\', '..', 'metrics', 'ftp://a/b']) + bytes(int(4), 'abc%?#');
    case 3:
      return `/api/programs/${pick(BAD_PERCENT)}${bytes(int(3), 'abc')}/${pick(['stop', 'start', 'restart', 'x'])}`;
    case 4:
      return `/events?zz=1&comm=${pick(BAD_PERCENT)}&${bytes(int(10), URLISH)}`;
    case 5:
      return `/events?comm=${encodeURIComponent(pick(['(a)\\1', '(?=x)', '(?<!y)z', '[', 'a{1000}', '(', 'x'.repeat(300)]))}`;
    case 6:
      return `/api/${pick(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'Groups', ''])}`;
    case 7:
      return '/nope/' + bytes(int(40), URLISH);
    default:
      return '/' + pick(BAD_PERCENT) + bytes(int(2000), 'abc%/');
  }
}

function method(): string {
  return pick([
    'GET',
    'GET',
    'POST',
    'HEAD',
    'PUT',
    'DELETE',
    'OPTIONS',
    'PATCH',
    'TRACE',
    'get',
    'G ET',
    'GET\x00',
    '',
    'CONNECT',
    'PRI',
    'X'.repeat(int(100) + 1),
    bytes(int(8)),
  ]);
}

function version(): string {
  return pick(['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.11', 'HTTPS/1.1', 'http/1.1', '', 'HTTP/1.1 extra']);
}

function headers(): string {
  const out: string[] = [];
  if (rand() < 0.9) out.push('Host: x');
  for (let i = int(6); i > 0; i--) {
    out.push(
      pick([
        `X-${bytes(int(8), 'abc')}: ${bytes(int(30), 'abc ')}`,
        `Content-Length: ${pick(['0', '-1', 'abc', '1, 2', '99999999999999999999', ''])}`,
        'Transfer-Encoding: chunked',
        'Upgrade: websocket\r\nConnection: Upgrade',
        `Transfer-Encoding: ${pick(['gzip', 'chunked, chunked', 'x'])}`,
        `Authorization: Bearer ${bytes(int(40))}`,
        `Accept: ${bytes(int(20), URLISH)}`,
        'no colon here',
        ' folded: line',
        `${bytes(int(8))}: ${bytes(int(8))}`,
        `X-Big: ${'a'.repeat(int(4000))}`,
      ]),
    );
  }
  return out.join('\r\n');
}

/** One malformed request, or a pipeline of not-found requests ending with one. */
function request(): { data: string; expect: number } {
  const kind = int(10);
  if (kind === 0) return { data: `GET / HTTP/1.1\r\nHost: x\r\nX-Huge: ${'h'.repeat(9000 + int(60_000))}\r\n\r\n`, expect: 1 };
  if (kind === 1) {
    const n = 1 + int(4);
    const ok = Array.from({ length: n }, (_, i) => `GET /no-such-${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join('');
    return { data: ok + `${method()} ${target()} ${version()}\r\n${headers()}\r\nConnection: close\r\n\r\n`, expect: n + 1 };
  }
  if (kind === 2) return { data: bytes(1 + int(300)) + '\r\n\r\n', expect: 1 };
  // Well-formed but for the target: these reach the handlers, where a per-request leak would be.
  if (kind >= 6) return { data: `${pick(['GET', 'POST', 'HEAD', 'DELETE'])} ${target()} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, expect: 1 };
  return { data: `${method()} ${target()} ${version()}\r\n${headers()}\r\nConnection: close\r\n\r\n`, expect: 1 };
}

function rss(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

const HEAP_MIB = 48;
const DIST: Record<number, number> = {};

describe('HTTP fuzz', () => {
  let agent: TestAgent;

  beforeAll(async () => {
    requireRoot();
    // A heap capped well below what a per-request leak over the run would need: a leak ends the
    // agent (out of memory) instead of hiding in RSS that V8 grows and shrinks as it likes.
    agent = await TestAgent.start('node_name: fuzz\n', [], { ...process.env, NODE_OPTIONS: `--max-old-space-size=${HEAP_MIB} --max-semi-space-size=1` });
  });

  afterAll(async () => {
    await agent?.stop();
  });

  /** Whether an answer is acceptable: all 4xx. A pipeline's last (malformed) request may be cut by a parse error Node saw first, so at least one answer. */
  const bad = (a: RawAnswer): string | undefined => {
    if (a.droppedWithoutReply) return 'dropped without a reply';
    if (a.timedOut) return 'no answer';
    const not4xx = a.statuses.filter((s) => s < 400 || s > 499);
    return not4xx.length > 0 ? `answered ${not4xx.join(',')}` : undefined;
  };

  it('answers 15,000 malformed requests with a 4xx each and keeps serving, in bounded memory', { timeout: 240_000 }, async () => {
    const pid = agent.proc.child.pid!;
    const BATCHES = 100;
    const PER_BATCH = 150;
    const CONCURRENCY = 25;
    const failures: string[] = [];
    let sent = 0;
    const rssAt: number[] = [];
    for (let b = 0; b < BATCHES; b++) {
      const reqs = Array.from({ length: PER_BATCH }, request);
      for (let i = 0; i < reqs.length; i += CONCURRENCY) {
        const answers = await Promise.all(
          reqs.slice(i, i + CONCURRENCY).map((r) => rawRequest(r.data, { port: agent.port, expect: r.expect, timeoutMs: 8000 })),
        );
        answers.forEach((a, j) => {
          const why = bad(a);
          if (why && failures.length < 20) failures.push(`${why}: ${JSON.stringify(reqs[i + j].data.slice(0, 200))} -> ${JSON.stringify(a.raw.slice(0, 120))}`);
        });
        sent += answers.length;
        for (const a of answers) for (const s of a.statuses) DIST[s] = (DIST[s] ?? 0) + 1;
      }
      const h = await fetch(`${agent.url}/healthz`, { signal: AbortSignal.timeout(5000) });
      expect(h.status, `healthz after batch ${b}`).toBe(200);
      rssAt.push(rss(pid));
    }
    expect(failures).toEqual([]);
    expect(sent).toBe(BATCHES * PER_BATCH);
    expect(agent.proc.child.exitCode).toBeNull();
    // Bounded: alive with its heap capped (checked after every batch by /healthz; 10 KB kept per
    // handled request ran it out of memory before the end), and RSS within the cap of its start.
    const mib = (x: number) => x / 2 ** 20;
    const trend = `RSS MiB: ${rssAt
      .filter((_, i) => i % 10 === 0)
      .map((x) => mib(x).toFixed(0))
      .join(' ')}; answers ${JSON.stringify(DIST)}`;
    expect(mib(Math.max(...rssAt) - rssAt[0]), trend).toBeLessThan(HEAP_MIB + 32);
  });

  it('slow clients are answered 408 once the header timeout passes, and do not hold the agent meanwhile', { timeout: 60_000 }, async () => {
    const SLOW = 40;
    const slow = Array.from({ length: SLOW }, (_, i) =>
      rawRequest(i % 2 === 0 ? `GET /healthz HTTP/1.1\r\nHost: x\r\n${'X-Slow: a\r\n'.repeat(200)}` : `GET /heal${'l'.repeat(2000)}`, {
        port: agent.port,
        chunk: { bytes: 2, everyMs: 250 },
        timeoutMs: 25_000,
      }),
    );
    // Meanwhile the agent serves others at once.
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      expect((await fetch(`${agent.url}/healthz`)).status).toBe(200);
      expect(performance.now() - started).toBeLessThan(1000);
      await new Promise((r) => setTimeout(r, 300));
    }
    const answers = await Promise.all(slow);
    for (const a of answers) expect(a.statuses, a.raw.slice(0, 100)).toEqual([408]);
  });

  it('a client that sends its headers and then a body byte by byte is answered, then cut at the request timeout', { timeout: 60_000 }, async () => {
    const started = performance.now();
    const a = await rawRequest(`POST /api/programs/x/stop HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'b'.repeat(100_000)}`, {
      port: agent.port,
      chunk: { bytes: 1, everyMs: 200 },
      timeoutMs: 40_000,
    });
    expect(a.statuses[0]).toBeGreaterThanOrEqual(400);
    expect(a.statuses[0]).toBeLessThan(500);
    expect(a.timedOut).toBe(false);
    // Closed by the agent well before the client would have finished (100,000 bytes at 5 a second).
    expect(performance.now() - started).toBeLessThan(35_000);
  });
});
