#!/usr/bin/env node
// Attribution of the BPF handlers' cost (issue 13, item 1): the same fork+exit loop under builds of
// bpf/proc.bpf.c that each knock one part out (FW_KO_*, `make bpf-variant`), under the default
// build, and under a bpftrace program that only counts the same two tracepoints (the reference).
// With kernel.bpf_stats_enabled the kernel adds each run's duration to run_time_ns and counts it in
// run_cnt (`bpftool prog show`); ns per run of each handler, over every run while the loop ran, is
// compared with the reference's and with the default build's. Tools run one at a time, in an order
// rotated every round, so slow drift of the machine spreads over all of them.
//
// usage: sudo node bench/bpf-attrib.mjs [KNOCKOUT...]     (names as in proc.bpf.c: RECORD, COUNTERS…)
// env:   BENCH_COUNT (forks per loop, 20000), BENCH_ROUNDS (3), BENCH_LOOPS (parallel loops per case,
//        "1,2"), BENCH_OUT (results directory). The sysctl is put back as it was, even on failure.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { attachmentsOf, bpfStatsEnabled, COUNTING_REFERENCE, ensureTracefs, HANDLERS, progInfo, setBpfStats } from './lib/bpf.mjs';
import { knockouts } from './lib/knockouts.mjs';
import { startTool, stopTool, waitFor } from './lib/proc.mjs';
import { commitOf, log, machine, outDir, save } from './lib/results.mjs';
import { fmt } from './lib/stats.mjs';
import { FW_ROOT } from './lib/tools.mjs';

const COUNT = Number(process.env.BENCH_COUNT ?? 20000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LOOPS = (process.env.BENCH_LOOPS ?? '1,2').split(',').map(Number);
for (const [name, v] of [['BENCH_COUNT', COUNT], ['BENCH_ROUNDS', ROUNDS], ...LOOPS.map((l) => ['BENCH_LOOPS', l])]) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`bpf-attrib: ${name} must be a positive integer, not ${JSON.stringify(process.env[name])}`);
    process.exit(2);
  }
}
if (process.getuid() !== 0) {
  console.error('bpf-attrib: needs root (BPF programs, kernel.bpf_stats_enabled)');
  process.exit(2);
}
if (!existsSync(join(FW_ROOT, 'addon/build/Release/forkwatch.node')) || !existsSync(join(FW_ROOT, 'dist/events/decode.js'))) {
  console.error(`bpf-attrib: forkwatch is not built in ${FW_ROOT}; run 'make' first`);
  process.exit(2);
}

const ALL = knockouts(FW_ROOT);
// A name may join knockouts with '+' (RECORD+LIFETIME): one build with all of them out, to price a part
// against a build that already lacks another (the default agent writes no records).
const asked = process.argv.slice(2).map((a) => a.toUpperCase());
for (const part of asked.flatMap((a) => a.split('+'))) {
  if (!ALL.some((k) => k.name === part)) {
    console.error(`bpf-attrib: no knockout "${part}" in bpf/proc.bpf.c; expected some of ${ALL.map((k) => k.name).join(', ')}, or several joined by '+'`);
    process.exit(2);
  }
}
const combined = (name) => {
  const parts = name.split('+').map((p) => ALL.find((k) => k.name === p));
  return { name, define: parts.map((k) => k.define).join(' '), removes: parts.map((k) => k.removes).join('; ') };
};
const dir = outDir();
const buildDir = join(dir, 'build');
mkdirSync(buildDir, { recursive: true });

// ---- builds: every variant from the same source, the default included ----
/** tool name -> { label, removes, object } ; 'reference' is bpftrace. */
const variants = [{ name: 'default', removes: 'nothing (the production build)', define: '' }, ...(asked.length ? asked.map(combined) : ALL)];
for (const v of variants) {
  v.object = join(buildDir, `${v.name.toLowerCase().replace(/\+/g, '-')}.bpf.o`);
  log(`build ${v.name}`);
  execFileSync('make', ['-s', '-C', FW_ROOT, 'bpf-variant', `VARIANT=${v.define}`, `OUT=${v.object}`], { stdio: ['ignore', 'ignore', 'inherit'] });
}
const forkn = join(buildDir, 'forkn');
execFileSync('cc', ['-O2', '-o', forkn, join(FW_ROOT, 'test/workloads/forkn.c')]);


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

/** Starts one tool; resolves with its handle once the kernel lists its fork and exit programs. */
async function attach(tool) {
  const err = join(dir, 'raw', `${tool.name}.err`);
  const out = join(dir, 'raw', `${tool.name}.out`);
  const argv = tool.name === 'reference' ? ['bpftrace', '-e', COUNTING_REFERENCE] : ['node', join(FW_ROOT, 'bench/lib/probe-host.mjs'), FW_ROOT, tool.object];
  const h = startTool(tool.name, argv, { stdout: out, stderr: err });
  const want = ['sched_process_fork', 'sched_process_exit'];
  await waitFor(`${tool.name} attach`, () => want.every((t) => attachmentsOf(h.pid).some((a) => a.tracepoint === t)), { alive: h.running, timeoutMs: 60000 });
  return { h, out, progs: new Map(attachmentsOf(h.pid).map((a) => [a.prog_id, HANDLERS[a.tracepoint] ?? a.tracepoint])) };
}

