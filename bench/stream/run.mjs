#!/usr/bin/env node
// The event stream under load: how many events a second one agent streams to 1, 10 and 100
// subscribers (each with a filter), what that costs the agent in CPU, and how late an event
// reaches a subscriber's callback after the kernel saw it. Run as root on a built tree:
//
//   sudo node bench/stream/run.mjs            # about 5 minutes
//   BENCH_SCALE=0.2 sudo -E node bench/stream/run.mjs
//
// Prints a Markdown report on stdout; keeps it and the raw numbers in bench/results/stream-<time>/.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forknInCgroup } from '../lib/forkn.mjs';
import { run, sleep, startTool, stopTool, waitFor } from '../lib/proc.mjs';
import { log, machine } from '../lib/results.mjs';
import { quantile } from '../lib/stats.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const STORM = Math.round(30_000 * SCALE); // children in a throughput run: 2 events each
const PACED = Math.round(2_000 * SCALE); // children in a latency run
const PACED_RATE = 200; // children a second in a latency run: 400 events/s
const FORKERS = Number(process.env.BENCH_FORKERS ?? 2); // storm processes side by side

if (process.getuid() !== 0) {
  process.stderr.write('bench/stream: run as root (it loads BPF programs and makes a cgroup)\n');
  process.exit(1);
}
const out = join(ROOT, 'bench/results', `stream-${new Date().toISOString().replace(/[:.]/g, '-')}`);
mkdirSync(out, { recursive: true });

// ---- setup: the workload, a cgroup for it, the agent --------------------------------------
const { forkn, cgPath, cgDir } = await forknInCgroup('stream');

const tmp = mkdtempSync(join(tmpdir(), 'fwbench-stream-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const port = await new Promise((r) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => r(p));
  });
});
const socket = join(tmp, 'api.sock');
writeFileSync(join(tmp, 'forkwatch.yaml'), `listen: "127.0.0.1:${port}"\nnode_name: bench\napi:\n  socket: ${socket}\n`);
const agent = startTool('forkwatch', [process.execPath, join(ROOT, 'bin/forkwatch.js'), 'run', '--config', join(tmp, 'forkwatch.yaml')], {
  stderr: join(out, 'agent.log'),
});
await waitFor('the agent', () => readFileSync(join(out, 'agent.log'), 'utf8').includes('serving http://'), { alive: agent.running });
log(`agent pid ${agent.pid} on ${socket}`);

