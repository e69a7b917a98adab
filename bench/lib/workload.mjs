// The workloads (bench/workloads/*.c, built by bench/build.sh into bench/build/) and how to run
// one and read its result line.
import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './proc.mjs';

const BENCH = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const scaled = (n) => Math.max(10, Math.round(n * SCALE));

/**
 * count: operations in a whole run; chunk: operations in one chunk of the A/B overhead runs
 * (about a second each here); threads: forkwatch needs --threads to see them.
 */
export const WORKLOADS = {
  forkexit: { label: 'fork+exit', bin: 'fw-forkexit', count: scaled(20000), chunk: scaled(5000), threads: false },
  forkexec: { label: 'fork+exec /bin/true', bin: 'fw-forkexec', count: scaled(5000), chunk: scaled(1500), threads: false },
  threads: { label: 'thread create+join', bin: 'fw-threads', count: scaled(20000), chunk: scaled(20000), threads: true },
  forkpar: { label: '2 parallel fork loops', bin: 'fw-forkpar', count: scaled(20000), chunk: scaled(8000), threads: false },
};

/** Events a run caused: task creations, execs and exits (the main task's own exit not counted). */
export const eventsOf = (r) => r.tasks + r.execs + r.exits;

/**
 * Runs a workload; resolves with its parsed result line (pid, ops, tasks, execs, exits, elapsedNs,
 * cpuNs).
 * pidFile: where the run lists the tasks it created (the ground truth for counting).
 */
export async function runWorkload(name, count, { extra = [], pidFile } = {}) {
  const w = WORKLOADS[name];
  const argv = [join(BENCH, 'build', w.bin), String(count), ...extra.map(String)];
  const env = pidFile ? { ...process.env, FW_BENCH_PIDS: pidFile } : undefined;
  if (pidFile) rmSync(pidFile, { force: true });
  const r = await run(argv, { env, timeoutMs: 300000 });
  const m = /workload=(\S+) pid=(\d+) ops=(\d+) tasks=(\d+) execs=(\d+) exits=(\d+) elapsed_ns=(\d+) cpu_ns=(\d+)/.exec(r.stdout);
  if (r.code !== 0 || !m) throw new Error(`${argv.join(' ')}: exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  const [pid, ops, tasks, execs, exits, elapsedNs, cpuNs] = m.slice(2).map(Number);
  return { name: m[1], pid, ops, tasks, execs, exits, elapsedNs, cpuNs };
}
