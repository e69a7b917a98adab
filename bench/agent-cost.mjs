#!/usr/bin/env node
// The targets of issue 13 in one run, side by side, on one machine:
//
// 1. cost: ns per run of the handlers (kernel.bpf_stats_enabled: run_time_ns / run_cnt of each
//    program, found by owner pid with `bpftool perf show`) on a fork+exit loop, two such loops in
//    parallel, and a thread create+join loop, for: the counting bpftrace reference; the default
//    agent (`forkwatch run`, its embedded default config, no subscriber); the agent with a local
//    `forkwatch tail --json > /dev/null` beside it (both objects' programs summed per event); the
//    agent with `forkwatch tail --from unix:<its socket> --json` attached (the agent then records
//    everything). Each as a ratio to the reference. What the agent attached is read from the
//    kernel (handle_switch or not), never assumed. Cases run one at a time, rotated every round.
// 2. overhead: the workload's CPU with the default agent attached against detached, alternating
//    chunks (bench/lib/alternate.mjs, the method of bench/overhead.mjs), fork+exit and threads;
//    and directly, the handlers' run_time_ns over the workload's CPU in one more attached chunk.
// 3. paced: the agent's CPU (% of one core) while fw-forkpar forks at a paced 1,000/s.
// 4. churn: the agent's RSS (VmRSS) over a churn of short-lived cgroups (churn_loop of
//    bench/agent/lib.sh), sampled every --rss-every seconds, for --churn-s seconds.
//
// usage: sudo node bench/agent-cost.mjs [--parts cost,overhead,paced,churn] [--count N]
//        [--rounds N] [--chunks N] [--paced-s S] [--paced-rate N] [--churn-s S] [--churn-rate N]
//        [--rss-every S] [--port P]      (defaults below; BENCH_OUT: results directory)
// A smoke check of the harness: BENCH_SCALE=0.02 (overhead chunks) with --count 300 --rounds 1 --chunks 2 --paced-s 2 --churn-s 6 --rss-every 2
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { perEvent, renderAgentCost, rssSlope } from './lib/agent-cost-report.mjs';
import { alternate, pairStats } from './lib/alternate.mjs';
import { bpfStatsEnabled, COUNTING_REFERENCE, ensureTracefs, handlersOf, runDelta, runStats, setBpfStats } from './lib/bpf.mjs';
import { cpuSeconds, readText, rssKib, run, sleep, startTool, stopTool, waitFor } from './lib/proc.mjs';
import { commandText, commitOf, log, machine, outDir, save } from './lib/results.mjs';
import { fmt } from './lib/stats.mjs';
import { FW_ROOT } from './lib/tools.mjs';
import { runWorkload, WORKLOADS } from './lib/workload.mjs';

