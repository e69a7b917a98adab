#!/usr/bin/env node
// Whole runs side by side: each workload run whole with nothing attached, with forkwatch, and with
// each peer, output to /dev/null; rounds rotate the order so drift on a noisy machine spreads
// over all tools. Then one run per tool with output to a file, to count the events it saw against
// the workload's own list of the tasks it created.
//
// Order: round 1 of every workload, the counting runs, then the remaining rounds, so that with
// BENCH_DEADLINE_S (run.sh sets it) a slow machine ends with fewer rounds, never with a workload
// or the counts missing.
//
// usage: node bench/peers.mjs [WORKLOAD...]     env: BENCH_ROUNDS (3), BENCH_TOOLS (all),
//        BENCH_SCALE (1), BENCH_OUT, BENCH_DEADLINE_S, BENCH_KEEP=1 keeps the event files
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { countFor } from './lib/count.mjs';
import { ensureTracefs } from './lib/bpf.mjs';
import { log, machine, outDir, save } from './lib/results.mjs';
import { fmt, median, pct } from './lib/stats.mjs';
import { TOOLS, execexit } from './lib/tools.mjs';
import { WORKLOADS, eventsOf, runWorkload } from './lib/workload.mjs';

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(WORKLOADS);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const wanted = (process.env.BENCH_TOOLS ?? 'forkwatch,bpftrace,forkstat,execexit').split(',');
const deadline = process.env.BENCH_DEADLINE_S ? Date.now() + Number(process.env.BENCH_DEADLINE_S) * 1000 : Infinity;
const dir = outDir();
const raw = join(dir, 'raw');
for (const name of names) {
  if (!WORKLOADS[name]) throw new Error(`unknown workload "${name}"; expected some of ${Object.keys(WORKLOADS).join(', ')}`);
}

ensureTracefs();
const tools = [];
const skipped = {};
for (const id of wanted) {
  const t = TOOLS[id];
  if (!t) throw new Error(`BENCH_TOOLS: unknown tool "${id}"; expected some of ${Object.keys(TOOLS).join(', ')}`);
  const why = t.available();
  if (why) skipped[id] = why;
  else tools.push(t);
}
if (tools.includes(execexit)) {
  log('peers: trying execsnoop-bpfcc + exitsnoop-bpfcc (bcc compiles at start)');
  const mode = await execexit.probe(raw);
  if (mode === 'bt') log(`peers: bcc pair cannot run here (${execexit.why}); using execsnoop.bt + exitsnoop.bt`);
}
const configs = [null, ...tools];
const idOf = (t) => t?.id ?? 'none';

async function once(tool, name, stdout, tag, pidFile) {
  const w = WORKLOADS[name];
  const inst = tool ? await tool.start({ stdout, stderr: join(raw, `${tag}.err`), threads: w.threads }) : null;
  try {
    const res = await runWorkload(name, w.count, { pidFile });
    const stop = inst ? await inst.stop() : null;
    return { res, stop };
  } catch (err) {
    if (inst) await inst.stop();
    throw err;
  }
}

const result = { machine: machine(), rounds, skipped, execexit: { mode: execexit.mode, why: execexit.why, label: execexit.label }, workloads: {} };
for (const name of names) {
  result.workloads[name] = { label: WORKLOADS[name].label, count: WORKLOADS[name].count, runs: Object.fromEntries(configs.map((t) => [idOf(t), []])), counts: {}, roundsDone: 0 };
}

async function round(r) {
  for (const name of names) {
    const wr = result.workloads[name];
    const order = configs.map((_, i) => configs[(i + r) % configs.length]);
    for (const tool of order) {
      const { res, stop } = await once(tool, name, '/dev/null', `${name}-${idOf(tool)}-r${r}`);
      wr.runs[idOf(tool)].push({ round: r, elapsedS: res.elapsedNs / 1e9, cpuS: res.cpuNs / 1e9, stop });
      log(`peers ${name} round ${r + 1}/${rounds} ${idOf(tool)}: ${(res.elapsedNs / 1e9).toFixed(3)} s${stop?.lost ? `, lost ${stop.lost}` : ''}`);
    }
    wr.roundsDone = r + 1;
    save('peers', result);
  }
}

