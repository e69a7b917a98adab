// The tracers under test: forkwatch and its peers. Each one knows how to start (output to
// /dev/null for timing, to a file for counting), when it is really attached, how to stop, and how
// to turn its output into normalized events for bench/lib/count.mjs. stop() reports the CPU time
// the tool used between being ready and being told to stop (its start-up cost is left out):
//   { k: 'fork', parent, child }  parent: creator's tgid, child: the new task's tid
//   { k: 'exec', pid }
//   { k: 'exit', tid }
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { attachmentsOf, forkwatchKernelStats } from './bpf.mjs';
import { cpuSeconds, readText, sleep, startTool, stopTool, waitFor } from './proc.mjs';

const BENCH = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The forkwatch checkout under test (default: the one this bench/ lives in). */
export const FW_ROOT = process.env.FW_ROOT ? resolve(process.env.FW_ROOT) : resolve(BENCH, '..');

const PROCESS_TPS = ['sched_process_fork', 'sched_process_exec', 'sched_process_exit'];

function lines(path) {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n') : [];
}

function hasTracepoints(pid, names) {
  const got = new Set(attachmentsOf(pid).map((a) => a.tracepoint));
  return names.every((n) => got.has(n));
}

function tail(text, n = 3) {
  return text.trim().split('\n').slice(-n).join(' | ');
}

// ---- forkwatch ----------------------------------------------------------------------------

/** forkwatch itself: `node bin/forkwatch.js tail --json [--threads]`. */
export const forkwatch = {
  id: 'forkwatch',
  label: 'forkwatch tail --json',
  sees: 'fork, exec, exit (threads with --threads)',
  causal: true,
  available() {
    const missing = ['dist/cli/main.js', 'addon/build/Release/forkwatch.node'].filter((f) => !existsSync(join(FW_ROOT, f)));
    return missing.length ? `not built (missing ${missing.join(', ')}; run make in ${FW_ROOT})` : null;
  },
  async start({ stdout, stderr, threads }) {
    const argv = ['node', 'bin/forkwatch.js', 'tail', '--json', ...(threads ? ['--threads'] : [])];
    let h;
    // A checkout others are rebuilding can miss its addon for a moment: one more try after a pause.
    for (let attempt = 1; ; attempt++) {
      h = startTool('forkwatch', argv, { stdout, stderr, cwd: FW_ROOT });
      try {
        // Ready when it says so and the kernel shows its three process programs attached.
        await waitFor(
          'forkwatch attach',
          () => /attached/.test(readText(stderr)) && hasTracepoints(h.pid, PROCESS_TPS),
          { alive: h.running, timeoutMs: 60000 },
        );
        break;
      } catch (err) {
        await stopTool(h, { graceMs: 2000 });
        if (attempt >= 2) throw new Error(`${err.message}: ${tail(readText(stderr), 2)}`);
        process.stderr.write(`bench: forkwatch did not start (${tail(readText(stderr), 1)}); trying again in 10 s\n`);
        await sleep(10000);
      }
    }
    const progIds = attachmentsOf(h.pid).map((a) => a.prog_id);
    const cpu0 = cpuSeconds(h.pid);
    return {
      pid: h.pid,
      progIds,
      async stop() {
        const kernel = forkwatchKernelStats(progIds);
        const cpuS = cpuSeconds(h.pid) - cpu0;
        const end = await stopTool(h);
        const err = readText(stderr);
        const m = /(\d+)\s+events?\s+lost/i.exec(err);
        return { ...end, cpuS, lost: m ? Number(m[1]) : 0, lostKernel: kernel?.lost ?? null, wakeups: kernel?.wakeups ?? null, stderrTail: tail(err) };
      },
    };
  },
  parse(path) {
    const out = [];
    let bad = 0;
    for (const line of lines(path)) {
      if (!line) continue;
      let e;
      try {
        e = JSON.parse(line);
      } catch {
        bad++;
        continue;
      }
      // A thread's creator is its own process; a process's is its parent process.
      // t: event time in ms (the lossless check looks for the busiest second).
      const t = Date.parse(e.time);
      if (e.type === 'fork') out.push({ k: 'fork', parent: e.thread ? e.pid : e.ppid, child: e.tid, t });
      else if (e.type === 'exec') out.push({ k: 'exec', pid: e.pid, t });
      else if (e.type === 'exit') out.push({ k: 'exit', tid: e.tid, t });
    }
    return { events: out, ordered: true, badLines: bad };
  },
};

// ---- bpftrace -----------------------------------------------------------------------------

