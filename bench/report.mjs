#!/usr/bin/env node
// Puts one bench run together: a summary against the targets, then each measurement's own table
// (the .md files the scripts wrote). Reads only the run's files, so it can be rerun at any time.
//
// usage: node bench/report.mjs RESULTS_DIR
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from './lib/results.mjs';
import { fmt, pct } from './lib/stats.mjs';

const dir = process.argv[2] ?? process.env.BENCH_OUT;
if (!dir || !existsSync(dir)) {
  console.error('usage: node bench/report.mjs RESULTS_DIR (a directory bench/run.sh wrote)');
  process.exit(2);
}
const bpf = load(dir, 'bpf-cost');
const ovh = load(dir, 'overhead');
const peers = load(dir, 'peers');
const loss = load(dir, 'lossless');
const m = bpf?.machine ?? ovh?.machine ?? peers?.machine ?? loss?.machine;

const rows = [];
const verdict = (ok, miss) => (ok ? 'met' : `**missed**${miss ? ` (${miss})` : ''}`);

if (bpf?.workloads) {
  for (const r of Object.values(bpf.workloads)) {
    const ok = r.nsPerRun <= bpf.targetNs;
    rows.push([`BPF time per program run, ${r.label}`, `${fmt(r.nsPerRun, 0)} ns`, `≤ ${bpf.targetNs} ns`, verdict(ok, `${fmt(r.nsPerRun / bpf.targetNs, 1)}× the target`)]);
  }
} else rows.push(['BPF time per event', bpf?.skipped ?? 'not run', '≤ 600 ns', '—']);

const OVH_TARGET = { forkexit: 0.01, forkexec: 0.01, threads: 0.04 };
if (ovh?.workloads) {
  for (const [name, r] of Object.entries(ovh.workloads)) {
    const t = OVH_TARGET[name];
    const cpu = r.cpuMedianRatio === undefined ? '' : `; workload CPU ${pct(r.cpuMedianRatio)} (${pct(r.cpuP25)} … ${pct(r.cpuP75)})`;
    const got = `wall ${pct(r.medianRatio)} (middle half ${pct(r.p25)} … ${pct(r.p75)}, ${r.pairs ?? r.ratios?.length} pairs)${cpu}`;
    if (t === undefined) rows.push([`Overhead, ${r.label}`, got, 'none set', '—']);
    else {
      const over = r.medianRatio - 1;
      // A middle half wider than the target itself cannot settle it either way.
      const noisy = r.p75 - r.p25 > t;
      const v = verdict(over < t, `by ${((over - t) * 100).toFixed(1)} points`);
      rows.push([`Overhead, ${r.label}`, got, `< ${t * 100}%`, noisy ? `${v}, but the pairs spread wider than the target: not conclusive` : v]);
    }
  }
} else rows.push(['Workload overhead', ovh?.skipped ?? 'not run', '< 1% / < 4%', '—']);

if (loss?.steps) {
  const passed = loss.steps.filter((s) => s.pass);
  const failed = loss.steps.filter((s) => !s.pass);
  const top = Math.max(0, ...passed.map((s) => s.peak));
  const reached = Math.max(0, ...loss.steps.map((s) => s.peak));
  let v;
  if (failed.length) v = `**missed**: lost events at ${Math.round(Math.min(...failed.map((s) => s.peak)))} events/s`;
  else if (reached < 90000) v = `nothing lost, but this machine reached only ${Math.round(reached)} events/s: 90,000 not tested`;
  else v = 'met';
  rows.push(['Events lost with the default ring buffer', `0 lost up to ${Math.round(top)} events/s (busiest second)`, '0 up to 90,000 events/s', v]);
} else rows.push(['Events lost', loss?.skipped ?? 'not run', '0 up to 90,000 events/s', '—']);

console.log(`## forkwatch event pipeline: bench run of ${m?.date ?? 'unknown date'}\n`);
if (m) console.log(`Machine: ${m.cpu}, ${m.cores} cores, kernel ${m.kernel}, Node ${m.node}; forkwatch ${m.forkwatchCommit ?? '?'}; load average at start ${m.loadavg?.join(' ')}.\n`);
const steps = { 'bpf-cost': bpf, overhead: ovh, peers, lossless: loss };
const busy = Object.entries(steps).filter(([, r]) => r?.machine);
if (busy.length) {
  console.log('Other BPF tracers on the process tracepoints and load average when each step began (they run on every fork, "nothing attached" included):\n');
  for (const [name, r] of busy) {
    const o = r.machine.otherTracers;
    console.log(`- ${name}: load ${r.machine.loadavg?.join(' ')}; ${o === null || o === undefined ? 'unknown' : o.length ? `${o.length} other tracer process(es): ${o.map((x) => x.cmd).join('; ')}` : 'no other tracers'}`);
  }
  console.log('');
}
console.log('| measure | result | target | verdict |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);

if (peers?.workloads) {
  console.log(`\nPeers, whole runs (median of ${peers.roundsDone ?? peers.rounds} round(s), wall time against nothing attached; "saw": the workload's creations, execs and exits found in the tool's output):\n`);
  const ids = [...new Set(Object.values(peers.workloads).flatMap((w) => Object.keys(w.summary)))].filter((i) => i !== 'none');
  const label = (id) => Object.values(peers.workloads).map((w) => w.summary[id]?.label).find(Boolean) ?? id;
  console.log(`| workload | ${ids.map(label).join(' | ')} |`);
  console.log(`|---|${ids.map(() => '---:').join('|')}|`);
  for (const w of Object.values(peers.workloads)) {
    const cell = (id) => {
      const s = w.summary[id];
      const c = w.counts?.[id];
      if (!s) return 'n/a';
      const exp = c ? c.expected.tasks + c.expected.execs + c.expected.exits : 0;
      const seen = c ? (c.seen.tasks ?? 0) + c.seen.execs + c.seen.exits : 0;
      return `${pct(s.ratio)}${c ? `, saw ${((seen / exp) * 100).toFixed(0)}%` : ''}`;
    };
    console.log(`| ${w.label} (${w.count}) | ${ids.map(cell).join(' | ')} |`);
  }
}

for (const step of ['bpf-cost', 'overhead', 'peers', 'lossless']) {
  const path = join(dir, `${step}.md`);
  if (existsSync(path)) console.log(`\n${readFileSync(path, 'utf8').trim()}`);
}