/** run_time_ns and run_cnt by handler. */
function snapshot(progs) {
  const out = {};
  for (const p of progInfo([...progs.keys()])) out[progs.get(p.id)] = { ns: p.run_time_ns ?? 0, cnt: p.run_cnt ?? 0 };
  return out;
}

/** `loops` fork+exit loops of COUNT each, in parallel; resolves when all have exited 0. */
function workload(loops) {
  return Promise.all(
    Array.from({ length: loops }, () => new Promise((resolve, reject) => {
      const c = spawn(forkn, [String(COUNT)], { stdio: 'ignore' });
      c.on('error', reject);
      c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`forkn exited with ${code}`))));
    })),
  );
}

const tools = [...variants, { name: 'reference', removes: 'bpftrace, counting fork and exit' }];
const start = { date: new Date().toISOString(), loadavg: loadavg() };
/** case (loops) -> tool -> handler -> { ns, cnt }; and records / lost per tool. */
const sums = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const loops of LOOPS) {
    const order = tools.map((_, i) => tools[(i + round) % tools.length]);
    for (const tool of order) {
      const { h, out, progs } = await attach(tool);
      let s0;
      let s1;
      try {
        s0 = snapshot(progs);
        await workload(loops);
        s1 = snapshot(progs);
      } finally {
        await stopTool(h);
      }
      const row = ((sums[loops] ??= {})[tool.name] ??= { handlers: {}, records: 0, lost: 0 });
      for (const [handler, v] of Object.entries(s1)) {
        const acc = (row.handlers[handler] ??= { ns: 0, cnt: 0 });
        acc.ns += v.ns - (s0[handler]?.ns ?? 0);
        acc.cnt += v.cnt - (s0[handler]?.cnt ?? 0);
      }
      const m = /records (\d+) lost (\d+)/.exec(readFileSync(out, 'utf8'));
      if (m) {
        row.records += Number(m[1]);
        row.lost += Number(m[2]);
      }
      log(`round ${round + 1}/${ROUNDS}, ${loops} loop(s), ${tool.name}: ${Object.entries(row.handlers).map(([k, v]) => `${k} ${fmt(v.cnt ? v.ns / v.cnt : null, 0)}`).join(' ')}`);
    }
  }
}
const end = { date: new Date().toISOString(), loadavg: loadavg() };
const commit = commitOf(FW_ROOT);
const result = { machine: machine(), command: process.argv.slice(1).join(' '), env: { COUNT, ROUNDS, LOOPS }, start, end, commit, variants: tools.map(({ name, removes }) => ({ name, removes })), sums };
save('bpf-attrib', result);

// ---- the table ----
const perRun = (v) => (v?.cnt ? v.ns / v.cnt : null);
const la = (l) => l.map((x) => x.toFixed(2)).join(' ');
const lines = [];
lines.push(`### BPF handler cost by part (bench/bpf-attrib.mjs)\n`);
lines.push(`${start.date} – ${end.date}, commit \`${commit}\`, ${result.machine.cpu}, ${result.machine.cores} CPUs, kernel ${result.machine.kernel}.`);
lines.push(`Load average ${la(start.loadavg)} at the start, ${la(end.loadavg)} at the end. Command: \`${['node', ...process.argv.slice(1).map((a) => a.replace(FW_ROOT + '/', ''))].join(' ')}\` (BENCH_COUNT=${COUNT}, BENCH_ROUNDS=${ROUNDS}, BENCH_LOOPS=${LOOPS.join(',')}).`);
const others = result.machine.otherTracers?.filter((t) => t.pid !== process.pid) ?? [];
lines.push(others.length ? `Other programs on the sched_process_* tracepoints during the run: ${others.map((t) => `\`${t.cmd}\``).join(', ')}.` : 'No other program was attached to the sched_process_* tracepoints when the run ended.');
lines.push('');
lines.push('ns per run = run_time_ns / run_cnt over every run while the loops ran (other processes\' forks included). "× ref": over the bpftrace counting program on the same tracepoint; "saves": the default build\'s ns minus the variant\'s, as a share of the default\'s.\n');
for (const loops of LOOPS) {
  const byTool = sums[loops];
  const ref = byTool.reference.handlers;
  const def = byTool.default.handlers;
  lines.push(`**${loops > 1 ? `${loops} fork+exit loops in parallel, ${COUNT} forks each` : `one fork+exit loop, ${COUNT} forks`}, ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}**\n`);
  lines.push('| build | removes | fork ns/run | × ref | saves | exit ns/run | × ref | saves | switch ns/run | records lost |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const t of tools) {
    const h = byTool[t.name].handlers;
    const cell = (k) => {
      const ns = perRun(h[k]);
      const r = perRun(ref[k]);
      const d = perRun(def[k]);
      const saves = t.name === 'reference' || t.name === 'default' || ns === null || !d ? '' : `${(((d - ns) / d) * 100).toFixed(0)}%`;
      return [fmt(ns, 0), ns !== null && r ? `${(ns / r).toFixed(1)}` : 'n/a', saves];
    };
    const lost = t.name === 'reference' ? '' : `${byTool[t.name].lost} of ${byTool[t.name].records + byTool[t.name].lost}`;
    lines.push(`| ${t.name} | ${t.removes} | ${[...cell('fork'), ...cell('exit')].join(' | ')} | ${fmt(perRun(h.switch), 0)} | ${lost} |`);
  }
  lines.push('');
}
const md = lines.join('\n');
writeFileSync(join(dir, 'bpf-attrib.md'), md + '\n');
console.log(md);
