// The numbers and the Markdown report of bench/agent-cost.mjs (kept apart from the runs).
import { loadText } from './results.mjs';
import { fmt, pct } from './stats.mjs';

/** ns per event of handler `h`: every measured object's run time, over the runs of the first (the agent). */
export function perEvent(row, h) {
  const first = row?.objects[0]?.[h];
  if (!first?.cnt) return null;
  return row.objects.reduce((s, o) => s + (o[h]?.ns ?? 0), 0) / first.cnt;
}

/** Least-squares slope of RSS in KiB per minute over samples { t (s), rssKib }. */
export function rssSlope(samples) {
  const pts = samples.map((s) => [s.t / 60, s.rssKib]);
  const n = pts.length;
  if (n < 2) return null;
  const sx = pts.reduce((a, p) => a + p[0], 0);
  const sy = pts.reduce((a, p) => a + p[1], 0);
  const sxx = pts.reduce((a, p) => a + p[0] * p[0], 0);
  const sxy = pts.reduce((a, p) => a + p[0] * p[1], 0);
  const d = n * sxx - sx * sx;
  return d === 0 ? null : (n * sxy - sx * sy) / d;
}

/** The whole report: header (dates, commit, machine, load at start and end, command), one table per part run. */
export function renderAgentCost({ result, parts, cases, loops, n, dir }) {
  const { COUNT, ROUNDS, CHUNKS, PACED_S, PACED_RATE, CHURN_S, CHURN_RATE, RSS_EVERY } = n;
  const { start, end, commit, command, cost, overhead, paced, churn } = result;
  const m = result.machine;
  const lines = [];
  lines.push('### The agent against the targets of issue 13 (bench/agent-cost.mjs)\n');
  lines.push(`${start.date} – ${end.date}, commit \`${commit}\`, ${m.cpu}, ${m.cores} CPUs, kernel ${m.kernel}, node ${m.node}.`);
  lines.push(`Load average ${loadText(start.loadavg)} at the start, ${loadText(end.loadavg)} at the end. Command: \`${command}\`.\n`);
  if (parts.includes('cost')) {
    const ref = cost.reference;
    lines.push(`**BPF ns per run** (run_time_ns / run_cnt, ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}, ${COUNT} forks or threads per loop; every run while the loop ran, other processes' included). × ref: over the counting bpftrace program on the same loop. With a local tail, its programs' time is added to the agent's per event. Targets: default agent ≤ 2×, with a tail ≤ 4×.\n`);
    lines.push(`| case | agent's programs attached | ${loops.map((l) => `${l.label}: fork | × ref | exit | × ref`).join(' | ')} | switch ns/run |`);
    lines.push(`|---|---|${loops.map(() => '---:|---:|---:|---:').join('|')}|---:|`);
    for (const c of cases) {
      const rows = cost[c.name];
      if (!rows) continue;
      const cells = loops.flatMap((l) =>
        ['fork', 'exit'].flatMap((h) => {
          const v = perEvent(rows[l.name], h);
          const r = perEvent(ref?.[l.name], h);
          return [fmt(v, 0), c.name === 'reference' || v === null || !r ? '' : `${fmt(v / r, 1)}×`];
        }),
      );
      const attached = rows[loops[0].name]?.attached;
      const sw = perEvent(rows[loops[0].name], 'switch');
      lines.push(`| ${c.label} | ${attached ? attached.join(', ') : '—'} | ${cells.join(' | ')} | ${sw === null ? (attached ? 'not attached' : '') : fmt(sw, 0)} |`);
    }
    const sw = cost.agent?.[loops[0].name]?.attached?.includes('switch');
    lines.push(`\nhandle_switch (sched_switch) attached by the default agent: **${sw === undefined ? 'n/a' : sw ? 'yes' : 'no'}**.\n`);
  }
  if (parts.includes('overhead')) {
    lines.push(`**Workload CPU overhead of the default agent** (alternating chunks A B B A …, ${CHUNKS} per side; CPU: user + system of the workload and its children, where the BPF programs run). Targets: fork+exit < 1%, threads < 2%.\n`);
    lines.push("Direct: the agent's programs' run_time_ns (kernel.bpf_stats_enabled) over the workload's CPU, in one more chunk with the agent attached: the handlers run in the forking and exiting tasks, so this is the CPU they add to the workload, less the caches they cost it.\n");
    lines.push('| workload | ops per chunk | pairs | CPU B/A: median | middle half | wall B/A: median | middle half | direct: handlers / workload CPU | handler runs per op | workload µs of CPU per op |');
    lines.push('|---|---:|---:|---:|---|---:|---|---:|---:|---:|');
    for (const [name, o] of Object.entries(overhead)) {
      const d = o.direct;
      const direct = d ? [`${fmt(d.share * 100, 3)}%`, fmt(d.runs / d.ops, 2), fmt(d.workloadCpuNs / d.ops / 1e3, 1)] : ['—', '—', '—'];
      lines.push(`| ${name} | ${o.chunkOps} | ${o.pairs} | ${pct(o.cpuMedianRatio)} | ${pct(o.cpuP25)} … ${pct(o.cpuP75)} | ${pct(o.medianRatio)} | ${pct(o.p25)} … ${pct(o.p75)} | ${direct.join(' | ')} |`);
    }
    lines.push('');
  }
  if (paced) {
    lines.push(`**Agent CPU at a paced ${PACED_RATE} forks/s** (\`fw-forkpar ${PACED_RATE * PACED_S} 1 ${PACED_RATE}\`; utime+stime of the agent over the run). Target ≤ 1% of a core.\n`);
    lines.push('| forks | seconds | forks/s | agent CPU s | % of one core |');
    lines.push('|---:|---:|---:|---:|---:|');
    lines.push(`| ${paced.forks} | ${fmt(paced.seconds, 1)} | ${fmt(paced.forksPerS, 0)} | ${fmt(paced.cpuS, 2)} | ${fmt(paced.corePct, 2)} |\n`);
  }
  if (churn) {
    lines.push(`**Agent RSS over ${CHURN_S} s of cgroup churn** (churn_loop of bench/agent/lib.sh: ${CHURN_RATE} cgroups/s, each given 3 forks and removed; VmRSS every ${RSS_EVERY} s). Target: flat.\n`);
    lines.push('| cgroups churned | RSS first (MiB) | RSS last (MiB) | RSS max (MiB) | slope, whole run (KiB/min) | slope, second half (KiB/min) | samples | agent CPU (% of one core) |');
    lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|');
    lines.push(`| ${churn.churned} | ${fmt(churn.first / 1024, 1)} | ${fmt(churn.last / 1024, 1)} | ${fmt(churn.max / 1024, 1)} | ${fmt(churn.slopeAll, 0)} | ${fmt(churn.slopeHalf, 0)} | ${churn.samples.length} | ${fmt(churn.cpuPct, 2)} |\n`);
  }
  lines.push(`Raw data: ${dir}/`);
  return lines.join('\n');
}