const PARTS = ['cost', 'overhead', 'paced', 'churn'];
const { values: flags } = parseArgs({
  options: {
    parts: { type: 'string', default: PARTS.join(',') },
    count: { type: 'string', default: '20000' }, // forks (threads) per loop in the cost part
    rounds: { type: 'string', default: '3' },
    chunks: { type: 'string', default: '12' }, // overhead: chunks per side
    'paced-s': { type: 'string', default: '60' },
    'paced-rate': { type: 'string', default: '1000' },
    'churn-s': { type: 'string', default: '600' },
    'churn-rate': { type: 'string', default: '10' },
    'rss-every': { type: 'string', default: '10' },
    port: { type: 'string', default: '10598' },
  },
});
const num = (k) => {
  const v = Number(flags[k]);
  if (!Number.isInteger(v) || v < 1) {
    console.error(`agent-cost: --${k} "${flags[k]}": expected a positive integer`);
    process.exit(2);
  }
  return v;
};
const parts = flags.parts.split(',');
for (const p of parts) {
  if (!PARTS.includes(p)) {
    console.error(`agent-cost: --parts: no part "${p}"; expected some of ${PARTS.join(', ')}`);
    process.exit(2);
  }
}
const COUNT = num('count');
const ROUNDS = num('rounds');
const CHUNKS = num('chunks');
const PACED_S = num('paced-s');
const PACED_RATE = num('paced-rate');
const CHURN_S = num('churn-s');
const CHURN_RATE = num('churn-rate');
const RSS_EVERY = num('rss-every');
const PORT = num('port');
if (process.getuid() !== 0) {
  console.error('agent-cost: needs root (BPF programs, kernel.bpf_stats_enabled, cgroups)');
  process.exit(2);
}
if (!existsSync(join(FW_ROOT, 'addon/build/Release/forkwatch.node')) || !existsSync(join(FW_ROOT, 'dist/cli/main.js'))) {
  console.error(`agent-cost: forkwatch is not built in ${FW_ROOT}; run 'make' first`);
  process.exit(2);
}
const CG_ROOT = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';
if (parts.includes('churn') && !existsSync(join(CG_ROOT, 'cgroup.procs'))) {
  console.error(`agent-cost: no cgroup v2 hierarchy at ${CG_ROOT} (the churn needs one)`);
  process.exit(2);
}

const dir = outDir();
const raw = (name) => join(dir, 'raw', name);
execFileSync(join(FW_ROOT, 'bench/build.sh'), { stdio: ['ignore', 'ignore', 'inherit'] });
ensureTracefs();
const statsBefore = bpfStatsEnabled();
process.on('exit', () => {
  try {
    setBpfStats(statsBefore);
  } catch {
    /* best effort */
  }
});

// ---- the tools ------------------------------------------------------------------------------
const SOCKET = join(dir, 'api.sock');
const CONFIG = join(dir, 'agent.yml');
// The embedded default, with a socket of its own so `tail --from` reaches this agent and no other.
writeFileSync(CONFIG, `api:\n  socket: "${SOCKET}"\n`);
const hasTps = (pid, tps) => {
  const got = new Set([...handlersOf(pid).values()]);
  return tps.every((t) => got.has(t));
};

let agentStarts = 0;
/** The default agent; ready once it serves /healthz and the kernel lists its fork and exit programs. */
async function startAgent() {
  const n = agentStarts++;
  const h = startTool('forkwatch-run', ['node', 'bin/forkwatch.js', 'run', '--listen', `127.0.0.1:${PORT}`, '--config', CONFIG], { stderr: raw(`agent-${n}.log`), stdout: raw(`agent-${n}.out`), cwd: FW_ROOT });
  const healthy = async () => {
    try {
      return (await fetch(`http://127.0.0.1:${PORT}/healthz`)).ok;
    } catch {
      return false;
    }
  };
  try {
    await waitFor('forkwatch run', async () => (await healthy()) && hasTps(h.pid, ['fork', 'exit']), { alive: h.running, timeoutMs: 90000, everyMs: 200 });
  } catch (err) {
    await stopTool(h, { graceMs: 2000 });
    throw new Error(`${err.message}: ${readText(raw(`agent-${n}.log`)).trim().split('\n').slice(-2).join(' | ')}`);
  }
  return h;
}

/** `forkwatch tail --json > /dev/null` of its own (its own BPF object). */
async function startLocalTail(tag) {
  const err = raw(`tail-${tag}.err`);
  const h = startTool('forkwatch-tail', ['node', 'bin/forkwatch.js', 'tail', '--json'], { stdout: '/dev/null', stderr: err, cwd: FW_ROOT });
  await waitFor('forkwatch tail', () => /attached/.test(readText(err)) && hasTps(h.pid, ['fork', 'exit']), { alive: h.running, timeoutMs: 90000 });
  return h;
}

/**
 * `forkwatch tail --from unix:<socket> --json`: ready once it is connected and events reach its
 * output (a process started here makes some), i.e. the agent records for it.
 */
