#!/usr/bin/env node
// Issue 16's export numbers, one agent on this machine:
//
// 1. throughput: events/s one agent publishes to NATS JetStream (one local nats-server, a stream
//    of 1 replica, file storage) while one reader follows /events beside it (`forkwatch tail
//    --from http://… --json > /dev/null`), on the 2-parallel-fork-loops workload at full speed;
//    the agent's CPU per event with the exporter against the same run without it (the /events
//    reader alone), so the exporter's own cost is the difference. Published: Δ of
//    forkwatch_export_events_total{exporter="nats",outcome="sent"} from the workload's start
//    until nothing is queued, over that time; dropped events are reported, not hidden.
// 2. latency: kernel -> NATS consumer. A consumer in this process (an ordered consumer from
//    "now") takes every message of a paced fork loop (test/workloads/forkn.c at --rate/s); the
//    latency of one event is the wall time it arrived minus its `time` (the kernel's boot-clock
//    stamp the agent converts to wall time on this same machine). p50 / p99 / max.
//
// Each --batch value (export.nats.batch: publishes out at once; 1 is one at a time, the stream then
// in each agent's order) is a case of its own, throughput and latency; the /events-only case runs
// beside them. Cases rotate (which goes first changes each round) for --rounds rounds. Needs root,
// a built checkout (make) and nats-server (make test-deps). The coordinator runs it; tests never do.
//
// usage: sudo node bench/export.mjs [--rounds N] [--batch N[,N…]] [--count N] [--rate N] [--latency-s S] [--port P] [--nats-port P]
//        (defaults below; --batch 256,1 compares the default with one publish at a time; BENCH_OUT: results directory)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuSeconds, readText, run, sleep, startTool, stopTool, waitFor } from './lib/proc.mjs';
import { commandText, commitOf, log, machine, outDir, save } from './lib/results.mjs';
import { fmt, median, quantile } from './lib/stats.mjs';
import { FW_ROOT } from './lib/tools.mjs';
import { eventsOf, runWorkload } from './lib/workload.mjs';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    batch: { type: 'string', default: '256' },
    count: { type: 'string', default: '20000' }, // forks per loop (2 loops) in the throughput part
    rate: { type: 'string', default: '1000' }, // forks/s in the latency part
    'latency-s': { type: 'string', default: '20' },
    port: { type: 'string', default: '10597' },
    'nats-port': { type: 'string', default: '14297' },
  },
});
const num = (k) => {
  const v = Number(flags[k]);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`export: --${k} "${flags[k]}": expected a positive integer`);
    process.exit(2);
  }
  return v;
};
const [rounds, count, rate, latencyS, port, natsPort] = ['rounds', 'count', 'rate', 'latency-s', 'port', 'nats-port'].map(num);
const batches = flags.batch.split(',').map((b) => Number(b));
if (batches.some((b) => !Number.isInteger(b) || b < 1 || b > 10000)) {
  console.error(`export: --batch "${flags.batch}": expected export.nats.batch values from 1 to 10000, comma-separated`);
  process.exit(2);
}
const out = outDir();
// The workloads (fw-forkpar) are built into bench/build/, which a fresh checkout does not have.
execFileSync(join(FW_ROOT, 'bench/build.sh'), { stdio: ['ignore', 'ignore', 'inherit'] });
const work = mkdtempSync(join(tmpdir(), 'fw-bench-export-'));
const natsUrl = `nats://127.0.0.1:${natsPort}`;
const agentUrl = `http://127.0.0.1:${port}`;

// The client the agent uses, from the checkout under test.
const { connect } = await import(join(FW_ROOT, 'node_modules/@nats-io/transport-node/lib/mod.js'));
const { jetstream, DeliverPolicy } = await import(join(FW_ROOT, 'node_modules/@nats-io/jetstream/lib/mod.js'));

function metric(text, name, labels) {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && labels.every((l) => line.includes(l))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}
const scrape = async () => (await fetch(`${agentUrl}/metrics`)).text();
const exportCounts = async () => {
  const t = await scrape();
  const at = (outcome) => metric(t, 'forkwatch_export_events_total', ['exporter="nats"', `outcome="${outcome}"`]) ?? 0;
  return { sent: at('sent'), dropped: at('dropped'), queued: metric(t, 'forkwatch_export_queued_events', ['exporter="nats"']) ?? 0 };
};

