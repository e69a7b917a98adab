#!/usr/bin/env node
// Where a record's cost is (issue 13, the record path): what a fork and an exit record cost their
// handler on one BPF ring buffer for every CPU (the agent's layout), on a ring buffer per CPU, and
// written in place into a per-CPU staging area (no lock, no atomic: the floor of that design),
// the last with and without the record's clock read, each with the agent's record layout and header
// fill (bench/ring-layout/probe.bpf.c), beside the counting bpftrace reference, on one fork+exit
// loop and on two in parallel. ns per run from kernel.bpf_stats_enabled (run_time_ns / run_cnt),
// as bench/bpf-attrib.mjs measures (bench/lib/handler-runs.mjs). Each ring probe drains its rings
// every 100 ms and counts what it could not reserve. Tools run one at a time, in an order rotated
// every round.
//
// usage: sudo node bench/ring-layout.mjs
// env:   BENCH_COUNT (forks per loop, 20000), BENCH_ROUNDS (3), BENCH_LOOPS ("1,2"), BENCH_OUT,
//        BENCH_QUIET_LOAD and BENCH_QUIET_WAIT (after the builds, wait for load < 0.5, at most 900 s)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { handlerRunSettings, prepareHandlerRuns, REFERENCE, rotatedRuns } from './lib/handler-runs.mjs';
import { commitOf, log, machine, outDir, save } from './lib/results.mjs';
import { fmt } from './lib/stats.mjs';
import { buildRingProbes, PROBES } from './lib/ring-probe.mjs';
import { FW_ROOT } from './lib/tools.mjs';

const { COUNT, ROUNDS, LOOPS } = handlerRunSettings('ring-layout');

// ---- builds ----
const dir = outDir();
const buildDir = join(dir, 'build');
mkdirSync(buildDir, { recursive: true });
log('build the probes');
const { loader, objects } = buildRingProbes(FW_ROOT, buildDir);
const forkn = prepareHandlerRuns(FW_ROOT, buildDir);

const tools = [...PROBES, { name: REFERENCE, label: 'bpftrace, counting fork and exit (reference)' }];
/** loops -> tool -> { handlers: { fork: { ns, cnt }, exit }, records, lost } */
const { sums, start, end } = await rotatedRuns({
  script: 'ring-layout',
  dir,
  tools: PROBES.map((p) => ({ name: p.name, argv: [loader, objects[p.name], p.ring] })),
  rounds: ROUNDS,
  loops: LOOPS,
  forkn,
  count: COUNT,
});
for (const t of PROBES.filter((p) => p.ring !== 'stage')) {
  for (const l of LOOPS) if (!sums[l][t.name].records) throw new Error(`${t.name} read no record: see ${join(dir, 'raw', `${t.name}.out`)}`);
}
const commit = commitOf(FW_ROOT);
const result = { machine: machine(), command: process.argv.slice(1).join(' '), env: { COUNT, ROUNDS, LOOPS }, start, end, commit, sums };
save('ring-layout', result);

// ---- the table ----
const perRun = (v) => (v?.cnt ? v.ns / v.cnt : null);
const la = (l) => l.map((x) => x.toFixed(2)).join(' ');
const lines = [`### Where a record's cost is: the ring, the clock (bench/ring-layout.mjs)\n`];
lines.push(`${start.date} – ${end.date}, commit \`${commit}\`, ${result.machine.cpu}, ${result.machine.cores} CPUs, kernel ${result.machine.kernel}.`);
lines.push(
  `Load average ${la(start.loadavg)} at the start, ${la(end.loadavg)} at the end. Command: \`sudo node bench/ring-layout.mjs\` (BENCH_COUNT=${COUNT}, BENCH_ROUNDS=${ROUNDS}, BENCH_LOOPS=${LOOPS.join(',')}).\n`,
);
lines.push(
  'ns per run of the handler that reserves, fills (the agent\'s header) and submits one record per fork or exit, nothing else. "× ref": over the bpftrace counting program in the same case.\n',
);
const head = LOOPS.flatMap((l) => [`${l === 1 ? 'one loop' : `${l} loops`}: fork`, '× ref', 'exit', '× ref']);
lines.push(`| probe | ${head.join(' | ')} | records lost |`);
lines.push(`|---|${head.map(() => '---:').join('|')}|---:|`);
for (const t of tools) {
  const cells = LOOPS.flatMap((l) => {
    const h = sums[l][t.name].handlers;
    const ref = sums[l][REFERENCE].handlers;
    return ['fork', 'exit'].flatMap((k) => {
      const ns = perRun(h[k]);
      const r = perRun(ref[k]);
      return [fmt(ns, 0), t.name === REFERENCE || ns === null || !r ? '' : `${(ns / r).toFixed(1)}×`];
    });
  });
  const lost =
    t.name === REFERENCE
      ? ''
      : t.ring === 'stage'
        ? 'not read'
        : LOOPS.map((l) => `${sums[l][t.name].lost} of ${sums[l][t.name].records + sums[l][t.name].lost}`).join(', ');
  lines.push(`| ${t.label} | ${cells.join(' | ')} | ${lost} |`);
}
// The clock read: the staging build with it less the one without, in the same run.
const clock = LOOPS.flatMap((l) =>
  ['fork', 'exit'].flatMap((k) => {
    const a = perRun(sums[l].stage.handlers[k]);
    const b = perRun(sums[l]['stage-noclock'].handlers[k]);
    const r = perRun(sums[l][REFERENCE].handlers[k]);
    return a === null || b === null ? ['', ''] : [fmt(a - b, 0), r ? `${((a - b) / r).toFixed(1)}×` : ''];
  }),
);
lines.push(`| the record's clock read (staging with it, less without) | ${clock.join(' | ')} | |`);
const md = lines.join('\n');
writeFileSync(join(dir, 'ring-layout.md'), md + '\n');
console.log(md);