async function startRemoteTail(tag) {
  const err = raw(`remote-${tag}.err`);
  const out = raw(`remote-${tag}.out`);
  const h = startTool('forkwatch-tail-from', ['node', 'bin/forkwatch.js', 'tail', '--from', `unix:${SOCKET}`, '--json'], { stdout: out, stderr: err, cwd: FW_ROOT });
  await waitFor('tail --from connect', () => /connected to/.test(readText(err)), { alive: h.running, timeoutMs: 30000 });
  await waitFor(
    'tail --from events',
    async () => {
      await run(['/bin/true']);
      return readText(out).length > 0;
    },
    { alive: h.running, timeoutMs: 30000, everyMs: 200 },
  );
  return h;
}

// ---- 1. ns per run ---------------------------------------------------------------------------
const LOOPS = [
  { name: 'forkexit', label: 'fork+exit', run: () => runWorkload('forkexit', COUNT) },
  { name: 'forkpar', label: '2 fork+exit loops in parallel', run: () => runWorkload('forkpar', 2 * COUNT, { extra: [2] }) },
  { name: 'threads', label: 'thread create+join', run: () => runWorkload('threads', COUNT) },
];

/** Each case: what to start, and which pids' programs make up its cost. */
const CASES = [
  {
    name: 'reference',
    label: 'bpftrace counting fork and exit (reference)',
    async start() {
      const h = startTool('bpftrace', ['bpftrace', '-e', COUNTING_REFERENCE], { stderr: raw('reference.err') });
      await waitFor('bpftrace attach', () => hasTps(h.pid, ['fork', 'exit']), { alive: h.running, timeoutMs: 60000 });
      return { handles: [h], measured: [h] };
    },
  },
  {
    name: 'agent',
    label: 'default agent, no subscriber',
    async start() {
      const a = await startAgent();
      return { handles: [a], measured: [a], agent: a };
    },
  },
  {
    name: 'agent+tail',
    label: 'agent + local `tail --json > /dev/null` (both summed)',
    async start(tag) {
      const { a, t } = await agentWith(startLocalTail, tag);
      // The agent first: per event is over its runs (the tail's programs run on the same events).
      return { handles: [t, a], measured: [a, t], agent: a };
    },
  },
  {
    name: 'agent+from',
    label: 'agent + `tail --from unix:<socket> --json`',
    async start(tag) {
      const { a, t } = await agentWith(startRemoteTail, tag);
      return { handles: [t, a], measured: [a], agent: a };
    },
  },
];

/** The agent, then a tail beside it (stopped first, listed first); the agent goes if the tail fails to start. */
async function agentWith(startTail, tag) {
  const a = await startAgent();
  try {
    return { a, t: await startTail(tag) };
  } catch (err) {
    await stopAll([a]);
    throw err;
  }
}

async function stopAll(handles) {
  for (const h of handles) await stopTool(h);
}

const cost = {}; // case -> loop -> { byPid: [{ pid, handlers: { h: { ns, cnt } } }], attached: [...] }
async function costPart() {
  setBpfStats(true);
  for (let round = 0; round < ROUNDS; round++) {
    const order = CASES.map((_, i) => CASES[(i + round) % CASES.length]);
    for (const c of order) {
      const inst = await c.start(`${c.name}-${round}`);
      try {
        const progs = inst.measured.map((h) => handlersOf(h.pid));
        const attached = inst.agent ? [...new Set(handlersOf(inst.agent.pid).values())].sort() : null;
        for (const loop of LOOPS) {
          const s0 = progs.map(runStats);
          await loop.run();
          const s1 = progs.map(runStats);
          const row = (((cost[c.name] ??= {})[loop.name] ??= { objects: progs.map(() => ({})), attached }));
          s1.forEach((after, i) => {
            for (const [h, d] of Object.entries(runDelta(s0[i], after))) {
              const acc = (row.objects[i][h] ??= { ns: 0, cnt: 0 });
              acc.ns += d.ns;
              acc.cnt += d.cnt;
            }
          });
          log(`cost round ${round + 1}/${ROUNDS} ${c.name} ${loop.name}: ${summary(row)}`);
        }
      } finally {
        await stopAll(inst.handles);
      }
    }
  }
}

