#!/usr/bin/env node
// The OTLP half of issue 16's export benchmark: how many events a second one agent turns into
// OTLP log records and gets a collector to take, at what CPU cost to the agent, beside the same
// agent with no exporter. The collector is a receiver in this process that decodes each request
// with the official OTLP schema (the protobufjs root of otlp-transformer 0.214, a dev dependency)
// and counts the workload's records. Run as root on a built tree (`make`):
//
//   sudo node bench/export-otlp.mjs                 # about 5 minutes
//   BENCH_SCALE=0.2 sudo -E node bench/export-otlp.mjs
//   BENCH_RATES=2000,8000 BENCH_STEP_S=5 sudo -E node bench/export-otlp.mjs
//
// Prints a Markdown report on stdout; keeps it and the raw numbers in bench/results/export-otlp-<time>/.
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { forknInCgroup } from './lib/forkn.mjs';
import { cpuSeconds, run, sleep, startTool, stopTool, waitFor } from './lib/proc.mjs';
import { log, machine } from './lib/results.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const STORM = Math.round(30_000 * SCALE); // children in a storm: 2 events each
const FORKERS = Number(process.env.BENCH_FORKERS ?? 2);
const SWEEP = (process.env.BENCH_RATES ?? '1000,2000,4000,8000,16000').split(',').map(Number); // events/s
const STEP_S = Number(process.env.BENCH_STEP_S ?? 4);

if (process.getuid() !== 0) {
  process.stderr.write('bench/export-otlp: run as root (it loads BPF programs and makes a cgroup)\n');
  process.exit(1);
}
const out = join(ROOT, 'bench/results', `export-otlp-${new Date().toISOString().replace(/[:.]/g, '-')}`);
mkdirSync(out, { recursive: true });

// ---- the workload and its cgroup ------------------------------------------------------------
const { forkn, cgPath, cgDir } = await forknInCgroup('otlp');
const tmp = mkdtempSync(join(tmpdir(), 'fwbench-otlp-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

async function workload(children, rate) {
  const each = Math.ceil(children / FORKERS);
  const runs = await Promise.all(
    Array.from({ length: FORKERS }, () => run(['/bin/sh', '-c', `echo $$ > ${join(cgDir, 'cgroup.procs')} && exec ${forkn} ${each} ${rate ? rate / FORKERS : 0}`])),
  );
  const forkS = Math.max(...runs.flatMap((r) => [...r.stdout.matchAll(/forked \d+ in ([\d.]+)s/g)].map((m) => Number(m[1]))));
  return { children: each * FORKERS, forkS };
}

// ---- the collector: counts the workload's records, decoded with the official schema ---------
const root = createRequire(import.meta.url)('otlp-transformer-protobufjs/build/src/generated/root.js');
const Request = root.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
const rx = { records: 0, mine: 0, requests: 0, bytes: 0, lastAt: 0 };
const collector = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    rx.requests++;
    rx.bytes += raw.length;
    const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
    for (const rl of Request.decode(body).resourceLogs) {
      for (const sl of rl.scopeLogs) {
        for (const r of sl.logRecords) {
          rx.records++;
          if (r.attributes.some((a) => a.key === 'forkwatch.cgroup.path' && a.value.stringValue === cgPath)) {
            rx.mine++;
            rx.lastAt = Date.now();
          }
        }
      }
    }
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  });
});
await new Promise((r) => collector.listen(0, '127.0.0.1', r));
const endpoint = `http://127.0.0.1:${collector.address().port}/v1/logs`;

const freePort = () =>
  new Promise((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => r(p));
    });
  });

