// What the kernel says about BPF programs: which ones a process has attached (bpftool perf show
// names the owning pid, so other forkwatch instances on the machine are never mixed in), their
// run time statistics, and forkwatch's own `stats` map (records it could not reserve).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { runSync } from './proc.mjs';

const json = (argv) => JSON.parse(runSync(['bpftool', ...argv, '-j']) || '[]');

/** Attachments (tracepoint, raw_tracepoint, uprobe, ...) held by `pid`. */
export function attachmentsOf(pid) {
  return json(['perf', 'show']).filter((e) => e.pid === pid);
}

/** Program info by id: name, run_time_ns, run_cnt (present while kernel.bpf_stats_enabled=1). */
export function progInfo(ids) {
  const want = new Set(ids);
  return json(['prog', 'show']).filter((p) => want.has(p.id));
}

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

export function bpfStatsEnabled() {
  return readFileSync(STATS_SYSCTL, 'utf8').trim() === '1';
}

export function setBpfStats(on) {
  writeFileSync(STATS_SYSCTL, on ? '1' : '0');
}

/**
 * Sums forkwatch's per-CPU `stats` map (lost records by type, forced wake-ups) for the maps that
 * `progIds` use. Returns null when the map cannot be read (e.g. the layout changed).
 */
export function forkwatchKernelStats(progIds) {
  try {
    const mapIds = new Set(progInfo(progIds).flatMap((p) => p.map_ids ?? []));
    const maps = json(['map', 'show']).filter((m) => mapIds.has(m.id) && m.name === 'stats');
    if (!maps.length) return null;
    const dump = json(['map', 'dump', 'id', String(maps[0].id)]);
    let lost = 0;
    let wakeups = 0;
    let counterFull = 0;
    for (const entry of dump) {
      // With BTF, bpftool adds the decoded value under `formatted`.
      for (const v of entry.formatted?.values ?? []) {
        const s = v.value ?? {};
        lost += (s.lost ?? []).reduce((a, b) => a + Number(b), 0);
        wakeups += Number(s.wakeups ?? 0);
        counterFull += Number(s.counter_full ?? 0);
      }
    }
    return { lost, wakeups, counterFull };
  } catch {
    return null;
  }
}

/** bpftrace and bcc need tracefs at /sys/kernel/tracing; mounts it when absent. */
export function ensureTracefs() {
  if (existsSync('/sys/kernel/tracing/events')) return false;
  runSync(['mount', '-t', 'tracefs', 'nodev', '/sys/kernel/tracing']);
  return true;
}

/**
 * The reference of issue 13: a bpftrace program that only counts the fork and exit tracepoints
 * (thread creations and exits included, as the handlers see them).
 */
export const COUNTING_REFERENCE = 'tracepoint:sched:sched_process_fork { @f = count(); } tracepoint:sched:sched_process_exit { @x = count(); }';

/** Tracepoint -> the short handler name the tables use. */
export const HANDLERS = { sched_process_fork: 'fork', sched_process_exit: 'exit', sched_process_exec: 'exec', sched_switch: 'switch' };

/** prog id -> handler name, for the programs `pid` has attached (bpftool perf show). */
export function handlersOf(pid) {
  return new Map(attachmentsOf(pid).map((a) => [a.prog_id, HANDLERS[a.tracepoint] ?? a.tracepoint ?? a.prog_name ?? String(a.prog_id)]));
}

/** run_time_ns and run_cnt by handler name, summed over the programs in `progs` (id -> name). */
export function runStats(progs) {
  const out = {};
  for (const p of progInfo([...progs.keys()])) {
    const acc = (out[progs.get(p.id)] ??= { ns: 0, cnt: 0 });
    acc.ns += p.run_time_ns ?? 0;
    acc.cnt += p.run_cnt ?? 0;
  }
  return out;
}

/** `after` minus `before` (runStats results), by handler. */
export function runDelta(before, after) {
  const out = {};
  for (const [h, v] of Object.entries(after)) out[h] = { ns: v.ns - (before[h]?.ns ?? 0), cnt: v.cnt - (before[h]?.cnt ?? 0) };
  return out;
}
