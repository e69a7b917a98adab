/**
 * SIGHUP and the event stream: redaction turned on applies at once to live subscribers, also to
 * what they still have queued, and a reload that changes a key read only at start is refused
 * whole, naming the key.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { workload } from '../helpers/workloads.js';

const SECRET = 'hunter2-s3cret';

/** A stream read only when `reading` is true; the socket and the agent's queue fill meanwhile. */
class Reader {
  text = '';
  res?: http.IncomingMessage;
  readonly req: http.ClientRequest;
  constructor(socketPath: string, query: string, paused: boolean) {
    this.req = http.get({ socketPath, path: `/events?${query}` }, (res) => {
      this.res = res;
      res.setEncoding('utf8').on('data', (d: string) => (this.text += d));
      if (paused) res.pause();
    });
  }
}

describe('SIGHUP with live subscribers', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-reload-'));
  const socket = path.join(dir, 'api.sock');
  const base = `node_name: reload\napi:\n  socket: ${socket}\n  subscriber_queue: 200000\n  subscriber_queue_bytes: 512MiB\n`;
  let agent: TestAgent;
  let cg: TestCgroup;
  const readers: Reader[] = [];

  beforeAll(async () => {
    requireRoot();
    cg = TestCgroup.create('reload');
    agent = await TestAgent.start(base);
  });

  afterAll(async () => {
    for (const r of readers) r.req.destroy();
    await cg?.remove();
    await agent?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('redaction turned on reaches a live reader at once, and what it had queued', { timeout: 90_000 }, async () => {
    const query = `cgroup=${encodeURIComponent(cg.path)}`;
    const live = new Reader(socket, query, false);
    const stalled = new Reader(socket, query, true);
    readers.push(live, stalled);
    await until(() => live.text.includes('"hello"') && stalled.res !== undefined, 'both streams');

    // Fill the stalled reader's socket, so what follows waits in the agent's queue.
    const fill = await cg.exec(`exec ${workload('forkn')} 20000 8000`);
    expect(fill.code).toBe(0);
    const queued = await cg.exec(`/bin/echo --password=${SECRET} >/dev/null`);
    expect(queued.code).toBe(0);
    await until(() => live.text.includes(SECRET), 'the secret, before redaction, on the live stream');

    agent.reload(`${base}  redact: ["--password=(.*)"]\n`);
    await agent.proc.logged(/SIGHUP: reloaded .* \(api settings applied to 2 live subscribers, [1-9]\d* queued events redacted again\)/);

    const before = live.text.length;
    const after = await cg.exec(`/bin/echo --password=${SECRET} again >/dev/null`);
    expect(after.code).toBe(0);
    await until(() => live.text.slice(before).includes('--password=[redacted]'), 'the redacted exec on the live stream');
    expect(live.text.slice(before)).not.toContain(SECRET);

    // The stalled reader reads again: the secret it had queued before the reload comes redacted.
    stalled.res!.resume();
    await until(() => stalled.text.includes('again'), 'the stalled reader to catch up', 60_000);
    const execs = stalled.text.split('\n').filter((l) => l.includes('--password='));
    expect(execs.length).toBeGreaterThanOrEqual(1);
    for (const l of execs) expect(l).not.toContain(SECRET);
  });

  it('a reload changing a key read only at start is refused, naming it, and nothing of it applies', async () => {
    agent.reload(`${base}bpf:\n  ring_buffer_bytes: 16MiB\ngroups:\n  - name: reload-new\n    match: { cgroup: /forkwatch-none-reload }\n`);
    await agent.proc.waitFor((p) => p.stderr.includes('only take effect at start'), 'the refusal');
    const line = agent.proc.stderr.split('\n').find((l) => l.includes('only take effect at start'))!;
    expect(line).toMatch(
      /SIGHUP: bpf\.ring_buffer_bytes changed, which only take effect at start; keeping the previous config \(restart the agent to apply it\)$/,
    );
    const groups = (await (await agent.get('/api/groups')).json()) as { name: string }[];
    expect(groups.map((g) => g.name)).not.toContain('reload-new');
  });
});
