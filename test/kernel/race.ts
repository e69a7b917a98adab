/**
 * The thread-exit race, for kernel tests: the workload (test/workloads/exitrace.c) and a test-only
 * BPF program that opens the race window (test/workloads/exitdelay.bpf.c).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/cli.js';
import type { TestCgroup } from '../helpers/cgroup.js';
import { bpfWorkload, workload } from '../helpers/workloads.js';

/**
 * Runs `procs` processes of `threads` threads each in `cg`, all ending at once as `mode` says (see
 * exitrace.c); returns each one's pid and the status wait(2) gave.
 */
export async function exitRace(cg: TestCgroup, mode: string, procs: number, threads: number): Promise<Map<number, number>> {
  const { stdout } = await promisify(execFile)(workload('exitrace'), [String(procs), String(threads), mode, cg.dir]);
  const out = new Map<number, number>();
  for (const line of stdout.trim().split('\n')) {
    const [pid, status] = line.split(' ').map(Number);
    out.set(pid, status);
  }
  if (out.size !== procs) throw new Error(`exitrace reported ${out.size} processes of ${procs}: ${stdout}`);
  return out;
}

/**
 * Test-only BPF program, built and attached for the duration of a test. Attach it before the probe
 * under test: programs on one tracepoint run in the order they were attached.
 */
export class ExitDelay {
  private constructor(private readonly child: ChildProcess) {}

  static async attach(): Promise<ExitDelay> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-exitdelay-'));
    const obj = bpfWorkload('exitdelay');
    const loader = path.join(dir, 'exitdelay');
    const src = path.join(ROOT, 'test/workloads');
    execFileSync('cc', ['-O2', '-o', loader, path.join(src, 'exitdelay.c'), '-lbpf']);
    const child = spawn(loader, [obj], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    await new Promise<void>((resolve, reject) => {
      child.on('exit', (code) => reject(new Error(`exitdelay exited with ${code}: ${out}`)));
      const poll = setInterval(() => {
        if (!out.includes('ready')) return;
        clearInterval(poll);
        resolve();
      }, 10);
    });
    fs.rmSync(dir, { recursive: true, force: true });
    return new ExitDelay(child);
  }

  /** Detaches: the loader exits when its stdin closes, and its links go with it. */
  async detach(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const gone = new Promise((r) => this.child.on('exit', r));
    this.child.stdin!.end();
    await gone;
  }
}
