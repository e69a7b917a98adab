/**
 * A subscriber that stops reading costs the agent a bounded queue, nothing more: the agent's memory
 * stays bounded, another subscriber keeps getting every event promptly, and when the slow one
 * reads again it is told exactly how many events it lost.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watch, type WatchEvent } from '../../src/client/watch.js';
import type { ProcessEvent } from '../../src/events/model.js';
import { timeKey } from '../../src/tail/merge.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { workload } from '../helpers/workloads.js';

const QUEUE = 1000;
const CHILDREN = 10_000; // 5,000 to warm up, then 10,000 and 30,000: 90,000 events, far more than the queue and sockets hold
const RATE = 6_000; // children a second

type Line = (ProcessEvent | { type: 'missed'; count: number } | { type: 'hello' }) & { seq?: number };

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** A reader that opens the stream and then does not read: the socket fills, the agent must cope. */
class StalledReader {
  lines: Line[] = [];
  private res?: http.IncomingMessage;
  private buf = '';
  readonly ready: Promise<void>;
  private readonly req: http.ClientRequest;

  constructor(socketPath: string, query: string) {
    this.req = http.get({ socketPath, path: `/events?${query}` }, (res) => {
      this.res = res;
      res.pause();
    });
    this.ready = new Promise((resolve, reject) => {
      this.req.once('response', () => resolve());
      this.req.on('error', reject);
    });
  }

  /** Reads again, from where it stopped. */
  resume(): void {
    this.res!.setEncoding('utf8');
    this.res!.on('data', (d: string) => {
      this.buf += d;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(JSON.parse(this.buf.slice(0, nl)) as Line);
        this.buf = this.buf.slice(nl + 1);
      }
    });
    this.res!.resume();
  }

  close(): void {
    this.req.destroy();
  }
}