async function counts() {
  for (const name of names) {
    const wr = result.workloads[name];
    for (const tool of tools) {
      const file = join(raw, `${name}-${tool.id}-count.out`);
      const pidFile = join(raw, `${name}-${tool.id}-count.pids`);
      const { res, stop } = await once(tool, name, file, `${name}-${tool.id}-count`, pidFile);
      const c = { ...countFor(tool, file, res, pidFile), eventsPerS: eventsOf(res) / (res.elapsedNs / 1e9), stop };
      wr.counts[tool.id] = c;
      log(`peers ${name} count ${tool.id}: tasks ${c.seen.tasks ?? '-'}/${c.expected.tasks} execs ${c.seen.execs}/${c.expected.execs} exits ${c.seen.exits}/${c.expected.exits}`);
      if (process.env.BENCH_KEEP !== '1') for (const f of [file, `${file}.exec`, `${file}.exit`, pidFile]) rmSync(f, { force: true });
    }
    save('peers', result);
  }
}

const t0 = Date.now();
await round(0);
await counts();
for (let r = 1; r < rounds; r++) {
  // A round takes about as long as the first one did; do not start one that cannot finish.
  const perRound = (Date.now() - t0) / (r + 1);
  if (Date.now() + perRound > deadline) {
    log(`peers: stopping after ${r} round(s): the next would pass the deadline`);
    break;
  }
  await round(r);
}

for (const wr of Object.values(result.workloads)) {
  const base = wr.runs.none;
  wr.summary = {};
  for (const tool of configs) {
    const id = idOf(tool);
    const runs = wr.runs[id];
    const pr = runs.map((x, i) => x.elapsedS / base[i].elapsedS);
    wr.summary[id] = {
      label: tool?.label ?? 'nothing attached',
      medianS: median(runs.map((x) => x.elapsedS)),
      ratio: median(runs.map((x) => x.elapsedS)) / median(base.map((x) => x.elapsedS)),
      ratioMin: Math.min(...pr),
      ratioMax: Math.max(...pr),
      cpuRatio: median(runs.map((x) => x.cpuS)) / median(base.map((x) => x.cpuS)),
      toolCpuS: tool ? median(runs.map((x) => x.stop?.cpuS ?? NaN)) : null,
      stoppedBy: tool ? [...new Set(runs.map((x) => x.stop?.stoppedBy))] : null,
    };
  }
}
result.roundsDone = Math.min(...Object.values(result.workloads).map((w) => w.roundsDone));
save('peers', result);

// ---- Markdown --------------------------------------------------------------------------------
const seenCell = (c, k) => {
  if (!c) return 'n/a';
  if (c.seen[k] === null) return 'none (cannot)';
  if (c.expected[k] === 0) return '—';
  const miss = c.expected[k] - c.seen[k];
  return miss === 0 ? 'all' : `${c.seen[k]}/${c.expected[k]} (${((miss / c.expected[k]) * 100).toFixed(1)}% missed)`;
};
console.log(`### Whole runs side by side (median of ${result.roundsDone} round(s); ratios to nothing attached)\n`);
console.log('| workload | tool | median run s | wall vs nothing | range over rounds | workload CPU vs nothing | tool CPU s | creations seen | execs seen | exits seen |');
console.log('|---|---|---:|---:|---|---:|---:|---|---|---|');
for (const r of Object.values(result.workloads)) {
  for (const [id, s] of Object.entries(r.summary)) {
    const c = r.counts[id];
    const none = id === 'none';
    console.log(
      `| ${r.label} (${r.count}) | ${s.label} | ${fmt(s.medianS, 3)} | ${none ? '1.00' : pct(s.ratio)} | ${none ? '' : `${pct(s.ratioMin)} … ${pct(s.ratioMax)}`} | ${none ? '1.00' : pct(s.cpuRatio)} | ${fmt(s.toolCpuS)} | ${seenCell(c, 'tasks')} | ${seenCell(c, 'execs')} | ${seenCell(c, 'exits')} |`,
    );
  }
}
console.log('\ntool CPU s: CPU the tool itself used during one run (its start-up left out). Events seen: from one more run per tool with output to a file, counted against the list of tasks the workload created.');
for (const [id, why] of Object.entries(skipped)) console.log(`\nNot run: ${id}: ${why}`);
if (execexit.mode === 'bt') console.log(`\nexecsnoop-bpfcc + exitsnoop-bpfcc could not start here (${execexit.why}); that row is execsnoop.bt plus bench/tools/exitsnoop.bt instead. Neither sees forks or thread exits.`);