export const bpftrace = {
  id: 'bpftrace',
  label: 'bpftrace, a line per event',
  sees: 'fork, exec, exit (threads too)',
  causal: true,
  available() {
    return existsSync('/usr/bin/bpftrace') || existsSync('/usr/sbin/bpftrace') ? null : 'bpftrace not installed';
  },
  async start({ stdout, stderr }) {
    const h = startTool('bpftrace', ['bpftrace', join(BENCH, 'tools/events.bt')], { stdout, stderr });
    await waitFor('bpftrace attach', () => hasTracepoints(h.pid, PROCESS_TPS), { alive: h.running, timeoutMs: 60000 });
    const cpu0 = cpuSeconds(h.pid);
    return {
      pid: h.pid,
      async stop() {
        const cpuS = cpuSeconds(h.pid) - cpu0;
        const end = await stopTool(h);
        const text = readText(stderr) + (stdout === '/dev/null' ? '' : readText(stdout));
        const lost = [...text.matchAll(/Lost (\d+) events/g)].reduce((a, m) => a + Number(m[1]), 0);
        return { ...end, cpuS, lost, stderrTail: tail(readText(stderr)) };
      },
    };
  },
  parse(path) {
    const rows = [];
    for (const line of lines(path)) {
      const f = line.split(' ');
      if (f[0] === 'F' && f.length >= 4) rows.push([BigInt(f[1]), { k: 'fork', parent: Number(f[2]), child: Number(f[3]) }]);
      else if (f[0] === 'E' && f.length >= 3) rows.push([BigInt(f[1]), { k: 'exec', pid: Number(f[2]) }]);
      else if (f[0] === 'X' && f.length >= 3) rows.push([BigInt(f[1]), { k: 'exit', tid: Number(f[2]) }]);
    }
    // Per-CPU perf buffers: lines are not in time order across CPUs.
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return { events: rows.map((r) => r[1]), ordered: true, badLines: 0 };
  },
};

// ---- forkstat -----------------------------------------------------------------------------

/** Is `pid` bound to the proc connector's multicast group (netlink family 11)? */
function procConnectorBound(pid) {
  const rows = readText('/proc/net/netlink').trim().split('\n').slice(1);
  return rows.some((r) => {
    const f = r.trim().split(/\s+/);
    return f[1] === '11' && Number(f[2]) === pid && parseInt(f[3], 16) !== 0;
  });
}

export const forkstat = {
  id: 'forkstat',
  label: 'forkstat -e fork,exec,exit',
  sees: 'fork, exec, exit (no thread creation)',
  available() {
    return existsSync('/usr/bin/forkstat') || existsSync('/usr/sbin/forkstat') ? null : 'forkstat not installed';
  },
  async start({ stdout, stderr }) {
    const h = startTool('forkstat', ['forkstat', '-e', 'fork,exec,exit'], { stdout, stderr });
    await waitFor('forkstat subscribe', () => procConnectorBound(h.pid), { alive: h.running, timeoutMs: 30000 });
    // It sends PROC_CN_MCAST_LISTEN right after bind(); give that one message time to land.
    await sleep(200);
    const cpu0 = cpuSeconds(h.pid);
    return {
      pid: h.pid,
      async stop() {
        const cpuS = cpuSeconds(h.pid) - cpu0;
        const end = await stopTool(h);
        const text = readText(stderr) + (stdout === '/dev/null' ? '' : readText(stdout));
        // forkstat reports a netlink overrun (ENOBUFS) as a "recv ----- nobufs" line; how many
        // events each one dropped is unknown, so this counts overruns, not events.
        const overruns = (text.match(/nobufs/g) ?? []).length;
        return { ...end, cpuS, lost: null, overruns, stderrTail: tail(readText(stderr)) };
      },
    };
  },
  parse(path) {
    const out = [];
    let parent = null;
    for (const line of lines(path)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 3 || !/^\d+$/.test(f[2])) continue;
      const pid = Number(f[2]);
      if (f[1] === 'fork' && f[3] === 'parent') parent = pid;
      else if (f[1] === 'fork' && f[3] === 'child') {
        if (parent !== null) out.push({ k: 'fork', parent, child: pid });
        parent = null;
      } else if (f[1] === 'exec') out.push({ k: 'exec', pid });
      else if (f[1] === 'exit') out.push({ k: 'exit', tid: pid });
    }
    return { events: out, ordered: true, badLines: 0 };
  },
};

// ---- execsnoop + exitsnoop -------------------------------------------------------------------

/**
 * execsnoop-bpfcc and exitsnoop-bpfcc together. bcc compiles at start and needs kernel headers,
 * and execsnoop attaches a kprobe; where either is impossible the pair is replaced by
 * execsnoop.bt (bpftrace's port, on the execve tracepoints) plus tools/exitsnoop.bt, and the
 * results say so.
 */