const summary = (row) => ['fork', 'exit', 'switch'].map((h) => `${h} ${fmt(perEvent(row, h), 0)}`).join(' ');

// ---- 2. workload overhead --------------------------------------------------------------------
const overhead = {};
async function overheadPart() {
  for (const name of ['forkexit', 'threads']) {
    const chunkOps = WORKLOADS[name].chunk; // about a second each here; BENCH_SCALE scales it
    const { chunks } = await alternate({
      perSide: CHUNKS,
      // A run whose B chunks began while the agent started had every block's first B chunk 5–15%
      // slower than its A neighbour and the second one within noise of it.
      attach: () => settledAgent(),
      detach: (h) => stopTool(h),
      chunk: async (i, attached) => {
        const r = await runWorkload(name, chunkOps);
        log(`overhead ${name} chunk ${i + 1}/${2 * CHUNKS} ${attached ? 'B agent' : 'A none'}: CPU ${(r.cpuNs / 1e9).toFixed(3)} s`);
        return r;
      },
    });
    overhead[name] = { chunkOps, ...pairStats(chunks), direct: await directShare(name, chunkOps) };
  }
}

/**
 * The handlers' own CPU in the workload's context, as a share of the workload's CPU: one more chunk
 * with the agent attached and kernel.bpf_stats_enabled on (left off for the A/B chunks, as its two
 * clock reads per run would be in B's CPU), the run_time_ns of every program the agent attached
 * over the chunk's CPU. What the A/B pairs measure besides it (cache and TLB the handlers take from
 * the workload) is within their noise; runs caused by other processes meanwhile are counted too.
 */
async function directShare(name, chunkOps) {
  const a = await settledAgent();
  const was = bpfStatsEnabled();
  try {
    setBpfStats(true);
    const progs = handlersOf(a.pid);
    const s0 = runStats(progs);
    const r = await runWorkload(name, chunkOps);
    const d = runDelta(s0, runStats(progs));
    const ns = Object.values(d).reduce((sum, v) => sum + v.ns, 0);
    const runs = Object.values(d).reduce((sum, v) => sum + v.cnt, 0);
    const share = ns / r.cpuNs;
    log(`overhead ${name} direct: handlers ${fmt(ns / 1e6, 1)} ms in ${runs} runs over the workload's ${fmt(r.cpuNs / 1e9, 3)} s of CPU: ${fmt(share * 100, 3)}%`);
    return { handlersNs: ns, runs, workloadCpuNs: r.cpuNs, ops: r.ops, share };
  } finally {
    setBpfStats(was);
    await stopTool(a);
  }
}

/** The default agent past its start-up work (the /proc scan, compiling its hot paths), which no measured window may hold. */
async function settledAgent() {
  const h = await startAgent();
  await sleep(3000);
  return h;
}

// ---- 3. agent CPU at a paced fork rate -------------------------------------------------------
let paced = null;
async function pacedPart() {
  const a = await settledAgent();
  try {
    const c0 = cpuSeconds(a.pid);
    const t0 = performance.now();
    const r = await runWorkload('forkpar', PACED_RATE * PACED_S, { extra: [1, PACED_RATE] });
    const c1 = cpuSeconds(a.pid);
    const s = (performance.now() - t0) / 1000;
    paced = { forks: r.tasks, seconds: s, forksPerS: r.tasks / (r.elapsedNs / 1e9), cpuS: c1 - c0, corePct: ((c1 - c0) / s) * 100 };
    log(`paced: ${fmt(paced.forksPerS, 0)} forks/s, agent ${fmt(paced.corePct, 2)}% of a core`);
  } finally {
    await stopTool(a);
  }
}

