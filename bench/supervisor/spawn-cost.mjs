#!/usr/bin/env node
// What a start costs the agent, by the way the child is made (bench/README.md, "program
// supervision"): the addon's clone3 with CLONE_VM | CLONE_VFORK (posix_spawn style: no page
// tables copied), its plain clone3 (fork style: the agent's page tables copied, then every page
// the agent writes afterwards takes a copy-on-write fault), and Node's child_process.spawn. The
// process first grows to about the agent's size (RSS_MIB of touched memory).
//
//   node bench/supervisor/spawn-cost.mjs [RUNS]        as root, from a built tree
//
// Prints, per way: the spawn call (until the program has exec'd), the exit seen (the program
// is a static binary that exits at once), and the time to write over the RSS_MIB once after the
// start, against the same write with no start before it. Then the addon's spawn call again with
// starts 300 ms apart (as a crash loop makes them), on the host as it is and while another
// process is moved between two cgroups every 30 ms: CLONE_INTO_CGROUP takes cgroup_mutex, which
// a migration holds for an RCU grace period.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBinding } from '../../dist/host/binding.js';
import { detectCgroup2Mount } from '../../dist/host/cgroupfs.js';

const here = dirname(fileURLToPath(import.meta.url));
const runs = Number(process.argv[2] ?? 200);
const rssMiB = Number(process.env.RSS_MIB ?? 100);
const binding = loadBinding();

const mount = detectCgroup2Mount('the benchmark starts programs in a cgroup');
const cg = join(mount, `fwbs-spawn-cost-${process.pid}`);
mkdirSync(cg);

// A static program that exits at once: the start alone is measured, not a dynamic loader.
const exe = join(here, 'build', 'fwbs-exit0');
mkdirSync(dirname(exe), { recursive: true });
writeFileSync(`${exe}.c`, 'int main(void) { return 0; }\n');
execFileSync('gcc', ['-O2', '-static', '-o', exe, `${exe}.c`]);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const heap = Buffer.alloc(rssMiB << 20, 1);
const touch = () => {
  const t = performance.now();
  for (let i = 0; i < heap.length; i += 4096) heap[i] = (heap[i] + 1) & 0xff;
  return performance.now() - t;
};

function native(vfork) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let t1 = 0;
    let child;
    try {
      child = binding.spawnInCgroup({ file: exe, argv: [exe], envp: [], cwd: '/', cgroupDir: cg, vfork }, () => {
        resolve([t1 - t0, performance.now() - t0, touch()]);
      });
    } catch (err) {
      reject(err);
      return;
    }
    t1 = performance.now();
    closeSync(child.stdoutFd);
    closeSync(child.stderrFd);
  });
}

function node() {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(exe, [], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let t1 = 0;
    child.once('spawn', () => (t1 = performance.now()));
    child.once('error', reject);
    child.once('exit', () => resolve([t1 - t0, performance.now() - t0, touch()]));
  });
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
};
/** Spawn calls `gapMs` apart; with `churn`, another process migrates every 30 ms meanwhile. */
async function spaced(n, gapMs, churn) {
  const dirs = [join(mount, `fwbs-churn-a-${process.pid}`), join(mount, `fwbs-churn-b-${process.pid}`)];
  let mover;
  if (churn) {
    for (const d of dirs) mkdirSync(d);
    const loop = `sleep 1000 & p=$!; trap 'kill $p' EXIT; while :; do echo $p >${dirs[0]}/cgroup.procs; sleep 0.03; echo $p >${dirs[1]}/cgroup.procs; sleep 0.03; done`;
    mover = spawn('/bin/bash', ['-c', loop], { stdio: 'ignore' });
    await sleep(500);
  }
  const xs = [];
  try {
    for (let i = 0; i < n; i++) {
      await sleep(gapMs);
      xs.push((await native(true))[0]);
    }
  } finally {
    if (mover) {
      const done = new Promise((resolve) => mover.once('exit', resolve));
      mover.kill('SIGTERM');
      await done;
      for (let i = 0; i < 50 && dirs.some((d) => readFileSync(join(d, 'cgroup.procs'), 'utf8') !== ''); i++) await sleep(20);
      for (const d of dirs) rmdirSync(d);
    }
  }
  return xs;
}

const row = (label, xs) =>
  `| ${label} | ${[0, 1, 2].map((i) => `${pct(xs.map((x) => x[i]), 0.5).toFixed(2)} / ${pct(xs.map((x) => x[i]), 0.99).toFixed(2)}`).join(' | ')} |`;

try {
  touch();
  const base = [];
  for (let i = 0; i < runs; i++) base.push(touch());
  const ways = { 'clone3 with CLONE_VM and CLONE_VFORK': () => native(true), 'clone3, fork style (no CLONE_VM)': () => native(false), "Node's child_process.spawn": node };
  const results = {};
  for (const [label, way] of Object.entries(ways)) {
    results[label] = [];
    for (let i = 0; i < runs; i++) results[label].push(await way());
  }
  const rss = /^VmRSS:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))[1];
  console.log(`${runs} starts each, process RSS ${(rss / 1024).toFixed(0)} MiB, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  console.log();
  console.log('| Way | spawn call, p50 / p99 ms | exit seen, p50 / p99 ms | writing the ' + rssMiB + ' MiB afterwards, p50 / p99 ms |');
  console.log('|---|---:|---:|---:|');
  for (const [label, xs] of Object.entries(results)) console.log(row(label, xs));
  console.log(`| (no start: the write alone) | – | – | ${pct(base, 0.5).toFixed(2)} / ${pct(base, 0.99).toFixed(2)} |`);
  const n = Math.max(20, Math.round(runs / 4));
  const quiet = await spaced(n, 300, false);
  const churn = await spaced(n, 300, true);
  const cells = (xs) => [0.5, 0.9, 0.99].map((p) => pct(xs, p).toFixed(2)).join(' | ');
  console.log();
  console.log(`The addon's spawn call, ${n} starts 300 ms apart:`);
  console.log();
  console.log('| Host | p50 ms | p90 ms | p99 ms |');
  console.log('|---|---:|---:|---:|');
  console.log(`| as it is | ${cells(quiet)} |`);
  console.log(`| another process moved between two cgroups every 30 ms | ${cells(churn)} |`);
} finally {
  rmdirSync(cg);
}