describe('a subscriber that stops reading', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-slow-'));
  let agent: TestAgent;
  let cg: TestCgroup;
  let stalled: StalledReader | undefined;
  const abort = new AbortController();

  beforeAll(async () => {
    requireRoot();
    cg = TestCgroup.create('slow');
    agent = await TestAgent.start(`node_name: slow\napi:\n  socket: ${path.join(dir, 'api.sock')}\n  subscriber_queue: ${QUEUE}\n`);
  });

  afterAll(async () => {
    abort.abort();
    stalled?.close();
    await cg?.remove();
    await agent?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the agent's memory bounded, does not delay another subscriber, and counts its losses exactly", { timeout: 150_000 }, async () => {
    const forkn = workload('forkn');
    const socket = path.join(dir, 'api.sock');
    const query = `cgroup=${encodeURIComponent(cg.path)}`;

    // The reader that keeps up: every event, and when it got it.
    const fast: { e: WatchEvent; at: number }[] = [];
    void (async () => {
      for await (const e of watch({ url: `unix:${socket}`, filter: { cgroup: cg.path }, signal: abort.signal })) fast.push({ e, at: Date.now() * 1000 });
    })();
    stalled = new StalledReader(socket, query);
    await stalled.ready;
    await until(() => fast.some((f) => f.e.type === 'hello'), "the fast reader's hello");

    // Storms while the slow reader stalls: a warm-up (the agent's heap and the sockets' buffers
    // fill), then one, then three times as many events. With a bounded queue the agent's memory
    // after the third is what it was after the second; an unbounded one would grow by about 1.5 KB
    // an event (some 90 MiB).
    const pid = agent.proc.child.pid!;
    let before = 0;
    const peaks: number[] = [];
    const runs: number[] = [];
    // The workload's own exit: its parent is this process (children of forkn have forkn's pid as ppid).
    const ended = (lines: WatchEvent[], run: number) =>
      lines.some((e) => e.type === 'exit' && (e as ProcessEvent).pid === run && (e as ProcessEvent).ppid === process.pid);
    for (const children of [CHILDREN / 2, CHILDREN, 3 * CHILDREN]) {
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 50);
      const run = await cg.exec(`exec ${forkn} ${children} ${RATE}`);
      expect(run.code).toBe(0);
      await until(
        () =>
          ended(
            fast.map((f) => f.e),
            run.pid,
          ),
        'the fast reader to see the workload end',
        60_000,
      );
      clearInterval(sampler);
      if (runs.length === 0) before = rssBytes(pid);
      else peaks.push(Math.max(peak, rssBytes(pid)));
      runs.push(run.pid);
    }
    const mib = (b: number) => (b / 2 ** 20).toFixed(1);
    console.log(
      `agent RSS: ${mib(before)} MiB after the warm-up, peak ${mib(peaks[0])} MiB during ${2 * CHILDREN} events, ${mib(peaks[1])} MiB during ${6 * CHILDREN} more`,
    );
    const done = (lines: WatchEvent[]) => ended(lines, runs[2]);

    // The slow reader reads again: first what the sockets held, then the news, then the newest events.
    stalled.resume();
    await until(() => done(stalled!.lines as WatchEvent[]), 'the slow reader to see the workload end', 30_000);

    const fastEvents = fast
      .map((f) => f.e)
      .filter((e): e is ProcessEvent & { seq: number } => typeof (e as { seq?: number }).seq === 'number' && e.type !== 'hello');
    const slowLines = stalled.lines.filter((l) => l.type !== 'hello');
    const slowEvents = slowLines.filter((l): l is ProcessEvent & { seq: number } => l.type !== 'missed');
    const missedLines = slowLines.filter((l): l is { type: 'missed'; count: number } => l.type === 'missed');

    // The fast reader got everything: both records of every child, nothing missed.
    expect(fast.filter((f) => f.e.type === 'missed')).toEqual([]);
    // Pids come round again within 45,000 forks: processes are told apart by id.
    const parents = fastEvents.filter((e) => e.type === 'exec' && e.filename === forkn).map((e) => e.id);
    expect(parents).toHaveLength(3);
    for (const [i, parent] of parents.entries()) {
      const forks = new Set(fastEvents.filter((e) => e.type === 'fork' && e.parent_id === parent).map((e) => e.id));
      const exits = fastEvents.filter((e) => e.type === 'exit' && forks.has(e.id));
      expect(forks.size).toBe([CHILDREN / 2, CHILDREN, 3 * CHILDREN][i]);
      expect(exits).toHaveLength(forks.size);
    }

    // Published - received = missed, counted with seq numbers; the loss is one run of the oldest
    // events queued while it stalled, reported where it happened.
    const fastSeqs = fastEvents.map((e) => e.seq);
    const slowSeqs = slowEvents.map((e) => e.seq);
    const fastSet = new Set(fastSeqs);
    for (const s of slowSeqs) expect(fastSet.has(s)).toBe(true);
    expect(missedLines).toHaveLength(1);
    const missed = missedLines[0].count;
    expect(fastSeqs.length - slowSeqs.length).toBe(missed);
    expect(missed).toBeGreaterThan(6 * CHILDREN); // most of it
    const at = slowLines.findIndex((l) => l.type === 'missed');
    const lastBefore = (slowLines[at - 1] as { seq: number }).seq;
    const firstAfter = (slowLines[at + 1] as { seq: number }).seq;
    const i = fastSeqs.indexOf(lastBefore);
    expect(fastSeqs[i + missed + 1]).toBe(firstAfter);
    expect(slowLines.length - at - 1).toBe(QUEUE); // after the news: the newest, a full queue

    // Memory: 90,000 events (about 45 MB of JSON) were published while the reader stalled; only its
    // queue and the sockets' buffers may stay, so three times the events cost no more memory.
    expect(peaks[1] - before).toBeLessThan(64 * 2 ** 20);
    expect(peaks[1] - peaks[0]).toBeLessThan(32 * 2 ** 20);

    // No delay for the other reader: from the kernel's timestamp to its loop.
    const lat = fast
      .filter((f) => (f.e as { seq?: number }).seq !== undefined && f.e.type !== 'hello')
      .map((f) => (f.at - timeKey((f.e as ProcessEvent).time)) / 1000)
      .sort((a, b) => a - b);
    const p = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))];
    console.log(`fast reader latency ms: p50 ${p(0.5).toFixed(1)} p99 ${p(0.99).toFixed(1)} max ${lat.at(-1)!.toFixed(1)}`);
    // 1 ms at the median on a quiet machine; the bound leaves room for a CI host under load.
    expect(p(0.99)).toBeLessThan(1000);
  });
});
