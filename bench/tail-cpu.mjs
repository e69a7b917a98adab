#!/usr/bin/env node
// User-space CPU per event of `forkwatch tail --json > /dev/null` (issue 13, item 6: target ≤ 5 µs)
// and of the text mode `forkwatch tail > /dev/null`, beside bpftrace printing similar lines
// (tools/lines.bt: fork, exec, exit with pid, ppid, comm) > /dev/null, on the same fork+exit loop (bench/workloads/forkexit.c), one tool at a time in an
// order rotated every round. A tool's CPU is utime+stime of its process tree (/proc, its reaped
// children included) from just before the loop starts until its CPU has stopped moving after the
// loop ended (it has read everything); divided by the events the loop caused (its forks and exits).
// Other processes' events on the machine are read too and are in the figure: the table gives the
// host's forks in the window (/proc/stat) so a busy machine shows.
//
// usage: sudo node bench/tail-cpu.mjs        env: BENCH_COUNT (forks per round, 50000),
//        BENCH_ROUNDS (3), BENCH_OUT (results directory), BENCH_WARM (forks of a loop each tool
//        reads before the measured one, after BENCH_WARM/50 fork+execs; 0: none; a fresh node
//        process compiles its hot paths in the first tens of thousands of events, and again when
//        a kind of record it had not met comes, so the measured loop then shows the steady state)
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { attachmentsOf, ensureTracefs } from './lib/bpf.mjs';
import { readText, sleep, startTool, stopTool, treeCpuSeconds, waitFor } from './lib/proc.mjs';
import { commandText, commitOf, loadText, log, machine, outDir, save } from './lib/results.mjs';
import { fmt, median } from './lib/stats.mjs';
import { forkwatch, FW_ROOT } from './lib/tools.mjs';
import { eventsOf, runWorkload } from './lib/workload.mjs';

const COUNT = Number(process.env.BENCH_COUNT ?? 50000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARM = Number(process.env.BENCH_WARM ?? 0);
if (!Number.isInteger(WARM) || WARM < 0) {
  console.error(`tail-cpu: BENCH_WARM must be 0 or a positive integer, not ${JSON.stringify(process.env.BENCH_WARM)}`);
  process.exit(2);
}
for (const [name, v] of [['BENCH_COUNT', COUNT], ['BENCH_ROUNDS', ROUNDS]]) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`tail-cpu: ${name} must be a positive integer, not ${JSON.stringify(process.env[name])}`);
    process.exit(2);
  }
}
if (process.getuid() !== 0) {
  console.error('tail-cpu: needs root (BPF programs)');
  process.exit(2);
}
const why = forkwatch.available();
if (why) {
  console.error(`tail-cpu: forkwatch ${why}`);
  process.exit(2);
}
const dir = outDir();
execFileSync(join(FW_ROOT, 'bench/build.sh'), { stdio: ['ignore', 'ignore', 'inherit'] });
ensureTracefs();

const PROCESS_TPS = ['sched_process_fork', 'sched_process_exec', 'sched_process_exit'];
const hostForks = () => Number(/^processes (\d+)/m.exec(readFileSync('/proc/stat', 'utf8'))[1]);

const TOOLS = [
  {
    name: 'forkwatch',
    label: 'forkwatch tail --json > /dev/null',
    async start(err) {
      const inst = await forkwatch.start({ stdout: '/dev/null', stderr: err });
      return { pid: inst.pid, stop: () => inst.stop() };
    },
  },
  {
    name: 'forkwatch-text',
    label: 'forkwatch tail > /dev/null (text)',
    async start(err) {
      const h = startTool('forkwatch-text', ['node', 'bin/forkwatch.js', 'tail'], { stdout: '/dev/null', stderr: err, cwd: FW_ROOT });
      const ready = () => /attached/.test(readText(err)) && PROCESS_TPS.every((t) => attachmentsOf(h.pid).some((a) => a.tracepoint === t));
      await waitFor('forkwatch tail (text) attach', ready, { alive: h.running, timeoutMs: 60000 });
      return { pid: h.pid, stop: () => stopTool(h) };
    },
  },
  {
    name: 'bpftrace',
    label: 'bpftrace bench/tools/lines.bt > /dev/null',
    async start(err) {
      const h = startTool('bpftrace', ['bpftrace', join(FW_ROOT, 'bench/tools/lines.bt')], { stdout: '/dev/null', stderr: err });
      await waitFor('bpftrace attach', () => PROCESS_TPS.every((t) => attachmentsOf(h.pid).some((a) => a.tracepoint === t)), { alive: h.running, timeoutMs: 60000 });
      return { pid: h.pid, stop: () => stopTool(h) };
    },
  },
];

