#!/usr/bin/env node
// CPU a process spends per wake-up from a timed sleep, C (bench/workloads/sleeper.c: nanosleep) beside
// node (a setTimeout, awaited), on an idle machine and with a fork+exit loop running beside them.
// Why: a reader that drains a ring on a timer pays this once per drain whatever the drain carries
// (tail's drain period, src/cli/tail-run.ts, is chosen with it).
//
// usage: node bench/wake-cost.mjs        env: BENCH_WAKES (sleeps per run, 100), BENCH_SLEEP_MS (50)
import { execFileSync, spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { run } from './lib/proc.mjs';
import { commandText, commitOf, loadText, log, machine } from './lib/results.mjs';
import { fmt } from './lib/stats.mjs';
import { FW_ROOT } from './lib/tools.mjs';

const WAKES = Number(process.env.BENCH_WAKES ?? 100);
const MS = Number(process.env.BENCH_SLEEP_MS ?? 50);
for (const [name, v] of [
  ['BENCH_WAKES', WAKES],
  ['BENCH_SLEEP_MS', MS],
]) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`wake-cost: ${name} must be a positive integer, not ${JSON.stringify(process.env[name])}`);
    process.exit(2);
  }
}
execFileSync(join(FW_ROOT, 'bench/build.sh'), { stdio: ['ignore', 'ignore', 'inherit'] });

const NODE_SLEEPER = `
const c0 = process.cpuUsage();
for (let i = 0; i < ${WAKES}; i++) await new Promise((r) => setTimeout(r, ${MS}));
const c = process.cpuUsage(c0);
console.log('cpu_us=' + (c.user + c.system));
`;

/** µs of CPU per wake-up of one sleeper run. */
async function perWake(kind) {
  if (kind === 'C') {
    const r = await run([join(FW_ROOT, 'bench/build/fw-sleeper'), String(WAKES), String(MS)]);
    const m = /cpu_ns=(\d+)/.exec(r.stdout);
    if (r.code !== 0 || !m) throw new Error(`fw-sleeper: exit ${r.code}: ${r.stderr.trim()}`);
    return Number(m[1]) / 1e3 / WAKES;
  }
  const r = await run([process.execPath, '--input-type=module', '-e', NODE_SLEEPER]);
  const m = /cpu_us=(\d+)/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new Error(`node sleeper: exit ${r.code}: ${r.stderr.trim()}`);
  return Number(m[1]) / WAKES;
}

const start = { date: new Date().toISOString(), loadavg: loadavg() };
const rows = [];
for (const beside of ['nothing', 'a fork+exit loop']) {
  const loop = beside === 'nothing' ? null : spawn(join(FW_ROOT, 'bench/build/fw-forkexit'), ['100000000'], { stdio: 'ignore' });
  try {
    for (const kind of ['C', 'node']) {
      const us = await perWake(kind);
      rows.push({ beside, kind, us });
      log(`${kind}, beside ${beside}: ${fmt(us, 1)} µs of CPU per wake-up`);
    }
  } finally {
    loop?.kill('SIGKILL');
  }
}
const end = { date: new Date().toISOString(), loadavg: loadavg() };
const m = machine();
console.log(`\n${start.date} – ${end.date}, commit \`${commitOf(FW_ROOT)}\`, ${m.cpu}, ${m.cores} CPUs, kernel ${m.kernel}, node ${process.version}.`);
console.log(
  `Load average ${loadText(start.loadavg)} at the start, ${loadText(end.loadavg)} at the end. Command: \`${commandText(FW_ROOT)}\` (BENCH_WAKES=${WAKES}, BENCH_SLEEP_MS=${MS}).\n`,
);
console.log('| sleeper | beside it | µs of CPU per wake-up |');
console.log('|---|---|---:|');
for (const r of rows) console.log(`| ${r.kind === 'C' ? 'C, nanosleep' : 'node, setTimeout'} | ${r.beside} | ${fmt(r.us, 1)} |`);