// ---- 4. agent RSS over a cgroup churn --------------------------------------------------------
let churn = null;
async function churnPart() {
  const a = await startAgent();
  const runId = `fwac-${process.pid}`;
  const countFile = join(dir, 'churn-count');
  writeFileSync(countFile, '0\n');
  const deadlineUs = (Date.now() + CHURN_S * 1000) * 1000;
  const env = { ...process.env, CG_ROOT, RUN_ID: runId, W: join(FW_ROOT, 'bench/build'), CHURN_PROCS: '3', CHURN_RATE: String(CHURN_RATE), OUT: dir };
  const loop = startTool('churn', ['bash', '-c', '. "$0" && churn_loop "$1"', join(FW_ROOT, 'bench/agent/lib.sh'), String(deadlineUs)], { env, stderr: raw('churn.err') });
  const samples = [];
  const c0 = cpuSeconds(a.pid);
  const t0 = Date.now();
  let cpuS = null;
  try {
    for (let t = 0; t <= CHURN_S; t += RSS_EVERY) {
      await sleep(Math.max(0, t0 + t * 1000 - Date.now()));
      if (!a.running()) throw new Error(`the agent died during the churn; see ${dir}/raw/agent-*.log`);
      const s = { t: (Date.now() - t0) / 1000, rssKib: rssKib(a.pid), churned: Number(readText(countFile).trim() || 0) };
      samples.push(s);
      log(`churn t=${s.t.toFixed(0)}s RSS ${s.rssKib} KiB, ${s.churned} cgroups`);
    }
    cpuS = cpuSeconds(a.pid) - c0;
    await waitFor('churn loop end', () => !loop.running(), { timeoutMs: 30000 });
  } finally {
    await stopTool(loop);
    await stopTool(a);
    // The loop removes each cgroup once its processes are gone; one it was stopped in is removed here.
    for (const d of listChurnCgroups(runId)) {
      try {
        execFileSync('rmdir', [d]);
      } catch {
        log(`churn: could not remove ${d}`);
      }
    }
  }
  const half = samples.filter((s) => s.t >= CHURN_S / 2);
  churn = {
    samples,
    churned: samples.at(-1)?.churned ?? 0,
    cpuPct: cpuS === null ? null : (cpuS / ((samples.at(-1)?.t ?? 0) || 1)) * 100,
    first: samples[0]?.rssKib,
    last: samples.at(-1)?.rssKib,
    max: Math.max(...samples.map((s) => s.rssKib)),
    slopeAll: rssSlope(samples),
    slopeHalf: rssSlope(half),
  };
}

function listChurnCgroups(runId) {
  try {
    return execFileSync('find', [CG_ROOT, '-maxdepth', '1', '-name', `${runId}-churn-*`], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

// ---- run ------------------------------------------------------------------------------------
const start = { date: new Date().toISOString(), loadavg: loadavg() };
if (parts.includes('cost')) await costPart();
if (parts.includes('overhead')) await overheadPart();
if (parts.includes('paced')) await pacedPart();
if (parts.includes('churn')) await churnPart();
const end = { date: new Date().toISOString(), loadavg: loadavg() };
const commit = commitOf(FW_ROOT);
const command = commandText(FW_ROOT);
const result = { machine: machine(), command, commit, flags, start, end, cost, overhead, paced, churn };
save('agent-cost', result);
const md = renderAgentCost({
  result,
  parts,
  cases: CASES,
  loops: LOOPS,
  n: { COUNT, ROUNDS, CHUNKS, PACED_S, PACED_RATE, CHURN_S, CHURN_RATE, RSS_EVERY },
  dir: dir.replace(FW_ROOT + '/', ''),
});
writeFileSync(join(dir, 'agent-cost.md'), md + '\n');
console.log(md);