async function startNats() {
  const store = join(work, `nats-${Date.now()}`);
  const h = startTool('nats-server', ['nats-server', '-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', store], {
    stderr: join(out, 'raw', 'nats-server.log'),
  });
  await waitFor('nats-server', () => /Server is ready/.test(readText(join(out, 'raw', 'nats-server.log'))), { alive: h.running });
  return { stop: () => stopTool(h).then(() => rmSync(store, { recursive: true, force: true })) };
}

/** The agent (with export.nats at this batch, or without it: null) and one /events reader beside it. */
async function startAgent(batch, tag) {
  const withNats = batch !== null;
  const config = join(work, `agent-${tag}.yaml`);
  const lines = [`listen: "127.0.0.1:${port}"`, 'node_name: bench', 'api:', `  socket: ${join(work, `api-${tag}.sock`)}`];
  if (withNats) lines.push('export:', '  nats:', `    url: ${natsUrl}`, '    stream: FWBENCH', '    max_age: 1h', `    batch: ${batch}`);
  writeFileSync(config, lines.join('\n') + '\n');
  const stderr = join(out, 'raw', `agent-${tag}.log`);
  const agent = startTool('agent', ['node', 'bin/forkwatch.js', 'run', '--config', config], { stderr, cwd: FW_ROOT });
  await waitFor('agent', () => /serving http/.test(readText(stderr)), { alive: agent.running, timeoutMs: 60000 });
  if (withNats) await waitFor('export.nats', () => /export\.nats: connected/.test(readText(stderr)), { alive: agent.running });
  const tstderr = join(out, 'raw', `tail-${tag}.log`);
  const reader = startTool('tail', ['node', 'bin/forkwatch.js', 'tail', '--from', `unix:${join(work, `api-${tag}.sock`)}`, '--json'], { stderr: tstderr, cwd: FW_ROOT });
  await waitFor('tail --from', () => /connected to/.test(readText(tstderr)), { alive: reader.running });
  return {
    pid: agent.pid,
    async stop() {
      await stopTool(reader);
      await stopTool(agent);
    },
  };
}

/** One throughput run: the workload, then until the exporter holds nothing. */
async function throughput(batch, tag) {
  const withNats = batch !== null;
  const agent = await startAgent(batch, tag);
  try {
    await sleep(2000); // start-up settles
    const before = withNats ? await exportCounts() : null;
    const cpu0 = cpuSeconds(agent.pid);
    const t0 = process.hrtime.bigint();
    const w = await runWorkload('forkpar', count);
    let counts = null;
    if (withNats)
      counts = await waitFor('queue drained', async () => ((c) => (c.queued === 0 ? c : null))(await exportCounts()), { timeoutMs: 300000, everyMs: 50 });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpuS = cpuSeconds(agent.pid) - cpu0;
    const events = eventsOf(w);
    const r = { batch, events, seconds, cpuS, cpuUsPerEvent: (cpuS / events) * 1e6, workloadS: w.elapsedNs / 1e9 };
    if (counts)
      Object.assign(r, { sent: counts.sent - before.sent, dropped: counts.dropped - before.dropped, publishedPerS: (counts.sent - before.sent) / seconds });
    return r;
  } finally {
    await agent.stop();
  }
}

/** Kernel -> NATS consumer latency on a paced fork loop. */
async function latency(batch, tag) {
  const agent = await startAgent(batch, tag);
  const nc = await connect({ servers: natsUrl });
  const forkn = join(work, 'forkn');
  execFileSync('cc', ['-O2', '-o', forkn, join(FW_ROOT, 'test/workloads/forkn.c')]);
  const lat = [];
  try {
    const c = await jetstream(nc).consumers.get('FWBENCH', { filter_subjects: 'forkwatch.>', deliver_policy: DeliverPolicy.New });
    const msgs = await c.consume();
    void (async () => {
      for await (const m of msgs) {
        const now = (performance.timeOrigin + performance.now()) * 1000; // wall µs
        const e = m.json();
        if (e.type !== 'fork' || e.comm !== 'forkn') continue;
        const ms = Date.parse(e.time);
        const us = ms * 1000 + Number((/\.(\d+)Z$/.exec(e.time)?.[1] ?? '000000').padEnd(6, '0').slice(3, 6));
        lat.push((now - us) / 1000);
      }
    })();
    await sleep(1000);
    const n = rate * latencyS;
    // In a child this process waits for without blocking: execFileSync would hold the event loop
    // for the whole run, so the consumer above would take every message only after it, and the
    // latencies would be the bench's own wait, not the agent's and the server's.
    const w = await run([forkn, String(n), String(rate)], { timeoutMs: (latencyS + 60) * 1000 });
    if (w.code !== 0) throw new Error(`${forkn} ${n} ${rate}: exit ${w.code ?? w.signal}: ${w.stderr.trim()}`);
    await waitFor('all forks at the consumer', () => lat.length >= n, { timeoutMs: 60000 }).catch(() => undefined);
    await msgs.close();
    return { batch, rate, forks: n, received: lat.length, p50Ms: quantile(lat, 0.5), p99Ms: quantile(lat, 0.99), maxMs: Math.max(...lat) };
  } finally {
    await nc.close();
    await agent.stop();
  }
}

