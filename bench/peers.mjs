#!/usr/bin/env node
// Whole runs side by side: each workload run whole with nothing attached, with forkwatch, and with
// each peer, output to /dev/null; rounds rotate the order so drift on a noisy machine spreads
// over all tools. Then one more run per tool with output to a file, to count the events it saw
// against what the workload did.
//
// usage: node bench/peers.mjs [WORKLOAD...]     env: BENCH_ROUNDS (3), BENCH_TOOLS (all),
//        BENCH_SCALE (1), BENCH_OUT, BENCH_KEEP=1 keeps the event files
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { countFor } from './lib/count.mjs';
import { ensureTracefs } from './lib/bpf.mjs';
import { log, machine, outDir, save } from './lib/results.mjs';
import { fmt, median, pct, quantile } from './lib/stats.mjs';
import { TOOLS, execexit } from './lib/tools.mjs';
import { WORKLOADS, eventsOf, runWorkload } from './lib/workload.mjs';

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(WORKLOADS);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const wanted = (process.env.BENCH_TOOLS ?? 'forkwatch,bpftrace,forkstat,execexit').split(',');
const dir = outDir();
const raw = join(dir, 'raw');

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

async function once(tool, name, count, stdout, tag, pidFile) {
  const w = WORKLOADS[name];
  const inst = tool ? await tool.start({ stdout, stderr: join(raw, `${tag}.err`), threads: w.threads }) : null;
  try {
    const res = await runWorkload(name, count, { pidFile });
    const stop = inst ? await inst.stop() : null;
    return { res, stop };
  } catch (err) {
    if (inst) await inst.stop();
    throw err;
  }
}

const result = { machine: machine(), rounds, skipped, execexit: { mode: execexit.mode, why: execexit.why, label: execexit.label }, workloads: {} };

for (const name of names) {
  const w = WORKLOADS[name];
  if (!w) throw new Error(`unknown workload "${name}"; expected some of ${Object.keys(WORKLOADS).join(', ')}`);
  const configs = [null, ...tools];
  const runs = Object.fromEntries(configs.map((t) => [t?.id ?? 'none', []]));
  for (let r = 0; r < rounds; r++) {
    const order = configs.map((_, i) => configs[(i + r) % configs.length]);
    for (const tool of order) {
      const id = tool?.id ?? 'none';
      const { res, stop } = await once(tool, name, w.count, '/dev/null', `${name}-${id}-r${r}`);
      runs[id].push({ round: r, elapsedS: res.elapsedNs / 1e9, stop });
      log(`peers ${name} round ${r + 1}/${rounds} ${id}: ${(res.elapsedNs / 1e9).toFixed(3)} s${stop?.lost ? `, lost ${stop.lost}` : ''}`);
    }
  }
  const base = runs.none.map((x) => x.elapsedS);
  const summary = {};
  for (const tool of configs) {
    const id = tool?.id ?? 'none';
    const ts = runs[id].map((x) => x.elapsedS);
    const perRound = runs[id].map((x, i) => x.elapsedS / base[i]);
    summary[id] = {
      label: tool?.label ?? 'nothing attached',
      medianS: median(ts),
      ratio: median(ts) / median(base),
      ratioMin: Math.min(...perRound),
      ratioMax: Math.max(...perRound),
      cpuS: tool ? median(runs[id].map((x) => x.stop?.cpuS ?? NaN)) : null,
      stoppedBy: tool ? [...new Set(runs[id].map((x) => x.stop?.stoppedBy))] : null,
    };
  }
  // Counting runs: output to a file this time.
  const counts = {};
  for (const tool of tools) {
    const file = join(raw, `${name}-${tool.id}-count.out`);
    const pidFile = join(raw, `${name}-${tool.id}-count.pids`);
    const { res, stop } = await once(tool, name, w.count, file, `${name}-${tool.id}-count`, pidFile);
    counts[tool.id] = { ...countFor(tool, file, res, pidFile), eventsPerS: eventsOf(res) / (res.elapsedNs / 1e9), stop };
    const c = counts[tool.id];
    log(`peers ${name} count ${tool.id}: tasks ${c.seen.tasks ?? '-'}/${c.expected.tasks} execs ${c.seen.execs}/${c.expected.execs} exits ${c.seen.exits}/${c.expected.exits}`);
    if (process.env.BENCH_KEEP !== '1') for (const f of [file, `${file}.exec`, `${file}.exit`, pidFile]) rmSync(f, { force: true });
  }
  result.workloads[name] = { label: w.label, count: w.count, runs, summary, counts };
  save('peers', result);
}

// ---- Markdown --------------------------------------------------------------------------------
const seenCell = (c, k) => {
  if (!c) return 'n/a';
  if (c.seen[k] === null) return '—';
  if (c.expected[k] === 0 && c.seen[k] === 0) return '—';
  const miss = c.expected[k] - c.seen[k];
  return miss === 0 ? 'all' : `${c.seen[k]}/${c.expected[k]} (${((miss / c.expected[k]) * 100).toFixed(1)}% missed)`;
};
console.log(`### Whole runs side by side (median of ${rounds} rounds; ratio range over rounds)\n`);
console.log('| workload | tool | median run s | vs nothing | range | tool CPU s | creations seen | execs seen | exits seen |');
console.log('|---|---|---:|---:|---|---:|---|---|---|');
for (const [name, r] of Object.entries(result.workloads)) {
  for (const [id, s] of Object.entries(r.summary)) {
    const c = r.counts[id];
    const range = id === 'none' ? '' : `${pct(s.ratioMin)} … ${pct(s.ratioMax)}`;
    console.log(`| ${r.label} (${r.count}) | ${s.label} | ${fmt(s.medianS, 3)} | ${id === 'none' ? '1.00' : pct(s.ratio)} | ${range} | ${fmt(s.cpuS)} | ${seenCell(c, 'tasks')} | ${seenCell(c, 'execs')} | ${seenCell(c, 'exits')} |`);
  }
}
for (const [id, why] of Object.entries(skipped)) console.log(`\nNot run: ${id}: ${why}`);
if (execexit.mode === 'bt') console.log(`\nexecsnoop-bpfcc + exitsnoop-bpfcc could not start here (${execexit.why}); the row uses execsnoop.bt and bench/tools/exitsnoop.bt instead.`);