const cpuS = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100; // utime + stime, clock ticks
};
const lostTotal = async () => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return [...text.matchAll(/^forkwatch_events_lost_total\{[^}]*\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
};

/** Runs forkn in the cgroup (`forkers` of them side by side, sharing the children); resolves when all have exited. */
async function workload(children, rate, forkers = 1) {
  const each = Math.ceil(children / forkers);
  const runs = await Promise.all(
    Array.from({ length: forkers }, () => run(['/bin/sh', '-c', `echo $$ > ${join(cgDir, 'cgroup.procs')} && exec ${forkn} ${each} ${rate ? rate / forkers : 0}`])),
  );
  return { stdout: runs.map((r) => r.stdout.trim()).join('; '), children: each * forkers };
}

/** One measurement: readers connected, a workload, readers drained; agent CPU over the whole. */
async function measure(name, specs, mode, children, rate, forkers = 1) {
  let reader;
  let ready = Promise.resolve();
  if (specs.length) {
    reader = spawn(process.execPath, [join(HERE, 'reader.mjs'), socket, mode, ...specs], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    ready = new Promise((resolve, reject) => {
      reader.stderr.on('data', (d) => {
        err += d;
        if (err.includes('ready')) resolve();
      });
      reader.on('exit', () => reject(new Error(`reader exited: ${err}`)));
    });
  }
  await ready;
  await sleep(500);
  const lost0 = await lostTotal();
  const cpu0 = cpuS(agent.pid);
  const t0 = Date.now();
  const w = await workload(children, rate, forkers);
  const expected = 2 * w.children;
  const t1 = Date.now();
  // Until every matching subscriber has all it will get (the agent is behind a storm for a while).
  let summary;
  if (reader) {
    let stdout = '';
    reader.stdout.on('data', (d) => (stdout += d));
    // Drained when the subscribers' count stops moving for a second (or after 60 s).
    let err = '';
    reader.stderr.on('data', (d) => (err += d));
    const count = async () => {
      const before = err.length;
      reader.kill('SIGUSR1');
      await waitFor('the reader\'s count', () => err.length > before && err.endsWith('\n'), { everyMs: 20, timeoutMs: 10_000 });
      return Number(/count (\d+)\n$/.exec(err)?.[1]);
    };
    for (let last = -1, stable = 0, i = 0; stable < 5 && i < 300; i++) {
      await sleep(200);
      const n = await count();
      stable = n === last ? stable + 1 : 0;
      last = n;
    }
    const cpu1 = cpuS(agent.pid);
    const t2 = Date.now();
    const exited = new Promise((r) => reader.on('exit', r));
    reader.kill('SIGUSR2');
    await exited;
    summary = JSON.parse(stdout);
    summary.agentCpuS = cpu1 - cpu0;
    summary.wallS = (t2 - t0) / 1000;
  } else {
    await sleep(1000);
    summary = { subs: [], latUs: [], cpuS: 0, agentCpuS: cpuS(agent.pid) - cpu0, wallS: (Date.now() - t0) / 1000 };
  }
  summary.lost = (await lostTotal()) - lost0;
  summary.workloadS = (t1 - t0) / 1000;
  summary.expected = expected;
  summary.workload = w.stdout.trim();
  writeFileSync(join(out, `${name}.json`), JSON.stringify(summary) + '\n');
  return summary;
}

const slug = (name) => name.replace(/[ ,]+/g, '-');
const match = `cgroup=${encodeURIComponent(cgPath)}`;
const never = 'comm=%5Enever-matches%24';
const CASES = [
  { name: '0 subscribers', specs: [] },
  { name: '1 subscriber', specs: [`1:${match}`] },
  { name: '10 subscribers', specs: [`10:${match}`] },
  { name: '100 subscribers', specs: [`100:${match}`] },
  { name: '100 subscribers, 99 filtered out', specs: [`1:${match}`, `99:${never}`] },
];

const f = (x, d = 0) => (x === undefined || x === null || Number.isNaN(x) ? 'n/a' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const SWEEP = (process.env.BENCH_RATES ?? '1000,2000,4000,8000,16000').split(',').map(Number); // events/s
const STEP_S = Number(process.env.BENCH_STEP_S ?? 4);

const rows = [];
for (const c of CASES) {
  log(`${c.name}: storm of ${STORM} children`);
  const storm = await measure(`storm-${slug(c.name)}`, c.specs, 'count', STORM, 0, FORKERS);
  // Paced rates, up to the first that a subscriber cannot keep up with, the ring loses, or the
  // machine cannot fork.
  const sweep = [];
  for (const rate of SWEEP) {
    const children = Math.round((rate / 2) * STEP_S * SCALE);
    log(`${c.name}: ${rate} events/s for ${STEP_S * SCALE} s`);
    const r = await measure(`rate-${rate}-${slug(c.name)}`, c.specs, 'count', children, rate / 2, FORKERS);
    // The rate the forkers kept, by their own timing (process start-up is not in it).
    r.forkS = Math.max(...[...r.workload.matchAll(/forked \d+ in ([\d.]+)s/g)].map((m) => Number(m[1])));
    r.reached = r.expected / r.forkS >= 0.9 * rate;
    r.missed = r.subs.reduce((a, x) => a + x.missed, 0);
    // Each matching subscriber got every event (none missed, none still owed), the ring lost none.
    r.clean = r.lost === 0 && r.subs.every((x) => x.missed === 0 && (!x.query.startsWith('cgroup=') || x.events >= r.expected));
    sweep.push({ rate, r });
    if (!r.clean || !r.reached) break;
  }
  log(`${c.name}: ${PACED} children at ${PACED_RATE}/s`);
  const l = c.specs.length ? await measure(`latency-${slug(c.name)}`, c.specs, 'latency', PACED, PACED_RATE) : null;
  rows.push({ name: c.name, storm, sweep, l });
}
await stopTool(agent);

// ---- report --------------------------------------------------------------------------------
const delivered = (r) => r.subs.reduce((a, s) => a + s.events, 0);
// The agent's CPU over a run: from the workload's start until the subscribers had all of it.
const cpu = (r) => `${f((100 * r.agentCpuS) / r.wallS)}%`;
const m = machine();
const lines = [
  `Machine: ${m.cores} cores (${m.cpu}), Linux ${m.kernel}, Node ${m.node}, forkwatch ${m.forkwatchCommit}; load average at the end ${m.loadavg.join(' ')} (other work on the machine included).`,
  '',
  `Subscribers: connections to the agent's unix socket, all in one reader process that counts lines without parsing them. They filter by the workload's cgroup (\`cgroup=\`), except in the last row where 99 of them filter by a command name nothing has (\`comm=^never-matches$\`). Workload: fork+exit children (2 events each) in a cgroup of their own, from ${FORKERS} processes.`,
  '',
  `**Paced**: ${STEP_S * SCALE} s at each rate of published events; a cell is the agent's CPU over the run (from the workload's start until the subscribers had all of it; 100% = one core; it includes the agent's work for everything else the machine runs, which the row without subscribers shows), or why the sweep stopped there. Every subscriber received every event in each cell with a figure.`,
  '',
  `| subscribers | ${SWEEP.map((r) => `${f(r)} events/s`).join(' | ')} |`,
  `|---|${SWEEP.map(() => '---').join('|')}|`,
];
for (const { name, sweep } of rows) {
  const cells = SWEEP.map((rate) => {
    const s = sweep.find((x) => x.rate === rate);
    if (!s) return '';
    const r = s.r;
    if (!r.reached) return `(the machine forked ${f(r.expected / r.forkS)}/s)`;
    if (!r.clean) return r.lost ? `${f(r.lost)} lost in the ring` : r.missed ? `${f(r.missed)} missed` : `behind: ${f(delivered(r))} of ${f(r.expected * r.subs.length)} delivered`;
    return `${cpu(r)}${r.subs.length > 1 ? ` (${f(delivered(r) / r.forkS)} deliveries/s)` : ''}`;
  });
  lines.push(`| ${name} | ${cells.join(' | ')} |`);
}
lines.push(
  '',
  `**Storm**: ${f(STORM)} children as fast as the machine forks them; a subscriber that cannot keep up loses its oldest events and is told how many. **Latency**: ${f(PACED)} children at ${PACED_RATE}/s; each subscriber parses each event and compares its \`time\` (the kernel's timestamp) with its own clock when its callback runs.`,
  '',
  '| subscribers | storm: events/s | storm: delivered/s to each (median) | storm: missed by slow subscribers, lost in the ring | storm: agent CPU | latency p50 | latency p99 | latency max |',
  '|---|---|---|---|---|---|---|---|',
);
for (const { name, storm, l } of rows) {
  const matching = storm.subs.filter((s) => s.query.startsWith('cgroup='));
  const rate = (s) => (s.last > s.first ? s.events / ((s.last - s.first) / 1e6) : NaN);
  const each = matching.length ? quantile(matching.map(rate), 0.5) : NaN;
  const missed = storm.subs.reduce((a, s) => a + s.missed, 0);
  const lat = l?.latUs ?? [];
  const ms = (q) => (lat.length ? `${f(quantile(lat, q) / 1000, 1)} ms` : 'n/a');
  lines.push(
    `| ${name} | ${f(storm.expected / storm.workloadS)} | ${f(each)} | ${storm.subs.length ? f(missed) : '–'}, ${f(storm.lost)} | ${cpu(storm)} | ${ms(0.5)} | ${ms(0.99)} | ${ms(1)} |`,
  );
}
const report = lines.join('\n') + '\n';
writeFileSync(join(out, 'report.md'), report);
writeFileSync(join(out, 'machine.json'), JSON.stringify(m, null, 2) + '\n');
process.stdout.write(report);
log(`results in ${out}`);
