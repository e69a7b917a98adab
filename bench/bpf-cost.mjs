#!/usr/bin/env node
// BPF time per event, from the kernel's own accounting: with kernel.bpf_stats_enabled=1 the
// kernel adds each program run's duration to run_time_ns and counts it in run_cnt. For each
// workload a fresh forkwatch is attached, its programs (found by owner pid through `bpftool perf
// show`, so other forkwatch instances on the machine are not mixed in) are read before and after
// the workload, and the difference gives ns per program run. Runs of other processes on the
// machine during the window are included: the figure is a per-run average, not a per-workload sum.
// The sysctl is put back as it was, even on failure.
//
// usage: node bench/bpf-cost.mjs [WORKLOAD...]   env: BENCH_SCALE, BENCH_OUT
import { join } from 'node:path';
import { attachmentsOf, bpfStatsEnabled, ensureTracefs, progInfo, setBpfStats } from './lib/bpf.mjs';
import { runSync, startTool, stopTool, waitFor } from './lib/proc.mjs';
import { log, machine, outDir, save } from './lib/results.mjs';
import { fmt } from './lib/stats.mjs';
import { FW_ROOT, forkwatch } from './lib/tools.mjs';
import { WORKLOADS, eventsOf, runWorkload } from './lib/workload.mjs';

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(WORKLOADS);
const dir = outDir();
const TARGET_NS = 600;
const why = forkwatch.available();
if (why) {
  console.log(`### BPF time per event\n\nNot measured: forkwatch ${why}.`);
  save('bpf-cost', { machine: machine(), skipped: why });
  process.exit(0);
}

const before = bpfStatsEnabled();
const restore = () => {
  try {
    setBpfStats(before);
  } catch {
    /* best effort */
  }
};
process.on('exit', restore);
setBpfStats(true);

const snapshot = (ids) => Object.fromEntries(progInfo(ids).map((p) => [p.id, { name: p.name, ns: p.run_time_ns ?? 0, cnt: p.run_cnt ?? 0 }]));

/**
 * Static census of helper calls in each program's verified code (`bpftool prog dump xlated`):
 * where the time goes when a program is slower than its work suggests.
 */
