// test/workloads/forkn.c, built into bench/build/, run in a cgroup of the benchmark's own (made
// here, its processes killed and the cgroup removed when the benchmark exits): the workload of
// the stream and export benchmarks, whose events they pick out by that cgroup's path.
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectCgroup2Mount } from '../../dist/host/cgroupfs.js';
import { run } from './proc.mjs';

const BENCH = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Builds forkn and makes the cgroup `/fwbench-<name>-<pid>`; resolves with both. */
export async function forknInCgroup(name) {
  const build = join(BENCH, 'build');
  mkdirSync(build, { recursive: true });
  const forkn = join(build, 'forkn');
  const cc = await run(['cc', '-O2', '-o', forkn, join(BENCH, '..', 'test/workloads/forkn.c')]);
  if (cc.code !== 0) throw new Error(`cc: ${cc.stderr}`);
  const v2 = detectCgroup2Mount('the benchmark runs its workload in a cgroup');
  const cgPath = `/fwbench-${name}-${process.pid}`;
  const cgDir = join(v2, cgPath);
  mkdirSync(cgDir);
  process.on('exit', () => {
    try {
      for (const pid of readFileSync(join(cgDir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
      rmdirSync(cgDir);
    } catch {
      /* gone */
    }
  });
  return { forkn, cgPath, cgDir };
}
