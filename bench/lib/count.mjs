// Which of a tracer's events belong to one workload run, compared with what the run reports it
// did (see workloads/common.h). Two ways to attribute:
//  - by the run's own list of the tasks it created (FW_BENCH_PIDS): works for every tracer, even
//    one that names a task's parent wrongly (forkstat reads the parent from /proc/<child>, gone
//    by then for a short-lived child) or sees no forks at all (execsnoop, exitsnoop). Only events
//    between the workload's own exec and its exit count, and each task once: within that window
//    a pid is not handed out twice while fewer than pid_max tasks are created.
//  - by process tree, for tracers that report forks in causal order with the right parent
//    (forkwatch, bpftrace): a task belongs to the run if its creator does, and leaves the tree
//    when it exits, so pid reuse is handled at any rate (used by the lossless check).
import { readFileSync } from 'node:fs';

/**
 * @param times if given, collects the `t` of every attributed event.
 * @returns {{ tasks: number, execs: number, exits: number }}
 */
export function attributeTree(events, rootPid, times) {
  const live = new Set([rootPid]);
  const seen = { tasks: 0, execs: 0, exits: 0 };
  for (const e of events) {
    let hit = false;
    if (e.k === 'fork') {
      if (live.has(e.parent)) {
        live.add(e.child);
        seen.tasks++;
        hit = true;
      }
    } else if (e.k === 'exec') {
      if (e.pid !== rootPid && live.has(e.pid)) {
        seen.execs++;
        hit = true;
      }
    } else if (e.k === 'exit') {
      if (e.tid !== rootPid && live.delete(e.tid)) {
        seen.exits++;
        hit = true;
      }
    }
    if (hit && times) times.push(e.t);
  }
  return seen;
}

/** Most events within any `windowMs` span of sorted-or-not times, as a rate per second. */
export function peakRate(times, windowMs = 1000) {
  const ts = times.filter(Number.isFinite).sort((a, b) => a - b);
  let best = 0;
  for (let lo = 0, hi = 0; hi < ts.length; hi++) {
    while (ts[hi] - ts[lo] >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return (best * 1000) / windowMs;
}

/** Distinct tasks of `truth` (a Set of ids) seen created, exec'ing and exiting. */
export function attributeList(events, rootPid, truth, { ordered = true, seesForks = true } = {}) {
  let from = 0;
  let to = events.length;
  if (ordered) {
    const start = events.findIndex((e) => e.k === 'exec' && e.pid === rootPid);
    if (start >= 0) from = start;
    const end = events.findIndex((e, i) => i > from && e.k === 'exit' && e.tid === rootPid);
    if (end >= 0) to = end + 1;
  }
  const forks = new Set();
  const execs = new Set();
  const exits = new Set();
  for (let i = from; i < to; i++) {
    const e = events[i];
    if (e.k === 'fork' && truth.has(e.child)) forks.add(e.child);
    else if (e.k === 'exec' && truth.has(e.pid)) execs.add(e.pid);
    else if (e.k === 'exit' && truth.has(e.tid)) exits.add(e.tid);
  }
  return { tasks: seesForks ? forks.size : null, execs: execs.size, exits: exits.size };
}

export function readPidList(path) {
  return new Set(readFileSync(path, 'utf8').split('\n').filter(Boolean).map(Number));
}

/** What `tool` saw of workload result `w` in its output file; pidFile: the run's task list. */
export function countFor(tool, path, w, pidFile) {
  const { events, ordered, badLines } = tool.parse(path);
  const truth = readPidList(pidFile);
  const seen = attributeList(events, w.pid, truth, { ordered, seesForks: tool.seesForks !== false });
  const out = { expected: { tasks: w.tasks, execs: w.execs, exits: w.exits }, listed: truth.size, seen, records: events.length, badLines };
  if (tool.causal) out.tree = attributeTree(events, w.pid);
  return out;
}
