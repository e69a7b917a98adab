/**
 * Records on demand on the real kernel: the agent (composed in this process, records on demand
 * on) with a beancounter group on one cgroup this test makes and nothing on another. Without a
 * subscriber only the watched cgroup's events become records while the kernel counts every one;
 * an /events subscriber widens to all (with a rescan before its first event) and its leaving
 * narrows; thread records flow only for a subscriber that asked for threads.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The agent as `forkwatch run` composes it, in this process so the test can look at its interest
// and table; its beancounter hooks' worker is bundled from src/ (a worker cannot load TypeScript).
import { composeAgent, type ComposedAgent } from '../../src/agent/compose.js';
import { parseConfig } from '../../src/config/load.js';
import type { RawEvent } from '../../src/events/decode.js';
import { EventType, Flags } from '../../src/events/layout.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { bundleHookWorker, type BundledWorker } from '../helpers/hook-worker.js';
import { lines } from '../helpers/fake-host.js';
import { freePort } from '../helpers/net.js';
import { workload } from '../helpers/workloads.js';

const TOKEN = 'interest-test-token';

interface Stream {
  lines: Record<string, unknown>[];
  close(): void;
}

describe('records on demand (real kernel)', () => {
  let composed: ComposedAgent;
  let hookWorker: BundledWorker | undefined;
  let url = '';
  let dir = '';
  const log = lines();
  /** Every record the agent read, in order. */
  const seen: RawEvent[] = [];
  const cgroups: TestCgroup[] = [];
  let plain: TestCgroup; // no group rule: unwatched
  let capped: TestCgroup; // a beancounter group: watched

  const cgroup = (label: string) => {
    const cg = TestCgroup.create(label);
    cgroups.push(cg);
    return cg;
  };
  const agent = () => composed.agent;
  const read = () => agent().snapshot().eventsRead;
  const kernel = (id: number) =>
    agent()
      .source.counters()
      .find((r) => r.cgroupId === id);
  const exited = (pid: number) => seen.some((e) => e.type === EventType.EXIT && e.pid === pid && (e.flags & Flags.THREAD) === 0);

  async function subscribe(query = ''): Promise<Stream> {
    const ac = new AbortController();
    const res = await fetch(`${url}/events${query}`, { signal: ac.signal, headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    const out: Record<string, unknown>[] = [];
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buf += dec.decode(value, { stream: true });
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            out.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
            buf = buf.slice(i + 1);
          }
        }
      } catch {
        /* aborted */
      }
    })();
    await until(() => out.some((l) => l.type === 'hello'), 'the stream hello');
    return { lines: out, close: () => ac.abort() };
  }

  beforeAll(async () => {
    requireRoot();
    plain = cgroup('plain');
    capped = cgroup('capped');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-interest-'));
    fs.writeFileSync(path.join(dir, 'token'), TOKEN + '\n', { mode: 0o600 });
    const port = await freePort();
    const yaml = [
      `listen: "127.0.0.1:${port}"`,
      'api:',
      `  socket: ${path.join(dir, 'api.sock')}`,
      `  token_file: ${path.join(dir, 'token')}`,
      'groups:',
      '  - name: capped',
      `    match: { cgroup: "${capped.path}" }`,
      '    resources:',
      '      tasks: { limit: 5, on_limit: [kill] }',
      '  - name: late',
      `    match: { cgroup: "/forkwatch-test-late-${process.pid}-*" }`,
      '    resources:',
      '      tasks: { limit: 1000 }',
      '',
    ].join('\n');
    composed = await composeAgent(parseConfig(yaml, 'interest.yaml', { hostname: 'interest-node' }), log, {
      bpfStats: false,
      recordsOnDemand: true,
      hookWorkerUrl: (hookWorker = await bundleHookWorker()).url,
    });
    composed.agent.addListener({ onEvent: (e) => void seen.push(e) });
    await composed.serve();
    url = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await composed?.stop();
    for (const cg of cgroups.reverse()) await cg.remove();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    hookWorker?.remove();
  });

  it('without a subscriber, a fork loop in an unwatched cgroup makes no record while the kernel counts it', async () => {
    expect(agent().interest.sample()).toMatchObject({ mode: 'watched', threads: false });
    expect(agent().interest.keeps(capped.id)).toBe(true);
    expect(agent().interest.keeps(plain.id)).toBe(false);
    const before = read();
    const kBefore = kernel(plain.id);
    const loop = await plain.exec('for ((i = 0; i < 200; i++)); do /bin/true; done');
    expect(loop.code).toBe(0);
    // A marker in the watched cgroup: once its exit is read, every record written before it was.
    const marker = await capped.exec('/bin/true; exit 0');
    await until(() => exited(marker.pid), 'the marker exit');
    const after = read();
    // The marker's own records only: its child's fork, the child's and its own exits.
    expect(after.fork - before.fork).toBe(1);
    expect(after.exit - before.exit).toBe(2);
    expect(seen.some((e) => e.cgroupId === plain.id && e.type !== EventType.MIGRATE)).toBe(false);
    const k = kernel(plain.id)!;
    expect(k.forks - (kBefore?.forks ?? 0)).toBe(200);
    expect(k.exitsSuccess - (kBefore?.exitsSuccess ?? 0)).toBe(201);
    await expect(fetch(`${url}/metrics`).then((r) => r.text())).resolves.toMatch(/^forkwatch_record_interest\{[^}]*mode="watched"[^}]*\} 1$/m);
  });

  it("a beancounter group's tasks limit still acts on its watched cgroup", async () => {
    const run = capped.run('for ((i = 0; i < 10; i++)); do sleep 60 & done; wait');
    try {
      await until(() => /group capped: killed \d+ processes above its tasks limit 5/.test(log.lines.join('\n')), 'the kill action', 20_000);
      await until(() => capped.pids().length === 5, 'the group back at its limit');
    } finally {
      fs.writeFileSync(path.join(capped.dir, 'cgroup.kill'), '1');
      await new Promise((r) => run.on('exit', r));
    }
  });

  it('a cgroup a beancounter group takes after start is watched at once, its processes read from /proc', async () => {
    const late = TestCgroup.create('late');
    cgroups.push(late);
    const run = late.run('sleep 60 & exec sleep 61');
    await until(() => late.pids().length === 2, 'both sleeps in the late cgroup');
    await until(() => agent().interest.keeps(late.id), 'the late cgroup watched');
    await until(() => late.pids().every((pid) => agent().table.get(pid)?.cgroupId === late.id), 'its processes in the table');
    expect(agent().interest.sample().mode).toBe('watched');
    fs.writeFileSync(path.join(late.dir, 'cgroup.kill'), '1');
    await new Promise((r) => run.on('exit', r));
  });

  it('a subscriber widens to all and sees a process started before it connected exit as itself; its leaving narrows', async () => {
    const early = plain.run('exec sleep 60');
    const kept = plain.run('exec sleep 61');
    await until(() => plain.pids().length === 2, 'the sleeps in the plain cgroup');
    expect(agent().table.get(early.pid!)).toBeUndefined();

    const stream = await subscribe();
    try {
      expect(agent().interest.sample().mode).toBe('all');
      // The forced rescan ran before the subscriber's first event: both are known.
      const group = agent().tracker.groupOf(early.pid!)?.name;
      expect(group).toBe(plain.path);
      expect(agent().table.get(kept.pid!)?.comm).toBe('sleep');
      early.kill('SIGTERM');
      await until(() => stream.lines.some((l) => l.type === 'exit' && l.pid === early.pid), "the early sleep's exit on the stream");
      const ev = stream.lines.find((l) => l.type === 'exit' && l.pid === early.pid)!;
      expect(ev).toMatchObject({ comm: 'sleep', cgroup: plain.path, group, signal: 'SIGTERM' });
      await expect(fetch(`${url}/metrics`).then((r) => r.text())).resolves.toMatch(/^forkwatch_event_subscribers\{[^}]*\} 1$/m);
    } finally {
      stream.close();
    }
    await until(() => agent().interest.sample().mode === 'watched', 'narrowing after the subscriber left');
    // Narrowing dropped what the kernel no longer records.
    expect(agent().table.get(kept.pid!)).toBeUndefined();
    expect(agent().tracker.groupOf(kept.pid!)).toBeUndefined();
    const metrics = await fetch(`${url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/^forkwatch_event_subscribers\{[^}]*\} 0$/m);
    expect(metrics).toMatch(/^forkwatch_record_interest\{[^}]*mode="all"[^}]*\} 0$/m);
    kept.kill('SIGTERM');
    await new Promise((r) => (kept.exitCode !== null ? r(null) : kept.on('exit', r)));
  });

  it('thread records flow only while a subscriber asked for threads', async () => {
    const threads = workload('threads');
    const threadForks = (pid: number) => seen.filter((e) => e.type === EventType.FORK && e.pid === pid && (e.flags & Flags.THREAD) !== 0).length;

    const plainStream = await subscribe();
    try {
      expect(agent().interest.sample()).toMatchObject({ mode: 'all', threads: false });
      const k0 = kernel(plain.id)?.threads ?? 0;
      const run = await plain.exec(`exec ${threads} 8`);
      await until(() => exited(run.pid), 'the threads workload exit');
      expect(threadForks(run.pid)).toBe(0);
      expect(kernel(plain.id)!.threads - k0).toBe(8);

      const threadStream = await subscribe('?threads=1');
      try {
        expect(agent().interest.sample()).toMatchObject({ mode: 'all', threads: true });
        const again = await plain.exec(`exec ${threads} 8`);
        await until(() => exited(again.pid), 'the second threads workload exit');
        expect(threadForks(again.pid)).toBe(8);
        await until(
          () => threadStream.lines.filter((l) => l.type === 'fork' && l.thread === true && l.pid === again.pid).length === 8,
          'the thread forks on the stream',
        );
      } finally {
        threadStream.close();
      }
      await until(() => agent().interest.sample().threads === false, 'thread records off after the threads subscriber left');
    } finally {
      plainStream.close();
    }
    await until(() => agent().interest.sample().mode === 'watched', 'narrowing after both left');
  });
});
