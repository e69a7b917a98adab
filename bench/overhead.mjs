#!/usr/bin/env node
// Workload overhead, resolved to about 1% on a machine whose whole runs differ by up to 8%: the
// same loop runs in chunks of about a second, alternately detached (A) and with forkwatch attached
// (B), in the order A B B A A B B A ... so slow drift hits both sides alike. Each adjacent A/B pair
// gives one ratio B/A; the result is the median ratio and the spread of the pair ratios.
// forkwatch is started before each B block and stopped (and gone) before each A block.
//
// usage: node bench/overhead.mjs [WORKLOAD...]   env: BENCH_CHUNKS (12 per side), BENCH_SCALE,
//        BENCH_OUT
import { join } from 'node:path';
import { log, machine, outDir, save } from './lib/results.mjs';
import { fmt, median, pct, quantile } from './lib/stats.mjs';
import { forkwatch } from './lib/tools.mjs';
import { WORKLOADS, eventsOf, runWorkload } from './lib/workload.mjs';

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(WORKLOADS);
const perSide = Number(process.env.BENCH_CHUNKS ?? 12);
const dir = outDir();
const why = forkwatch.available();
if (why) {
  console.log(`### Workload overhead\n\nNot measured: forkwatch ${why}.`);
  save('overhead', { machine: machine(), skipped: why });
  process.exit(0);
}

/** A B B A A B B A ...: chunk i is attached when floor((i + 1) / 2) is odd. */
const attachedAt = (i) => ((i + 1) >> 1) % 2 === 1;

const result = { machine: machine(), perSide, workloads: {} };
for (const name of names) {
  const w = WORKLOADS[name];
  if (!w) throw new Error(`unknown workload "${name}"; expected some of ${Object.keys(WORKLOADS).join(', ')}`);
  const chunks = [];
  const blocks = [];
  let fw = null;
  try {
    for (let i = 0; i < 2 * perSide; i++) {
      const want = attachedAt(i);
      if (want && !fw) fw = await forkwatch.start({ stdout: '/dev/null', stderr: join(dir, 'raw', `overhead-${name}-${i}.err`), threads: w.threads });
      if (!want && fw) {
        blocks.push(await fw.stop());
        fw = null;
      }
      const r = await runWorkload(name, w.chunk);
      chunks.push({ attached: want, elapsedS: r.elapsedNs / 1e9, eventsPerS: eventsOf(r) / (r.elapsedNs / 1e9) });
      log(`overhead ${name} chunk ${i + 1}/${2 * perSide} ${want ? 'B attached' : 'A detached'}: ${(r.elapsedNs / 1e9).toFixed(3)} s`);
    }
  } finally {
    if (fw) blocks.push(await fw.stop());
  }
  const ratios = [];
  for (let i = 0; i + 1 < chunks.length; i += 2) {
    const [a, b] = chunks[i].attached ? [chunks[i + 1], chunks[i]] : [chunks[i], chunks[i + 1]];
    ratios.push(b.elapsedS / a.elapsedS);
  }
  const A = chunks.filter((c) => !c.attached).map((c) => c.elapsedS);
  const B = chunks.filter((c) => c.attached).map((c) => c.elapsedS);
  result.workloads[name] = {
    label: w.label,
    chunk: w.chunk,
    chunks,
    ratios,
    medianRatio: median(ratios),
    p25: quantile(ratios, 0.25),
    p75: quantile(ratios, 0.75),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
    medianA: median(A),
    medianB: median(B),
    eventsPerS: median(chunks.filter((c) => !c.attached).map((c) => c.eventsPerS)),
    lost: blocks.reduce((s, b) => s + (b.lost ?? 0), 0),
    lostKernel: blocks.reduce((s, b) => s + (b.lostKernel ?? 0), 0),
    stoppedBy: [...new Set(blocks.map((b) => b.stoppedBy))],
  };
  save('overhead', result);
}

console.log(`### Workload overhead: forkwatch attached vs detached, ${perSide}+${perSide} alternating chunks (A B B A ...)\n`);
console.log('| workload | chunk | events/s (detached) | median A s | median B s | median B/A | middle half of pair ratios | all pairs | lost |');
console.log('|---|---:|---:|---:|---:|---:|---|---|---:|');
for (const r of Object.values(result.workloads)) {
  console.log(
    `| ${r.label} | ${r.chunk} | ${Math.round(r.eventsPerS)} | ${fmt(r.medianA, 3)} | ${fmt(r.medianB, 3)} | ${pct(r.medianRatio)} | ${pct(r.p25)} … ${pct(r.p75)} | ${pct(r.min)} … ${pct(r.max)} | ${r.lost} |`,
  );
}
