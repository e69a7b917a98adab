#!/usr/bin/env node
// Workload overhead, resolved to about 1% on a machine whose whole runs differ by up to 8%: the
// same loop runs in chunks of about a second, alternately detached (A) and with forkwatch attached
// (B), in the order A B B A A B B A ... so slow drift hits both sides alike. Each adjacent A/B pair
// gives one ratio B/A; the result is the median ratio and the spread of the pair ratios.
// forkwatch is started before each B block and stopped (and gone) before each A block.
//
// Two clocks: the workload's wall time (the overhead a user sees, forkwatch's reader competing for
// the CPU included) and its own CPU time (the BPF programs run in the forking and exiting tasks,
// so their cost is there; much less disturbed by other load on the machine).
// With BENCH_DEADLINE_S set (run.sh sets it), each workload gets an equal share of the time left
// and stops at the end of a pair when its share is used up, so a slow machine gives fewer pairs
// rather than no result.
//
// usage: node bench/overhead.mjs [WORKLOAD...]   env: BENCH_CHUNKS (12 per side), BENCH_SCALE,
//        BENCH_OUT, BENCH_DEADLINE_S
import { join } from 'node:path';
import { log, machine, outDir, save } from './lib/results.mjs';
import { alternate, pairStats } from './lib/alternate.mjs';
import { fmt, pct } from './lib/stats.mjs';
import { forkwatch } from './lib/tools.mjs';
import { WORKLOADS, runWorkload } from './lib/workload.mjs';

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(WORKLOADS);
const perSide = Number(process.env.BENCH_CHUNKS ?? 12);
const dir = outDir();
const why = forkwatch.available();
if (why) {
  console.log(`### Workload overhead\n\nNot measured: forkwatch ${why}.`);
  save('overhead', { machine: machine(), skipped: why });
  process.exit(0);
}
for (const name of names) {
  if (!WORKLOADS[name]) throw new Error(`unknown workload "${name}"; expected some of ${Object.keys(WORKLOADS).join(', ')}`);
}

const deadline = process.env.BENCH_DEADLINE_S ? Date.now() + Number(process.env.BENCH_DEADLINE_S) * 1000 : Infinity;
const result = { machine: machine(), perSide, workloads: {} };

for (const [k, name] of names.entries()) {
  const w = WORKLOADS[name];
  const stopAt = Date.now() + (deadline - Date.now()) / (names.length - k);
  const { chunks, blocks } = await alternate({
    perSide,
    stopAt,
    onStop: (pairs) => log(`overhead ${name}: time share used up after ${pairs} pairs`),
    attach: (i) => forkwatch.start({ stdout: '/dev/null', stderr: join(dir, 'raw', `overhead-${name}-${i}.err`), threads: w.threads }),
    detach: (fw) => fw.stop(),
    chunk: async (i, attached) => {
      const r = await runWorkload(name, w.chunk);
      log(`overhead ${name} chunk ${i + 1}/${2 * perSide} ${attached ? 'B attached' : 'A detached'}: ${(r.elapsedNs / 1e9).toFixed(3)} s, CPU ${(r.cpuNs / 1e9).toFixed(3)} s`);
      return r;
    },
  });
  result.workloads[name] = {
    label: w.label,
    chunk: w.chunk,
    chunks,
    ...pairStats(chunks),
    lost: blocks.reduce((s, b) => s + (b.lost ?? 0), 0),
    lostKernel: blocks.reduce((s, b) => s + (b.lostKernel ?? 0), 0),
    stoppedBy: [...new Set(blocks.map((b) => b.stoppedBy))],
  };
  save('overhead', result);
}

console.log('### Workload overhead: forkwatch attached (B) vs detached (A), alternating chunks A B B A ...\n');
console.log('| workload | chunk | pairs | events/s (detached) | median A s | median B s | wall B/A: median | middle half | all pairs | CPU B/A: median | middle half | lost |');
console.log('|---|---:|---:|---:|---:|---:|---:|---|---|---:|---|---:|');
for (const r of Object.values(result.workloads)) {
  console.log(
    `| ${r.label} | ${r.chunk} | ${r.pairs} | ${Math.round(r.eventsPerS)} | ${fmt(r.medianA, 3)} | ${fmt(r.medianB, 3)} | ${pct(r.medianRatio)} | ${pct(r.p25)} … ${pct(r.p75)} | ${pct(r.min)} … ${pct(r.max)} | ${pct(r.cpuMedianRatio)} | ${pct(r.cpuP25)} … ${pct(r.cpuP75)} | ${r.lost} |`,
  );
}
console.log("\nwall: the workload's elapsed time; CPU: user + system time of the workload and its children (where the BPF programs run).");
const stops = [...new Set(Object.values(result.workloads).flatMap((r) => r.stoppedBy))];
if (stops.some((s) => s !== 'SIGINT')) console.log(`\nforkwatch did not always stop on SIGINT: stopped by ${stops.join(', ')}.`);