log(`export bench: ${rounds} rounds, batch ${batches.join(', ')}, forkpar ${count} x2, latency ${rate}/s for ${latencyS}s; results in ${out}`);
const nats = await startNats();
const runs = [];
const lats = [];
const cases = [null, ...batches];
const label = (b) => (b === null ? '/events only' : `nats batch ${b} + /events`);
try {
  for (let r = 0; r < rounds; r++) {
    // Rotate which case goes first, so a drift of the machine does not favour one.
    const order = cases.map((_, i) => cases[(i + r) % cases.length]);
    for (const batch of order) {
      const res = await throughput(batch, `${r}-${batch ?? 'events'}`);
      log(
        `round ${r + 1} ${label(batch)}: ${res.events} events, ${fmt(res.cpuUsPerEvent)} µs CPU/event${batch !== null ? `, ${fmt(res.publishedPerS, 0)} published/s, ${res.dropped} dropped` : ''}`,
      );
      runs.push({ round: r + 1, ...res });
    }
    for (const batch of order.filter((b) => b !== null)) {
      const l = await latency(batch, `lat-${r}-${batch}`);
      log(`round ${r + 1} latency, batch ${batch}: p50 ${fmt(l.p50Ms)} ms, p99 ${fmt(l.p99Ms)} ms (${l.received}/${l.forks})`);
      lats.push({ round: r + 1, ...l });
    }
  }
} finally {
  await nats.stop();
  rmSync(work, { recursive: true, force: true });
}

const side = (b) => runs.filter((r) => r.batch === b);
const eventsOnlyUs = median(side(null).map((r) => r.cpuUsPerEvent));
const summary = {
  cpuUsPerEventEventsOnly: eventsOnlyUs,
  nats: batches.map((b) => {
    const l = lats.filter((x) => x.batch === b);
    const cpu = median(side(b).map((r) => r.cpuUsPerEvent));
    return {
      batch: b,
      publishedPerS: median(side(b).map((r) => r.publishedPerS)),
      dropped: side(b).reduce((a, r) => a + r.dropped, 0),
      cpuUsPerEvent: cpu,
      exporterUsPerEvent: cpu - eventsOnlyUs,
      latencyP50Ms: median(l.map((x) => x.p50Ms)),
      latencyP99Ms: median(l.map((x) => x.p99Ms)),
      latencyReceived: l.reduce((a, x) => a + x.received, 0),
      latencyForks: l.reduce((a, x) => a + x.forks, 0),
    };
  }),
};
save('export', { command: commandText(FW_ROOT), commit: commitOf(FW_ROOT), machine: machine(), flags, runs, latency: lats, summary });
const table = [
  `1 agent, 1 nats-server (stream of 1 replica), one /events reader beside it; ${rounds} rounds, medians. /events only: ${fmt(eventsOnlyUs)} µs agent CPU per event.`,
  '',
  `| export.nats.batch | events/s published | dropped (all runs) | agent CPU per event | of it the exporter's | kernel -> NATS consumer p50 / p99 at ${rate} forks/s (received) |`,
  '|---|---|---|---|---|---|',
  ...summary.nats.map(
    (s) =>
      `| ${s.batch} | ${fmt(s.publishedPerS, 0)} | ${s.dropped} | ${fmt(s.cpuUsPerEvent)} µs | ${fmt(s.exporterUsPerEvent)} µs | ${fmt(s.latencyP50Ms)} / ${fmt(s.latencyP99Ms)} ms (${s.latencyReceived} of ${s.latencyForks}) |`,
  ),
].join('\n');
writeFileSync(join(out, 'export.md'), table + '\n');
console.log(table);
