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
//        "1,2"), BENCH_OUT (results directory), BENCH_QUIET_LOAD and BENCH_QUIET_WAIT
//        (after the builds, wait until the load is under 0.5, at most 900 s). The sysctl is put back as it was, even on failure.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { handlerRunSettings, prepareHandlerRuns, REFERENCE, rotatedRuns } from './lib/handler-runs.mjs';
import { knockouts } from './lib/knockouts.mjs';
import { commitOf, log, machine, outDir, save } from './lib/results.mjs';
import { fmt } from './lib/stats.mjs';
import { FW_ROOT } from './lib/tools.mjs';

const { COUNT, ROUNDS, LOOPS } = handlerRunSettings('bpf-attrib');
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
const forkn = prepareHandlerRuns(FW_ROOT, buildDir);

const tools = [...variants, { name: REFERENCE, removes: 'bpftrace, counting fork and exit' }];
/** case (loops) -> tool -> { handlers, records, lost } */
const { sums, start, end } = await rotatedRuns({
  script: 'bpf-attrib',
  dir,
  tools: variants.map((v) => ({ name: v.name, argv: ['node', join(FW_ROOT, 'bench/lib/probe-host.mjs'), FW_ROOT, v.object] })),
  rounds: ROUNDS,
  loops: LOOPS,
  forkn,
  count: COUNT,
});
const commit = commitOf(FW_ROOT);
const result = {
  machine: machine(),
  command: process.argv.slice(1).join(' '),
  env: { COUNT, ROUNDS, LOOPS },
  start,
  end,
  commit,
  variants: tools.map(({ name, removes }) => ({ name, removes })),
  sums,
};
save('bpf-attrib', result);

// ---- the table ----
const perRun = (v) => (v?.cnt ? v.ns / v.cnt : null);
const la = (l) => l.map((x) => x.toFixed(2)).join(' ');
const lines = [];
lines.push(`### BPF handler cost by part (bench/bpf-attrib.mjs)\n`);
lines.push(`${start.date} – ${end.date}, commit \`${commit}\`, ${result.machine.cpu}, ${result.machine.cores} CPUs, kernel ${result.machine.kernel}.`);
lines.push(
  `Load average ${la(start.loadavg)} at the start, ${la(end.loadavg)} at the end. Command: \`${['node', ...process.argv.slice(1).map((a) => a.replace(FW_ROOT + '/', ''))].join(' ')}\` (BENCH_COUNT=${COUNT}, BENCH_ROUNDS=${ROUNDS}, BENCH_LOOPS=${LOOPS.join(',')}).`,
);
const others = result.machine.otherTracers?.filter((t) => t.pid !== process.pid) ?? [];
lines.push(
  others.length
    ? `Other programs on the sched_process_* tracepoints during the run: ${others.map((t) => `\`${t.cmd}\``).join(', ')}.`
    : 'No other program was attached to the sched_process_* tracepoints when the run ended.',
);
lines.push('');
lines.push(
  'ns per run = run_time_ns / run_cnt over every run while the loops ran (other processes\' forks included). "× ref": over the bpftrace counting program on the same tracepoint; "saves": the default build\'s ns minus the variant\'s, as a share of the default\'s.\n',
);
for (const loops of LOOPS) {
  const byTool = sums[loops];
  const ref = byTool[REFERENCE].handlers;
  const def = byTool.default.handlers;
  lines.push(
    `**${loops > 1 ? `${loops} fork+exit loops in parallel, ${COUNT} forks each` : `one fork+exit loop, ${COUNT} forks`}, ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}**\n`,
  );
  lines.push('| build | removes | fork ns/run | × ref | saves | exit ns/run | × ref | saves | switch ns/run | records lost |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const t of tools) {
    const h = byTool[t.name].handlers;
    const cell = (k) => {
      const ns = perRun(h[k]);
      const r = perRun(ref[k]);
      const d = perRun(def[k]);
      const saves = t.name === REFERENCE || t.name === 'default' || ns === null || !d ? '' : `${(((d - ns) / d) * 100).toFixed(0)}%`;
      return [fmt(ns, 0), ns !== null && r ? `${(ns / r).toFixed(1)}` : 'n/a', saves];
    };
    const lost = t.name === REFERENCE ? '' : `${byTool[t.name].lost} of ${byTool[t.name].records + byTool[t.name].lost}`;
    lines.push(`| ${t.name} | ${t.removes} | ${[...cell('fork'), ...cell('exit')].join(' | ')} | ${fmt(perRun(h.switch), 0)} | ${lost} |`);
  }
  lines.push('');
}
const md = lines.join('\n');
writeFileSync(join(dir, 'bpf-attrib.md'), md + '\n');
console.log(md);