function helperCalls(ids) {
  const out = {};
  for (const p of progInfo(ids)) {
    const text = runSync(['bpftool', 'prog', 'dump', 'xlated', 'id', String(p.id)]);
    const byHelper = {};
    for (const m of text.matchAll(/call ([A-Za-z_][A-Za-z0-9_]*)#/g)) byHelper[m[1]] = (byHelper[m[1]] ?? 0) + 1;
    out[p.name] = { insns: text.split('\n').filter((l) => /^\s*\d+:/.test(l)).length, calls: Object.values(byHelper).reduce((a, b) => a + b, 0), byHelper };
  }
  return out;
}

const result = { machine: machine(), targetNs: TARGET_NS, workloads: {} };
for (const name of names) {
  const w = WORKLOADS[name];
  if (!w) throw new Error(`unknown workload "${name}"; expected some of ${Object.keys(WORKLOADS).join(', ')}`);
  const fw = await forkwatch.start({ stdout: '/dev/null', stderr: join(dir, 'raw', `bpf-cost-${name}.err`), threads: w.threads });
  let res;
  let s0;
  let s1;
  try {
    if (!result.helperCalls) result.helperCalls = helperCalls(fw.progIds);
    s0 = snapshot(fw.progIds);
    res = await runWorkload(name, w.count);
    s1 = snapshot(fw.progIds);
  } finally {
    await fw.stop();
  }
  const stillOn = bpfStatsEnabled();
  const progs = {};
  let ns = 0;
  let cnt = 0;
  for (const id of Object.keys(s1)) {
    const d = { name: s1[id].name, ns: s1[id].ns - (s0[id]?.ns ?? 0), cnt: s1[id].cnt - (s0[id]?.cnt ?? 0) };
    d.nsPerRun = d.cnt ? d.ns / d.cnt : null;
    progs[d.name] = d;
    ns += d.ns;
    cnt += d.cnt;
  }
  result.workloads[name] = {
    label: w.label,
    count: w.count,
    workloadEvents: eventsOf(res),
    progs,
    runs: cnt,
    nsPerRun: cnt ? ns / cnt : null,
    statsStayedOn: stillOn,
  };
  log(`bpf-cost ${name}: ${cnt} runs, ${fmt(cnt ? ns / cnt : null, 0)} ns/run`);
  save('bpf-cost', result);
}

// The agent (`forkwatch run`, default config) also attaches handle_switch for per-cgroup CPU
// time; it runs on every context switch, so it is measured too, over the fork+exit workload.
let agent = null;
try {
  const port = Number(process.env.BENCH_AGENT_PORT ?? 10597);
  const errPath = join(dir, 'raw', 'bpf-cost-agent.err');
  const h = startTool('forkwatch-run', ['node', 'bin/forkwatch.js', 'run', '--listen', `127.0.0.1:${port}`], { stdout: join(dir, 'raw', 'bpf-cost-agent.out'), stderr: errPath, cwd: FW_ROOT });
  try {
    const want = ['sched_process_fork', 'sched_process_exec', 'sched_process_exit', 'sched_switch'];
    await waitFor('forkwatch run attach', () => want.every((t) => attachmentsOf(h.pid).some((a) => a.tracepoint === t)), { alive: h.running, timeoutMs: 60000 });
    const ids = attachmentsOf(h.pid).map((a) => a.prog_id);
    const a0 = snapshot(ids);
    const res = await runWorkload('forkexit', WORKLOADS.forkexit.count);
    const a1 = snapshot(ids);
    const progs = {};
    let ns = 0;
    let cnt = 0;
    for (const id of Object.keys(a1)) {
      const d = { name: a1[id].name, ns: a1[id].ns - (a0[id]?.ns ?? 0), cnt: a1[id].cnt - (a0[id]?.cnt ?? 0) };
      d.nsPerRun = d.cnt ? d.ns / d.cnt : null;
      progs[d.name] = d;
      ns += d.ns;
      cnt += d.cnt;
    }
    agent = { command: `forkwatch run --listen 127.0.0.1:${port}`, workload: 'forkexit', count: WORKLOADS.forkexit.count, workloadEvents: eventsOf(res), progs, runs: cnt, nsPerRun: cnt ? ns / cnt : null, elapsedS: res.elapsedNs / 1e9 };
  } finally {
    agent = { ...(agent ?? {}), stop: await stopTool(h) };
  }
  log(`bpf-cost agent: ${fmt(agent.nsPerRun, 0)} ns/run, handle_switch ${fmt(agent.progs?.handle_switch?.nsPerRun, 0)} ns × ${agent.progs?.handle_switch?.cnt}`);
} catch (err) {
  agent = { error: err.message };
  log(`bpf-cost agent: not measured: ${err.message}`);
}
result.agent = agent;
save('bpf-cost', result);

// Reference: what the smallest useful program (one counter per event, written in bpftrace)
// costs on this machine by the same measure, to show the floor the numbers above stand on.
let reference = null;
try {
  ensureTracefs();
  const prog = 'tracepoint:sched:sched_process_fork { @f = count(); } tracepoint:sched:sched_process_exit { @x = count(); }';
  const h = startTool('bpftrace-ref', ['bpftrace', '-e', prog], { stdout: '/dev/null', stderr: join(dir, 'raw', 'bpf-cost-reference.err') });
  try {
    await waitFor('bpftrace reference attach', () => attachmentsOf(h.pid).length >= 2, { alive: h.running, timeoutMs: 60000 });
    const ids = attachmentsOf(h.pid).map((a) => a.prog_id);
    const r0 = snapshot(ids);
    await runWorkload('forkexit', WORKLOADS.forkexit.count);
    const r1 = snapshot(ids);
    let ns = 0;
    let cnt = 0;
    for (const id of Object.keys(r1)) {
      ns += r1[id].ns - (r0[id]?.ns ?? 0);
      cnt += r1[id].cnt - (r0[id]?.cnt ?? 0);
    }
    reference = { program: prog, workload: 'forkexit', runs: cnt, nsPerRun: cnt ? ns / cnt : null };
  } finally {
    await stopTool(h);
  }
  log(`bpf-cost reference: ${fmt(reference.nsPerRun, 0)} ns/run`);
} catch (err) {
  reference = { error: err.message };
}
result.reference = reference;
save('bpf-cost', result);
restore();

const progNames = [...new Set(Object.values(result.workloads).flatMap((r) => Object.keys(r.progs)))];
console.log(`### BPF time per event (kernel.bpf_stats_enabled: run_time_ns / run_cnt of forkwatch's programs; target ≤ ${TARGET_NS} ns)\n`);
console.log(`| workload | workload events | program runs | ns per run, all programs | ${progNames.map((n) => `${n} ns (runs)`).join(' | ')} |`);
console.log(`|---|---:|---:|---:|${progNames.map(() => '---:').join('|')}|`);
for (const r of Object.values(result.workloads)) {
  const cells = progNames.map((n) => (r.progs[n]?.cnt ? `${fmt(r.progs[n].nsPerRun, 0)} (${r.progs[n].cnt})` : '—'));
  console.log(`| ${r.label} (${r.count}) | ${r.workloadEvents} | ${r.runs} | ${fmt(r.nsPerRun, 0)} | ${cells.join(' | ')} |`);
}
if (reference?.nsPerRun) console.log(`\nFor scale: a bpftrace program that only counts forks and exits measures ${fmt(reference.nsPerRun, 0)} ns per run on this machine, same workload, same measure.`);
if (result.helperCalls) {
  const parts = Object.entries(result.helperCalls).map(([n, h]) => `${n} ${h.calls} (${h.byHelper.bpf_probe_read_kernel ?? 0} of them bpf_probe_read_kernel)`);
  console.log(`\nHelper calls in the verified code (static count, \`bpftool prog dump xlated\`): ${parts.join('; ')}.`);
}
if (agent?.progs) {
  const names = Object.keys(agent.progs);
  console.log(`\nThe agent, \`${agent.command}\` (default config), over fork+exit (${agent.count}), ${agent.runs} program runs, ${fmt(agent.nsPerRun, 0)} ns per run overall:\n`);
  console.log(`| ${names.map((n) => `${n} ns (runs)`).join(' | ')} |`);
  console.log(`|${names.map(() => '---:').join('|')}|`);
  console.log(`| ${names.map((n) => (agent.progs[n].cnt ? `${fmt(agent.progs[n].nsPerRun, 0)} (${agent.progs[n].cnt})` : '—')).join(' | ')} |`);
  const sw = agent.progs.handle_switch;
  if (sw?.cnt) console.log(`\nhandle_switch runs on every context switch, not per event: ${sw.cnt} runs during a workload of ${agent.workloadEvents} events, ${fmt(sw.ns / 1e6, 1)} ms of BPF time in ${fmt(agent.elapsedS, 2)} s.`);
} else if (agent?.error) console.log(`\nThe agent (\`forkwatch run\`, for handle_switch) could not be measured: ${agent.error}`);
if (Object.values(result.workloads).some((r) => !r.statsStayedOn)) console.log('\nWarning: something else turned kernel.bpf_stats_enabled off during the run; figures cover only the part while it was on.');
