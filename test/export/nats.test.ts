/**
 * export.nats against a real three-node JetStream cluster on loopback (Debian's nats-server):
 * two agents publish a workload's events into a stream of 3 replicas while one NATS node is
 * killed mid-run, and every event arrives once, each naming its predecessor in the agent's order
 * (the stream's own order may differ around the failure); with every node down an
 * agent keeps running, its buffer stays at its bound and its drop count is exact (what the
 * stream holds once the nodes are back, plus the drops, is the workload); `forkwatch tail --from
 * nats://` replays the workload from --since, in time order and each agent's events in its order,
 * and a durable consumer resumes.
 */
import { spawn } from 'node:child_process';
import { jetstream, jetstreamManager, DeliverPolicy } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREV_HEADER, subjectToken } from '../../src/export/nats-wire.js';
import { timeKey } from '../../src/tail/merge.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { CliProcess } from '../helpers/cli.js';
import { NatsCluster } from '../helpers/nats.js';
import { freePort } from '../helpers/net.js';
import { workload } from '../helpers/workloads.js';
import { metric, scrapeUntil } from '../kernel/scrape.js';

interface Ev {
  type: string;
  node: string;
  seq: number;
  time: string;
  pid: number;
  cgroup?: string;
}

/** Every message of the stream, in stream order, with the seq of the event its agent exported before it. */
async function readStream(urls: string[], stream: string): Promise<{ subject: string; ev: Ev; prev: number }[]> {
  const nc = await connect({ servers: urls });
  try {
    // Right after a node is lost the cluster may still be electing leaders (seconds under the
    // suite's load), and a request then times out: ask again.
    let total = 0;
    let c;
    for (let tries = 1; ; tries++) {
      try {
        const jsm = await jetstreamManager(nc);
        total = (await jsm.streams.info(stream)).state.messages;
        if (total > 0) c = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
        break;
      } catch (err) {
        if (tries >= 30) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    const out: { subject: string; ev: Ev; prev: number }[] = [];
    if (total === 0 || !c) return out;
    const msgs = await c.consume();
    for await (const m of msgs) {
      out.push({ subject: m.subject, ev: m.json<Ev>(), prev: Number(m.headers?.get(PREV_HEADER)) });
      if (m.info.pending === 0) break;
    }
    await msgs.close();
    return out;
  } finally {
    await nc.close();
  }
}

/** forkn N [rate] in the cgroup: N forks, N+1 exits (the children and forkn), forkn's exec, and sh's move in. */
const storm = (cg: TestCgroup, n: number, rate = 0) =>
  new Promise<number | null>((resolve) => {
    const c = spawn('/bin/sh', ['-c', `echo $$ > ${cg.dir}/cgroup.procs && exec ${workload('forkn')} ${n} ${rate}`], { stdio: 'ignore' });
    c.on('exit', (code) => resolve(code));
  });
const workloadEvents = (n: number) => ({ fork: n, exit: n + 1, exec: 1, migrate: 1 });
const byType = (evs: Ev[]) => {
  const c: Record<string, number> = {};
  for (const e of evs) c[e.type] = (c[e.type] ?? 0) + 1;
  return c;
};

describe('subjectToken', () => {
  it.each([
    ['web-1', 'web-1'],
    ['host.example.com', 'host%2Eexample%2Ecom'],
    ['a*b>c d', 'a%2Ab%3Ec%20d'],
    ['', '%00'],
    ['ü', '%C3%BC'],
  ])('%j -> %j', (s, want) => expect(subjectToken(s)).toBe(want));
});

describe('export.nats to a three-node JetStream cluster', () => {
  let nats: NatsCluster;
  let cg: TestCgroup;
  let alpha: TestAgent;
  let beta: TestAgent;
  let before: string;
  const N = 3000;

  const natsConfig = (node: string, extra = '') =>
    `node_name: ${node}\nexport:\n  nats:\n    url: [${nats.urls.join(', ')}]\n    stream: FW\n    replicas: 3\n    filter:\n      cgroup: ${cg.path}\n${extra}`;

  beforeAll(async () => {
    requireRoot();
    nats = await NatsCluster.start(3);
    cg = TestCgroup.create('export-nats');
    [alpha, beta] = await Promise.all([TestAgent.start(natsConfig('alpha')), TestAgent.start(natsConfig('beta.example'))]);
    // Both agents have the stream (one made it).
    await until(
      () => alpha.proc.stderr.includes('export.nats: connected') && beta.proc.stderr.includes('export.nats: connected'),
      'both agents connected',
      20_000,
    );
  }, 60_000);

  afterAll(async () => {
    await alpha?.stop();
    await beta?.stop();
    await cg?.remove();
    await nats?.stop();
  });

  it("every event of a workload arrives once, each linked to its agent's previous one, while one NATS node is killed mid-run", async () => {
    before = new Date().toISOString();
    const run = storm(cg, N, 1500); // about 2 s
    await new Promise((r) => setTimeout(r, 700));
    await nats.kill(0);
    try {
      expect(await run).toBe(0);
      await checkArrived();
    } finally {
      await nats.restart(0);
    }
  }, 120_000);

  async function checkArrived(): Promise<void> {
    for (const a of [alpha, beta]) {
      const text = await scrapeUntil(
        a,
        (t) =>
          metric(t, 'forkwatch_export_queued_events', 'exporter="nats"') === 0 &&
          (metric(t, 'forkwatch_export_events_total', 'exporter="nats",outcome="sent"') ?? 0) >= 2 * N + 3,
      );
      expect(metric(text, 'forkwatch_export_events_total', 'exporter="nats",outcome="sent"')).toBe(2 * N + 3);
      expect(metric(text, 'forkwatch_export_events_total', 'exporter="nats",outcome="dropped"')).toBe(0);
    }
    const msgs = await readStream(nats.urls.slice(1), 'FW');
    for (const node of ['alpha', 'beta.example']) {
      const mine = msgs.filter((m) => m.ev.node === node);
      expect(byType(mine.map((m) => m.ev))).toEqual(workloadEvents(N));
      for (const m of mine) expect(m.subject).toBe(`forkwatch.${subjectToken(node)}.${m.ev.type}`);
      const seqs = mine.map((m) => m.ev.seq);
      expect(new Set(seqs).size).toBe(seqs.length); // once
      // Around the killed node later events may be stored before retried earlier ones; the chain
      // of predecessors is whole, which is what readers (tail, next test) restore the order by.
      const chain = [...mine].sort((a, b) => a.ev.seq - b.ev.seq);
      expect(chain.map((m) => m.prev)).toEqual([0, ...chain.slice(0, -1).map((m) => m.ev.seq)]);
    }
    // Both agents saw the same processes.
    const pids = (node: string) =>
      msgs
        .filter((m) => m.ev.node === node && m.ev.type === 'fork')
        .map((m) => m.ev.pid)
        .sort();
    expect(pids('alpha')).toEqual(pids('beta.example'));
  }

  it('tail --from nats:// replays the workload from --since, in time order, each agent in its order; a durable consumer resumes', async () => {
    // The node killed mid-run held stream leaders: one agent's events waited for the election
    // (seconds) and landed in the stream after the other's later ones. The window, in event
    // time, has to cover that.
    const natsTail = (...args: string[]) => new CliProcess(['tail', '--stream', 'FW', '--since', before, '--cgroup', cg.path, '--json', ...args]);
    const tail = natsTail('--from', nats.url(1), '--from', nats.url(2), '--duration', '8', '--window', '15');
    const r = await tail.exited;
    expect(r.code, tail.stderr).toBe(0);
    const evs = tail.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Ev);
    for (const node of ['alpha', 'beta.example']) {
      const mine = evs.filter((e) => e.node === node);
      expect(byType(mine)).toEqual(workloadEvents(N));
      const seqs = mine.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
    // In time order across agents; an agent's own order wins where two of its CPUs stamped
    // records a few µs out of order (1 ms is far more than that).
    let latest = 0;
    for (const e of evs) {
      expect(timeKey(e.time)).toBeGreaterThanOrEqual(latest - 1000);
      latest = Math.max(latest, timeKey(e.time));
    }

    // A durable: the first run shows 100 and stops; the second goes on from the 101st.
    const durable = (count: number) => natsTail('--from', nats.url(0), '--events', 'fork', '--durable', 'reader1', '--count', String(count), '--window', '0');
    const first = durable(100);
    expect((await first.exited).code, first.stderr).toBe(0);
    const second = durable(100);
    expect((await second.exited).code, second.stderr).toBe(0);
    const key = (l: string) => {
      const e = JSON.parse(l) as Ev;
      return `${e.node}/${e.seq}`;
    };
    const a = first.stdout.trim().split('\n').map(key);
    const b = second.stdout.trim().split('\n').map(key);
    expect(a).toHaveLength(100);
    expect(b).toHaveLength(100);
    expect(a.filter((k) => b.includes(k))).toEqual([]);
  }, 60_000);

  it('with every NATS node down the agent runs on, its buffer stays at its bound, and the drops are exact', async () => {
    const cg2 = TestCgroup.create('export-nats-down');
    const gamma = await TestAgent.start(
      `node_name: gamma\nexport:\n  nats:\n    url: [${nats.urls.join(', ')}]\n    stream: FW\n    replicas: 3\n    buffer_events: 500\n    filter:\n      cgroup: ${cg2.path}\n`,
    );
    try {
      await until(() => gamma.proc.stderr.includes('export.nats: connected'), 'gamma connected', 20_000);
      await Promise.all([0, 1, 2].map((i) => nats.kill(i)));
      const M = 2000;
      expect(await storm(cg2, M)).toBe(0);
      const K = 2 * M + 3;
      const text = await scrapeUntil(gamma, (t) => (metric(t, 'forkwatch_export_events_total', 'exporter="nats",outcome="dropped"') ?? 0) >= K - 500);
      expect(metric(text, 'forkwatch_export_queued_events', 'exporter="nats"')).toBe(500);
      expect(metric(text, 'forkwatch_export_events_total', 'exporter="nats",outcome="dropped"')).toBe(K - 500);
      expect(metric(text, 'forkwatch_export_events_total', 'exporter="nats",outcome="sent"')).toBe(0);
      expect((await gamma.get('/healthz')).status).toBe(200);
      expect(gamma.proc.child.exitCode).toBeNull();

      await Promise.all([0, 1, 2].map((i) => nats.restart(i)));
      const after = await scrapeUntil(gamma, (t) => metric(t, 'forkwatch_export_queued_events', 'exporter="nats"') === 0);
      expect(metric(after, 'forkwatch_export_events_total', 'exporter="nats",outcome="sent"')).toBe(500);
      const stored = (await readStream(nats.urls, 'FW')).filter((m) => m.ev.node === 'gamma').map((m) => m.ev);
      // The newest 500 of the workload, once each: with the drops, the whole workload.
      expect(stored).toHaveLength(500);
      expect(new Set(stored.map((e) => e.seq)).size).toBe(500);
      expect(stored.at(-1)!.type).toBe('exit');
      expect(stored.length + K - 500).toBe(K);
    } finally {
      await gamma.stop();
      await cg2.remove();
    }
  }, 120_000);
});

describe('export.nats when no server ever answers', () => {
  it('the agent serves, holds buffer_events, counts the rest dropped, and stops at once', async () => {
    requireRoot();
    const cg = TestCgroup.create('export-nats-none');
    const port = await freePort(); // nothing listens there
    const agent = await TestAgent.start(
      `node_name: lonely\nexport:\n  nats:\n    url: nats://127.0.0.1:${port}\n    buffer_events: 100\n    filter:\n      cgroup: ${cg.path}\n`,
    );
    try {
      const M = 200;
      expect(await storm(cg, M)).toBe(0);
      const K = 2 * M + 3;
      const text = await scrapeUntil(agent, (t) => metric(t, 'forkwatch_export_events_total', 'exporter="nats",outcome="dropped"') === K - 100);
      expect(metric(text, 'forkwatch_export_events_total', 'exporter="nats",outcome="dropped"')).toBe(K - 100);
      expect(metric(text, 'forkwatch_export_queued_events', 'exporter="nats"')).toBe(100);
      expect(metric(text, 'forkwatch_export_events_total', 'exporter="nats",outcome="sent"')).toBe(0);
      expect((await agent.get('/healthz')).status).toBe(200);
      expect(agent.proc.stderr.match(/export\.nats: cannot connect/g)).toHaveLength(1);
      const t0 = Date.now();
      expect((await agent.stop()).code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      if (agent.proc.child.exitCode === null) await agent.stop();
      await cg.remove();
    }
  }, 60_000);
});
