/**
 * A regex from the network must not stall the agent: `/events?comm=(.*){12}x` backtracks for
 * seconds on every 15-character name under a backtracking engine. Subscribed while a process with
 * a 15-character name forks, /healthz must still answer promptly.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';

const NAME = 'abcdefghijklmno'; // 15 characters: all of comm

describe('a catastrophic regex in /events', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-stall-'));
  let agent: TestAgent;
  let cg: TestCgroup;
  let req: http.ClientRequest | undefined;

  beforeAll(async () => {
    requireRoot();
    cg = TestCgroup.create('stall');
    agent = await TestAgent.start(`node_name: stall\napi:\n  socket: ${path.join(dir, 'api.sock')}\n`);
    fs.copyFileSync(execFileSync('sh', ['-c', 'command -v dash || command -v sh'], { encoding: 'utf8' }).trim(), path.join(dir, NAME));
    fs.chmodSync(path.join(dir, NAME), 0o755);
  });

  afterAll(async () => {
    req?.destroy();
    await cg?.remove();
    await agent?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('does not delay /healthz while processes with 15-character names fork', { timeout: 60_000 }, async () => {
    let received = '';
    let status = 0;
    req = http.get(
      { socketPath: path.join(dir, 'api.sock'), path: `/events?cgroup=${encodeURIComponent(cg.path)}&comm=${encodeURIComponent('(.*){12}x')}` },
      (res) => {
        status = res.statusCode!;
        res.setEncoding('utf8').on('data', (d: string) => (received += d));
      },
    );
    await until(() => received.includes('"hello"'), 'the stream to open');
    expect(status).toBe(200);

    // A shell named with 15 characters forks /bin/true over and over: every fork and exit carries its name.
    const forker = cg.run(`exec ${path.join(dir, NAME)} -c 'while :; do /bin/true; done'`);
    try {
      await new Promise((r) => setTimeout(r, 500));
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        const r = await fetch(`${agent.url}/healthz`, { signal: AbortSignal.timeout(20_000) });
        expect(r.status).toBe(200);
        times.push(performance.now() - started);
        await new Promise((r) => setTimeout(r, 100));
      }
      // Healthy is milliseconds; the backtracking engine took seconds per event.
      expect(Math.max(...times), `healthz times ${times.map((t) => t.toFixed(0)).join(' ')} ms`).toBeLessThan(1500);
      // The regex ran against those names (the cgroup filter passes them to it): none has an x.
      expect(received.split('\n').filter((l) => l.includes('"comm"'))).toEqual([]);
    } finally {
      forker.kill('SIGKILL');
    }
  });
});
