#!/usr/bin/env node
// Zero events lost up to 90,000 events/s with the default ring buffer: forkwatch tails to a
// file while a workload drives a paced event rate; a step passes when forkwatch reports no loss
// (on stderr and in its kernel-side `stats` map) and the creation and exit records it wrote for
// the workload's process tree equal what the workload did. The busiest second of each step is
// measured from the records' own timestamps.
//
// Fork loops cannot go past about 12,000 forks/s (24,000 events/s) on this 2-core VM, so the
// higher steps use thread create+join loops (with --threads), records of the same kind. Where the
// machine cannot reach a rate while forkwatch competes for the CPU, the last step stalls the
// consumer instead: forkwatch is stopped (SIGSTOP) for BENCH_STALL_MS while the loops run flat
// out, so the kernel keeps filling the ring buffer with no reader, then resumed; nothing may be
// lost.
//
// usage: node bench/lossless.mjs   env: BENCH_STEP_S (seconds per step, 4), BENCH_STALL_MS (1000),
//        BENCH_OUT, BENCH_KEEP=1 keeps the event files
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { attributeTree, peakRate } from './lib/count.mjs';
import { sleep } from './lib/proc.mjs';
import { log, machine, outDir, save } from './lib/results.mjs';
import { fmt } from './lib/stats.mjs';
import { forkwatch } from './lib/tools.mjs';
import { eventsOf, runWorkload } from './lib/workload.mjs';

const dir = outDir();
const stepS = Number(process.env.BENCH_STEP_S ?? 4);
const stallMs = Number(process.env.BENCH_STALL_MS ?? 1000);
const why = forkwatch.available();
if (why) {
  console.log(`### Lost events under a paced load\n\nNot measured: forkwatch ${why}.`);
  save('lossless', { machine: machine(), skipped: why });
  process.exit(0);
}

// target: events/s wanted (0: as fast as the loops go); each op is 2 events (creation + exit).
const STEPS = [
  { workload: 'forkpar', loops: 2, target: 10000 },
  { workload: 'forkpar', loops: 2, target: 20000 },
  { workload: 'forkpar', loops: 2, target: 0 },
  { workload: 'threads', loops: 2, target: 30000 },
  { workload: 'threads', loops: 2, target: 60000 },
  { workload: 'threads', loops: 2, target: 90000 },
  { workload: 'threads', loops: 2, target: 0 },
  { workload: 'threads', loops: 2, target: 0, stall: true },
];
const MAX_GUESS = { forkpar: 24000, threads: 60000 }; // events/s, to size unpaced steps

const result = { machine: machine(), stepS, stallMs, steps: [] };
for (const s of STEPS) {
  const opsPerS = (s.target || MAX_GUESS[s.workload]) / 2;
  const count = Math.round(opsPerS * stepS);
  const tag = `lossless-${s.workload}-${s.target}${s.stall ? '-stall' : ''}`;
  const file = join(dir, 'raw', `${tag}.out`);
  const fw = await forkwatch.start({ stdout: file, stderr: join(dir, 'raw', `${tag}.err`), threads: s.workload === 'threads' });
  let res;
  let stop;
  try {
    const running = runWorkload(s.workload, count, { extra: [s.loops, s.target / 2] });
    if (s.stall) {
      await sleep(300);
      process.kill(fw.pid, 'SIGSTOP');
      try {
        await sleep(stallMs);
      } finally {
        process.kill(fw.pid, 'SIGCONT');
      }
    }
    res = await running;
  } finally {
    stop = await fw.stop();
  }
  const { events } = forkwatch.parse(file);
  const times = [];
  const seen = attributeTree(events, res.pid, times);
  const expected = { tasks: res.tasks, exits: res.exits };
  const achieved = eventsOf(res) / (res.elapsedNs / 1e9);
  const peak = peakRate(times);
  const pass = stop.lost === 0 && (stop.lostKernel ?? 0) === 0 && seen.tasks === expected.tasks && seen.exits === expected.exits;
  const step = { ...s, count, achieved, peak, expected, seen, records: events.length, lost: stop.lost, lostKernel: stop.lostKernel, wakeups: stop.wakeups, cpuS: stop.cpuS, stoppedBy: stop.stoppedBy, pass };
  result.steps.push(step);
  log(`lossless ${tag}: ${Math.round(achieved)} ev/s (peak ${Math.round(peak)}), creations ${seen.tasks}/${expected.tasks}, exits ${seen.exits}/${expected.exits}, lost ${stop.lost}/${stop.lostKernel} → ${pass ? 'pass' : 'FAIL'}`);
  save('lossless', result);
  if (process.env.BENCH_KEEP !== '1') rmSync(file, { force: true });
}

console.log(`### Lost events under a paced load (default ring buffer, about ${stepS} s per step)\n`);
console.log('| load | target events/s | achieved events/s (whole run) | busiest second | creations seen | exits seen | lost (stderr / kernel map) | forkwatch CPU per record | result |');
console.log('|---|---:|---:|---:|---|---|---|---:|---|');
for (const s of result.steps) {
  const load = (s.workload === 'threads' ? `${s.loops} thread loops (--threads)` : `${s.loops} fork loops`) + (s.stall ? `, reader stopped ${stallMs} ms` : '');
  console.log(
    `| ${load} | ${s.target || 'max'} | ${Math.round(s.achieved)} | ${Math.round(s.peak)} | ${s.seen.tasks}/${s.expected.tasks} | ${s.seen.exits}/${s.expected.exits} | ${s.lost} / ${fmt(s.lostKernel, 0)} | ${s.records ? `${fmt((s.cpuS / s.records) * 1e6, 1)} µs` : 'n/a'} | ${s.pass ? 'pass' : '**FAIL**'} |`,
  );
}
const passed = result.steps.filter((s) => s.pass);
const top = Math.max(0, ...passed.map((s) => s.peak));
const firstFail = result.steps.find((s) => !s.pass);
console.log('\nforkwatch CPU per record: user + system CPU of the `forkwatch tail --json` process while the step ran, over every record it wrote (the rest of the machine\'s processes included), at 10 ms clock-tick resolution.');
console.log(`\nBusiest second with nothing lost: ${Math.round(top)} events/s${firstFail ? `; first failure at ${Math.round(firstFail.peak)} events/s (busiest second)` : ''}.`);