/** The agent's counts from /metrics (forkwatch_export_events_total, when the build has it). */
async function exportCounts(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const get = (outcome) => {
    const m = new RegExp(`^forkwatch_export_events_total\\{[^}]*exporter="otlp"[^}]*outcome="${outcome}"[^}]*\\} (\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  const lost = [...text.matchAll(/^forkwatch_events_lost_total\{[^}]*\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
  return { sent: get('sent'), dropped: get('dropped'), lost };
}

// ---- one agent per case ---------------------------------------------------------------------
const CASES = [
  { name: 'no exporter', otlp: null },
  { name: 'OTLP', otlp: { compression: 'none' } },
  { name: 'OTLP, gzip', otlp: { compression: 'gzip' } },
];

async function withAgent(c, body) {
  const port = await freePort();
  const lines = [`listen: "127.0.0.1:${port}"`, 'node_name: bench', 'api:', `  socket: ${join(tmp, 'api.sock')}`];
  // Records on demand would keep the kernel from recording what no one reads: the baseline
  // records everything too, so the rows differ by the exporter alone.
  lines.push('bpf:', '  records_on_demand: false');
  if (c.otlp) lines.push('export:', '  otlp:', `    endpoint: ${endpoint}`, `    compression: ${c.otlp.compression}`, '    flush_interval: 200ms', '    buffer: 100000');
  const cfg = join(tmp, 'forkwatch.yaml');
  writeFileSync(cfg, lines.join('\n') + '\n');
  const logFile = join(out, `agent-${c.name.replace(/\W+/g, '-')}.log`);
  const agent = startTool('forkwatch', [process.execPath, join(ROOT, 'bin/forkwatch.js'), 'run', '--config', cfg], { stderr: logFile });
  try {
    await waitFor('the agent', () => readFileSync(logFile, 'utf8').includes('serving http://'), { alive: agent.running });
    return await body(agent, port);
  } finally {
    await stopTool(agent);
  }
}

/** A workload; then until the collector has every record of it (or they stop coming for 2 s). */
async function measure(agent, port, c, children, rate) {
  const mine0 = rx.mine;
  const rx0 = { requests: rx.requests, bytes: rx.bytes, records: rx.records };
  const before = await exportCounts(port);
  const cpu0 = cpuSeconds(agent.pid);
  const t0 = Date.now();
  const w = await workload(children, rate);
  const expected = 2 * w.children;
  if (c.otlp) {
    for (let last = -1, still = 0; rx.mine - mine0 < expected && still < 10; ) {
      await sleep(200);
      still = rx.mine === last ? still + 1 : 0;
      last = rx.mine;
    }
  } else {
    await sleep(1000);
  }
  const t1 = c.otlp && rx.mine - mine0 >= expected ? rx.lastAt : Date.now();
  const cpuS = cpuSeconds(agent.pid) - cpu0;
  const after = await exportCounts(port);
  const d = (k) => (after[k] === null || before[k] === null ? null : after[k] - before[k]);
  return {
    rate,
    expected,
    forkS: w.forkS,
    received: c.otlp ? rx.mine - mine0 : null,
    wallS: (t1 - t0) / 1000,
    cpuS,
    sent: d('sent'),
    dropped: d('dropped'),
    lost: after.lost - before.lost,
    requests: rx.requests - rx0.requests,
    bytesPerRecord: rx.records > rx0.records ? (rx.bytes - rx0.bytes) / (rx.records - rx0.records) : null,
  };
}

const results = [];
for (const c of CASES) {
  await withAgent(c, async (agent, port) => {
    await sleep(1000);
    log(`${c.name}: storm of ${STORM} children`);
    const storm = await measure(agent, port, c, STORM, 0);
    const sweep = [];
    for (const rate of SWEEP) {
      log(`${c.name}: ${rate} events/s for ${STEP_S * SCALE} s`);
      const r = { ...(await measure(agent, port, c, Math.round((rate / 2) * STEP_S * SCALE), rate / 2)), rate };
      r.reached = r.expected / r.forkS >= 0.9 * rate;
      r.complete = !c.otlp || r.received >= r.expected;
      sweep.push(r);
      if (!r.reached || !r.complete) break;
    }
    results.push({ name: c.name, storm, sweep });
    writeFileSync(join(out, `${c.name.replace(/\W+/g, '-')}.json`), JSON.stringify({ storm, sweep }, null, 2) + '\n');
  });
}
collector.close();

// ---- report --------------------------------------------------------------------------------
const f = (x, d = 0) => (x === undefined || x === null || Number.isNaN(x) ? 'n/a' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const pct = (r) => `${f((100 * r.cpuS) / r.wallS)}%`;
const usPer = (r) => f((r.cpuS * 1e6) / r.expected, 1);
const m = machine();
const lines = [
  `Machine: ${m.cores} cores (${m.cpu}), Linux ${m.kernel}, Node ${m.node}, forkwatch ${m.forkwatchCommit}; load average at the end ${m.loadavg.join(' ')}.`,
  '',
  `One agent (\`bpf.records_on_demand: false\` in every row, so the kernel records the same events), a collector on loopback that decodes every request with the OTLP schema. Workload: fork+exit children (2 events each) in a cgroup of their own, from ${FORKERS} processes. The agent exports every event on the host; the counts are the workload's. CPU: the agent's (user + system) from the workload's start until the collector had its last record (100% = one core).`,
  '',
  `**Paced**: ${STEP_S * SCALE} s at each rate; a cell is the agent's CPU and its µs per event, or why the sweep stopped.`,
  '',
  `| exporter | ${SWEEP.map((r) => `${f(r)} events/s`).join(' | ')} |`,
  `|---|${SWEEP.map(() => '---').join('|')}|`,
];
for (const { name, sweep } of results) {
  const cells = SWEEP.map((rate) => {
    const r = sweep.find((x) => x.rate === rate);
    if (!r) return '';
    if (!r.reached) return `(the machine forked ${f(r.expected / r.forkS)}/s)`;
    if (!r.complete) return `behind: ${f(r.received)} of ${f(r.expected)} received${r.dropped ? `, ${f(r.dropped)} dropped` : ''}`;
    return `${pct(r)} (${usPer(r)} µs/event)`;
  });
  lines.push(`| ${name} | ${cells.join(' | ')} |`);
}
lines.push(
  '',
  `**Storm**: ${f(STORM)} children as fast as the machine forks them. events/s: the workload's events over the time from its start until the collector had the last of them (the kernel's rate for the row without an exporter).`,
  '',
  '| exporter | events/s | received | dropped (agent) | lost in the ring | agent CPU | µs per event | requests | bytes per record |',
  '|---|---|---|---|---|---|---|---|---|',
);
for (const { name, storm: s } of results) {
  const otlp = s.received !== null;
  lines.push(
    `| ${name} | ${f((otlp ? s.received : s.expected) / (otlp ? s.wallS : s.forkS))} | ${otlp ? `${f(s.received)} of ${f(s.expected)}` : '–'} | ${otlp ? f(s.dropped) : '–'} | ${f(s.lost)} | ${pct(s)} | ${usPer(s)} | ${otlp ? f(s.requests) : '–'} | ${otlp ? f(s.bytesPerRecord) : '–'} |`,
  );
}
const report = lines.join('\n') + '\n';
writeFileSync(join(out, 'report.md'), report);
writeFileSync(join(out, 'machine.json'), JSON.stringify(m, null, 2) + '\n');
process.stdout.write(report);
log(`results in ${out}`);
