// Child processes for the bench: every process started here is registered, and stopped when the
// script ends, whichever way it ends (normal exit, an exception, SIGINT, SIGTERM, SIGHUP).
// Tools are started under `setpriv --pdeathsig KILL`, so they die with the harness even if the
// harness itself is killed with SIGKILL.
import { spawn, spawnSync } from 'node:child_process';
import { openSync, closeSync, readFileSync, readdirSync } from 'node:fs';

const live = new Map(); // pid -> { name, child }

function killAll(signal) {
  for (const [pid] of live) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

let hooked = false;
function hookCleanup() {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => killAll('SIGKILL'));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      process.stderr.write(`bench: ${sig}: stopping ${live.size} child process(es)\n`);
      killAll('SIGTERM');
      process.exit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    process.stderr.write(`bench: ${err.stack ?? err}\n`);
    killAll('SIGKILL');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`bench: ${err?.stack ?? err}\n`);
    killAll('SIGKILL');
    process.exit(1);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves with what `promise` gives, or null after `ms`; the timer never holds the process up. */
function within(promise, ms) {
  let timer;
  const timeout = new Promise((r) => {
    timer = setTimeout(() => r(null), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Starts a long-running tool with stdout and stderr sent to files (stdout may be /dev/null).
 * Returns a handle: pid, exited (a promise of { code, signal }), running().
 */
export function startTool(name, argv, { stdout = '/dev/null', stderr, cwd, env } = {}) {
  hookCleanup();
  const out = openSync(stdout, 'w');
  const err = openSync(stderr, 'w');
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...argv], {
    cwd,
    env: env ?? process.env,
    stdio: ['ignore', out, err],
  });
  closeSync(out);
  closeSync(err);
  let done = false;
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      done = true;
      live.delete(child.pid);
      resolve({ code, signal });
    });
    child.on('error', (e) => {
      done = true;
      live.delete(child.pid);
      resolve({ code: null, signal: null, error: e.message });
    });
  });
  live.set(child.pid, { name, child });
  return { name, pid: child.pid, exited, running: () => !done, stderrPath: stderr, stdoutPath: stdout };
}

/**
 * Stops a tool: SIGINT, then SIGTERM after `graceMs`, then SIGKILL. Returns how it ended and
 * which signal finally did it, so a tool that ignores SIGINT is reported, not hidden.
 */
export async function stopTool(h, { graceMs = 10000 } = {}) {
  const steps = ['SIGINT', 'SIGTERM', 'SIGKILL'];
  for (let i = 0; i < steps.length; i++) {
    if (!h.running()) break;
    try {
      process.kill(h.pid, steps[i]);
    } catch {
      break;
    }
    const r = await within(h.exited, i === 2 ? 5000 : graceMs);
    if (r) return { ...r, stoppedBy: steps[i] };
  }
  const r = await h.exited;
  return { ...r, stoppedBy: 'self' };
}

/** Polls `test` (sync or async) every `everyMs` until it returns a truthy value or time runs out. */
export async function waitFor(what, test, { timeoutMs = 30000, everyMs = 100, alive } = {}) {
  const t0 = Date.now();
  for (;;) {
    const v = await test();
    if (v) return v;
    if (alive && !alive()) throw new Error(`${what}: the process exited before it was ready`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not ready after ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/** Runs a command to completion; returns { code, stdout, stderr }. Registered while it runs. */
export function run(argv, { cwd, env, timeoutMs = 600000 } = {}) {
  hookCleanup();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.set(child.pid, { name: argv[0], child });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      live.delete(child.pid);
      reject(new Error(`${argv.join(' ')}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child.pid);
      resolve({ code, signal, stdout, stderr, pid: child.pid });
    });
  });
}

/** Synchronous command for quick queries (bpftool, sysctl); throws with stderr on failure. */
export function runSync(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${argv.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** user + system CPU seconds a live process has used (/proc/PID/stat), or null if it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const tick = 100; // USER_HZ on Linux
    return (Number(f[11]) + Number(f[12])) / tick;
  } catch {
    return null;
  }
}

/**
 * user + system CPU seconds of a process tree: `pid` (all its threads), its live descendants, and
 * the children they have reaped (cutime + cstime), so a tool that forks helpers is charged for
 * them. null if `pid` is gone.
 */
export function treeCpuSeconds(pid) {
  const stats = new Map(); // pid -> [ppid, utime+stime, cutime+cstime]
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const text = readText(`/proc/${d}/stat`);
    if (!text) continue;
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    stats.set(Number(d), [Number(f[1]), Number(f[11]) + Number(f[12]), Number(f[13]) + Number(f[14])]);
  }
  if (!stats.has(pid)) return null;
  const tick = 100; // USER_HZ on Linux
  const tree = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [p, [ppid]] of stats) {
      if (tree.has(p) || !tree.has(ppid)) continue;
      tree.add(p);
      grew = true;
    }
  }
  let ticks = 0;
  for (const p of tree) ticks += stats.get(p)[1] + stats.get(p)[2];
  return ticks / tick;
}

/** Resident set size of a live process in KiB (VmRSS), or null if it is gone. */
export function rssKib(pid) {
  const m = /^VmRSS:\s+(\d+)/m.exec(readText(`/proc/${pid}/status`));
  return m ? Number(m[1]) : null;
}

export function readText(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
