// What bench/bpf-attrib.mjs and bench/ring-layout.mjs share: their settings, attaching a tool and
// waiting until the kernel lists its fork and exit programs, the fork+exit loops, and the rounds
// that run every tool in an order rotated per round and sum each handler's run_time_ns and run_cnt.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { attachmentsOf, bpfStatsEnabled, COUNTING_REFERENCE, ensureTracefs, HANDLERS, runDelta, runStats, setBpfStats } from './bpf.mjs';
import { sleep, startTool, stopTool, waitFor } from './proc.mjs';
import { log } from './results.mjs';
import { fmt } from './stats.mjs';

/** BENCH_COUNT, BENCH_ROUNDS and BENCH_LOOPS, checked, and root: else one line and exit 2. */
export function handlerRunSettings(script) {
  const COUNT = Number(process.env.BENCH_COUNT ?? 20000);
  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
  const LOOPS = (process.env.BENCH_LOOPS ?? '1,2').split(',').map(Number);
  for (const [name, v] of [['BENCH_COUNT', COUNT], ['BENCH_ROUNDS', ROUNDS], ...LOOPS.map((l) => ['BENCH_LOOPS', l])]) {
    if (!Number.isInteger(v) || v < 1) {
      console.error(`${script}: ${name} must be a positive integer, not ${JSON.stringify(process.env[name])}`);
      process.exit(2);
    }
  }
  if (process.getuid() !== 0) {
    console.error(`${script}: needs root (BPF programs, kernel.bpf_stats_enabled)`);
    process.exit(2);
  }
  return { COUNT, ROUNDS, LOOPS };
}

/**
 * Builds the fork+exit loop (test/workloads/forkn.c) into buildDir and returns its path; turns
 * kernel.bpf_stats_enabled on, put back as it was when the process exits (even on failure); mounts
 * tracefs for bpftrace if it is not.
 */
export function prepareHandlerRuns(root, buildDir) {
  const forkn = join(buildDir, 'forkn');
  execFileSync('cc', ['-O2', '-o', forkn, join(root, 'test/workloads/forkn.c')]);
  const before = bpfStatsEnabled();
  process.on('exit', () => {
    try {
      setBpfStats(before);
    } catch {
      /* best effort */
    }
  });
  setBpfStats(true);
  ensureTracefs();
  return forkn;
}

/**
 * Waits, after the builds, until the 1-minute load average is under BENCH_QUIET_LOAD (0.5), for up
 * to BENCH_QUIET_WAIT seconds (900): the builds themselves raise it. Returns whether it got there;
 * the caller's table says the load it started at either way.
 */
export async function waitQuiet(script) {
  const below = Number(process.env.BENCH_QUIET_LOAD ?? 0.5);
  const waitS = Number(process.env.BENCH_QUIET_WAIT ?? 900);
  if (!(below > 0) || !(waitS >= 0)) {
    console.error(`${script}: BENCH_QUIET_LOAD must be a positive number and BENCH_QUIET_WAIT a number of seconds`);
    process.exit(2);
  }
  const until = Date.now() + waitS * 1000;
  while (loadavg()[0] >= below) {
    if (Date.now() >= until) {
      log(`load ${loadavg()[0].toFixed(2)} still at or over ${below} after ${waitS} s: starting anyway`);
      return false;
    }
    await sleep(5000);
  }
  log(`load ${loadavg()[0].toFixed(2)}: starting`);
  return true;
}

/** Starts `argv` as tool `name` (output in dir/raw); resolves once its fork and exit programs are attached. */
export async function attachTool(dir, name, argv) {
  const out = join(dir, 'raw', `${name}.out`);
  const h = startTool(name, argv, { stdout: out, stderr: join(dir, 'raw', `${name}.err`) });
  const want = ['sched_process_fork', 'sched_process_exit'];
  await waitFor(`${name} attach`, () => want.every((t) => attachmentsOf(h.pid).some((a) => a.tracepoint === t)), { alive: h.running, timeoutMs: 60000 });
  return { h, out, progs: new Map(attachmentsOf(h.pid).map((a) => [a.prog_id, HANDLERS[a.tracepoint] ?? a.tracepoint])) };
}

/** `loops` fork+exit loops of `count` each (the forkn binary), in parallel; resolves when all exited 0. */
export function forkLoops(forkn, count, loops) {
  return Promise.all(
    Array.from(
      { length: loops },
      () =>
        new Promise((resolve, reject) => {
          const c = spawn(forkn, [String(count)], { stdio: 'ignore' });
          c.on('error', reject);
          c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`forkn exited with ${code}`))));
        }),
    ),
  );
}

/** The tool name of the counting bpftrace reference, which rotatedRuns adds to every run. */
export const REFERENCE = 'reference';

/**
 * Every tool ({ name, argv }) and the counting reference (REFERENCE) attached alone around the
 * loops, for each round and each case of `loops`, in an order rotated per round, once the machine
 * is quiet (waitQuiet). A tool whose output holds "records N lost M" has those summed too. Returns
 * { sums: loops -> tool name -> { handlers: { fork: { ns, cnt }, … }, records, lost }, start, end },
 * start and end being { date, loadavg } of the measured part.
 */
export async function rotatedRuns({ script, dir, tools: own, rounds, loops: cases, forkn, count }) {
  const tools = [...own, { name: REFERENCE, argv: ['bpftrace', '-e', COUNTING_REFERENCE] }];
  await waitQuiet(script);
  const start = { date: new Date().toISOString(), loadavg: loadavg() };
  const sums = {};
  for (let round = 0; round < rounds; round++) {
    for (const loops of cases) {
      for (const tool of tools.map((_, i) => tools[(i + round) % tools.length])) {
        const { h, out, progs } = await attachTool(dir, tool.name, tool.argv);
        let delta;
        try {
          const s0 = runStats(progs);
          await forkLoops(forkn, count, loops);
          delta = runDelta(s0, runStats(progs));
        } finally {
          await stopTool(h);
        }
        const row = ((sums[loops] ??= {})[tool.name] ??= { handlers: {}, records: 0, lost: 0 });
        for (const [handler, v] of Object.entries(delta)) {
          const acc = (row.handlers[handler] ??= { ns: 0, cnt: 0 });
          acc.ns += v.ns;
          acc.cnt += v.cnt;
        }
        const m = /records (\d+) lost (\d+)/.exec(readFileSync(out, 'utf8'));
        if (m) {
          row.records += Number(m[1]);
          row.lost += Number(m[2]);
        }
        log(
          `round ${round + 1}/${rounds}, ${loops} loop(s), ${tool.name}: ${Object.entries(row.handlers)
            .map(([k, v]) => `${k} ${fmt(v.cnt ? v.ns / v.cnt : null, 0)}`)
            .join(' ')}`,
        );
      }
    }
  }
  return { sums, start, end: { date: new Date().toISOString(), loadavg: loadavg() } };
}
