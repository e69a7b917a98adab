#!/usr/bin/env node
// What the census costs user space (issue 13): the live tasks and threads per cgroup are read by
// one pass of the census task iterator (bpf/proc.bpf.c) and summed in JavaScript each time the
// agent reads its counters (every scrape, and once a second). With N extra processes of T threads
// each started for the run (idle: they wait on a pipe), each read's wall and CPU time, per read and
// per task visited, over READS reads.
//
// usage: sudo node bench/census.mjs
// env:   BENCH_PROCS (extra processes, 0,250,1000), BENCH_THREADS (threads each, 4), BENCH_READS (50)
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { commitOf, log, machine, save } from './lib/results.mjs';
import { FW_ROOT } from './lib/tools.mjs';

const PROCS = (process.env.BENCH_PROCS ?? '0,250,1000').split(',').map(Number);
const THREADS = Number(process.env.BENCH_THREADS ?? 4);
const READS = Number(process.env.BENCH_READS ?? 50);
for (const [name, v] of [['BENCH_THREADS', THREADS], ['BENCH_READS', READS], ...PROCS.map((p) => ['BENCH_PROCS', p + 1])]) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`census: ${name} must be a positive integer, not ${JSON.stringify(process.env[name])}`);
    process.exit(2);
  }
}
if (process.getuid() !== 0) {
  console.error('census: needs root (the BPF programs)');
  process.exit(2);
}
if (!existsSync(join(FW_ROOT, 'dist/events/decode.js'))) {
  console.error(`census: forkwatch is not built in ${FW_ROOT}; run 'make' first`);
  process.exit(2);
}
const { loadBinding } = await import(join(FW_ROOT, 'dist/host/binding.js'));
const { probeOptions } = await import(join(FW_ROOT, 'dist/config/default.js'));
const { decodeCensus } = await import(join(FW_ROOT, 'dist/events/decode.js'));

const tasksNow = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).reduce((n, pid) => {
  try {
    return n + readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return n; // gone meanwhile
  }
}, 0);

// Idle processes with THREADS threads each: perl's threads are not always there, so a shell's
// background sleeps would be processes, not threads; python3's threading is in Debian's base.
const idle = `import threading,sys\nfor _ in range(${THREADS - 1}): threading.Thread(target=sys.stdin.read,daemon=True).start()\nprint('ready',flush=True)\nsys.stdin.read()`;

async function startIdle(n) {
  const kids = [];
  for (let i = 0; i < n; i++) {
    const c = spawn('python3', ['-c', idle], { stdio: ['pipe', 'pipe', 'inherit'] });
    kids.push(new Promise((resolve, reject) => {
      c.on('error', reject);
      c.stdout.once('data', () => resolve(c));
    }));
    if (i % 100 === 99) await Promise.all(kids.slice(-100));
  }
  return Promise.all(kids);
}

const probe = new (loadBinding().Probe)(probeOptions({}));
const rows = [];
const start = new Date().toISOString();
const load = loadavg();
try {
  for (const n of PROCS) {
    const kids = await startIdle(n);
    const tasks = tasksNow();
    let processes = 0;
    decodeCensus(probe.census()); // the first read attaches the iterator
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    for (let i = 0; i < READS; i++) processes = [...decodeCensus(probe.census()).values()].reduce((a, l) => a + l.tasks, 0);
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6 / READS;
    const cu = process.cpuUsage(c0);
    const cpuMs = (cu.user + cu.system) / 1000 / READS;
    rows.push({ extra: n, threadsEach: THREADS, processes, tasks, wallMs, cpuMs, usPerTask: (cpuMs * 1000) / tasks });
    log(`${n} extra processes: ${processes} processes, ${tasks} tasks, ${wallMs.toFixed(3)} ms wall, ${cpuMs.toFixed(3)} ms CPU per read`);
    for (const k of kids) k.kill('SIGKILL');
    await Promise.all(kids.map((k) => new Promise((r) => (k.exitCode !== null || k.signalCode !== null ? r() : k.once('exit', r)))));
  }
} finally {
  probe.close();
}

const commit = commitOf(FW_ROOT);
save('census', { machine: machine(), start, load, commit, reads: READS, rows });
console.log(`### What the census costs user space (bench/census.mjs)\n`);
console.log(`${start}, commit \`${commit}\`, ${machine().cpu}. Load average ${load.map((x) => x.toFixed(2)).join(' ')} at the start. Command: \`node bench/census.mjs\` (BENCH_PROCS=${PROCS.join(',')}, BENCH_THREADS=${THREADS}, BENCH_READS=${READS}).\n`);
console.log('| extra idle processes | processes read | tasks on the host | ms per read (wall) | ms per read (CPU) | µs of CPU per task |');
console.log('|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.extra} | ${r.processes} | ${r.tasks} | ${r.wallMs.toFixed(3)} | ${r.cpuMs.toFixed(3)} | ${r.usPerTask.toFixed(3)} |`);