export const execexit = {
  id: 'execexit',
  label: 'execsnoop + exitsnoop',
  sees: 'exec, process exit (no forks, no threads)',
  seesForks: false,
  mode: null, // 'bcc' or 'bt' after probe()
  why: null,
  available() {
    return null;
  },
  /** Tries the bcc pair once; falls back to the bpftrace pair. Returns the mode chosen. */
  async probe(dir) {
    if (this.mode) return this.mode;
    try {
      const inst = await this.startBcc({ stdout: '/dev/null', stderr: join(dir, 'probe-bcc') });
      await inst.stop();
      this.mode = 'bcc';
    } catch (err) {
      this.mode = 'bt';
      this.why = err.message;
      this.label = 'execsnoop.bt + exitsnoop.bt (stand-in)';
    }
    return this.mode;
  },
  async startPair(argvA, argvB, { stdout, stderr }, ready) {
    const outA = stdout === '/dev/null' ? stdout : `${stdout}.exec`;
    const outB = stdout === '/dev/null' ? stdout : `${stdout}.exit`;
    const a = startTool('exec-tracer', argvA, { stdout: outA, stderr: `${stderr}.exec` });
    const b = startTool('exit-tracer', argvB, { stdout: outB, stderr: `${stderr}.exit` });
    try {
      await waitFor('exec tracer attach', () => ready(a.pid, 'exec'), { alive: a.running, timeoutMs: 90000, everyMs: 250 });
      await waitFor('exit tracer attach', () => ready(b.pid, 'exit'), { alive: b.running, timeoutMs: 90000, everyMs: 250 });
    } catch (err) {
      // The reason is in the stderr of the one that died by itself, not of the one stopped here.
      const dead = [[a, 'exec'], [b, 'exit']].filter(([h]) => !h.running()).map(([, w]) => `${stderr}.${w}`);
      await stopTool(a, { graceMs: 2000 });
      await stopTool(b, { graceMs: 2000 });
      const text = dead.map(readText).join('\n');
      const telling = text.split('\n').filter((l) => /kernel headers|kheaders|No such file|kprobe|Failed to compile/i.test(l));
      const why = telling.length ? [...new Set(telling.map((l) => l.trim()))].slice(0, 3).join(' | ') : tail(text, 2);
      throw new Error(`${err.message}: ${why}`);
    }
    const pairCpu = () => (cpuSeconds(a.pid) ?? 0) + (cpuSeconds(b.pid) ?? 0);
    const cpu0 = pairCpu();
    return {
      pid: a.pid,
      async stop() {
        const cpuS = pairCpu() - cpu0;
        const [ea, eb] = [await stopTool(a), await stopTool(b)];
        const text = readText(`${stderr}.exec`) + readText(`${stderr}.exit`) + (stdout === '/dev/null' ? '' : readText(outA) + readText(outB));
        const lost = [...text.matchAll(/(?:Lost|Possibly lost) (\d+) (?:events|samples)/g)].reduce((s, m) => s + Number(m[1]), 0);
        return { code: ea.code ?? eb.code, signal: ea.signal ?? eb.signal, stoppedBy: `${ea.stoppedBy}/${eb.stoppedBy}`, cpuS, lost, stderrTail: tail(text) };
      },
    };
  },
  startBcc(opts) {
    return this.startPair(['execsnoop-bpfcc'], ['exitsnoop-bpfcc'], opts, (pid) => attachmentsOf(pid).length > 0);
  },
  start(opts) {
    if (this.mode === 'bcc') return this.startBcc(opts);
    return this.startPair(['bpftrace', '/usr/sbin/execsnoop.bt'], ['bpftrace', join(BENCH, 'tools/exitsnoop.bt')], opts, (pid, which) =>
      which === 'exec' ? hasTracepoints(pid, ['sys_enter_execve']) : hasTracepoints(pid, ['sched_process_exit']),
    );
  },
  /** Two outputs, merged without a common order. */
  parse(path) {
    const out = [];
    for (const line of lines(`${path}.exec`)) {
      const f = line.trim().split(/\s+/);
      if (this.mode === 'bcc') {
        // PCOMM PID PPID RET ARGS
        if (f.length >= 4 && /^\d+$/.test(f[1])) out.push({ k: 'exec', pid: Number(f[1]) });
      } else if (f.length >= 2 && /^\d+$/.test(f[0]) && /^\d+$/.test(f[1])) {
        // TIME(ms) PID ARGS (ARGS is empty when bpftrace cannot read the new argv)
        out.push({ k: 'exec', pid: Number(f[1]) });
      }
    }
    for (const line of lines(`${path}.exit`)) {
      const f = line.trim().split(/\s+/);
      if (this.mode === 'bcc') {
        // TIME-TZ PCOMM PID PPID TID AGE(s) EXIT_CODE
        if (f.length >= 5 && /^\d+$/.test(f[2])) out.push({ k: 'exit', tid: Number(f[2]) });
      } else if (f[0] === 'X' && f.length >= 5) {
        out.push({ k: 'exit', tid: Number(f[2]) });
      }
    }
    return { events: out, ordered: false, badLines: 0 };
  },
};

export const PEERS = [bpftrace, forkstat, execexit];
export const TOOLS = { forkwatch, bpftrace, forkstat, execexit };