/** CPU seconds of the tree once it has stopped moving (read every 200 ms, at most 5 s). */
async function settledCpu(pid) {
  let last = treeCpuSeconds(pid);
  for (let i = 0; i < 25; i++) {
    await sleep(200);
    const now = treeCpuSeconds(pid);
    if (now === last) return now;
    last = now;
  }
  return last;
}

const start = { date: new Date().toISOString(), loadavg: loadavg() };
/** tool -> [{ cpuS, events, hostForks }] */
const runs = Object.fromEntries(TOOLS.map((t) => [t.name, []]));
for (let round = 0; round < ROUNDS; round++) {
  const order = TOOLS.map((_, i) => TOOLS[(i + round) % TOOLS.length]);
  for (const tool of order) {
    const inst = await tool.start(join(dir, 'raw', `tail-cpu-${tool.name}-${round}.err`));
    let row;
    try {
      await sleep(500); // start-up work (JIT, the forkwatch process table) settles before the window
      if (WARM > 0) {
        // Read, not measured: execs first (a host's tail sees them all the time; a JIT that
        // optimized on forks and exits alone recompiles its hot paths at the first exec, in the
        // window), then the loop itself.
        await runWorkload('forkexec', Math.ceil(WARM / 50));
        await runWorkload('forkexit', WARM);
      }
      const cpu0 = await settledCpu(inst.pid);
      const f0 = hostForks();
      const r = await runWorkload('forkexit', COUNT);
      const f1 = hostForks();
      const cpu1 = await settledCpu(inst.pid);
      row = { cpuS: cpu1 - cpu0, events: eventsOf(r), hostForks: f1 - f0, elapsedS: r.elapsedNs / 1e9 };
    } finally {
      const end = await inst.stop();
      if (row) row.stop = end;
    }
    row.usPerEvent = (row.cpuS * 1e6) / row.events;
    runs[tool.name].push(row);
    log(`round ${round + 1}/${ROUNDS} ${tool.name}: ${fmt(row.cpuS, 2)} s CPU for ${row.events} events: ${fmt(row.usPerEvent, 2)} µs/event`);
  }
}
const end = { date: new Date().toISOString(), loadavg: loadavg() };
const commit = commitOf(FW_ROOT);
const command = commandText(FW_ROOT);
const result = { machine: machine(), command, commit, env: { COUNT, ROUNDS, WARM }, start, end, runs };
save('tail-cpu', result);

const med = (name, key) => median(runs[name].map((r) => r[key]));
const lines = [];
lines.push('### tail --json: CPU per event beside bpftrace (bench/tail-cpu.mjs)\n');
lines.push(`${start.date} – ${end.date}, commit \`${commit}\`, ${result.machine.cpu}, ${result.machine.cores} CPUs, kernel ${result.machine.kernel}, node ${result.machine.node}.`);
lines.push(`Load average ${loadText(start.loadavg)} at the start, ${loadText(end.loadavg)} at the end. Command: \`${command}\` (BENCH_COUNT=${COUNT}, BENCH_ROUNDS=${ROUNDS}, BENCH_WARM=${WARM}).\n`);
lines.push(`The loop: \`bench/build/fw-forkexit ${COUNT}\` (a fork and an exit per process: ${2 * COUNT} events) per tool per round${WARM > 0 ? `, after ${Math.ceil(WARM / 50)} fork+execs of /bin/true and a loop of ${WARM} forks the tool read first (not measured: its JIT warm-up, with every kind of record)` : ''}. CPU: utime+stime of the tool's process tree over the loop, until it had read everything. µs/event: that CPU over the loop's events (other processes' events read meanwhile are in it: see host forks).\n`);
lines.push('| tool | rounds | µs/event, median | µs/event, each round | CPU s, median | host forks in the window, median | loop s, median |');
lines.push('|---|---:|---:|---|---:|---:|---:|');
for (const t of TOOLS) {
  const rs = runs[t.name];
  lines.push(`| ${t.label} | ${rs.length} | ${fmt(med(t.name, 'usPerEvent'), 2)} | ${rs.map((r) => fmt(r.usPerEvent, 2)).join(', ')} | ${fmt(med(t.name, 'cpuS'), 2)} | ${med(t.name, 'hostForks')} | ${fmt(med(t.name, 'elapsedS'), 2)} |`);
}
const ratio = med('forkwatch', 'usPerEvent') / med('bpftrace', 'usPerEvent');
const ratioText = med('forkwatch-text', 'usPerEvent') / med('bpftrace', 'usPerEvent');
lines.push(`\nforkwatch / bpftrace, medians: **${fmt(ratio, 2)}×** with --json, ${fmt(ratioText, 2)}× in text. Target (issue 13): \`tail --json\` ≤ 5 µs of CPU per event.`);
const md = lines.join('\n');
writeFileSync(join(dir, 'tail-cpu.md'), md + '\n');
console.log(md);
