// Which of a tracer's events belong to one workload run, compared with what the run reports it
// did (see workloads/common.h). Two ways to attribute:
//  - by the run's own list of the tasks it created (FW_BENCH_PIDS): works for every tracer, even
//    one that names a task's parent wrongly (forkstat reads the parent from /proc/<child>, gone
//    by then for a short-lived child) or sees no forks at all (execsnoop, exitsnoop). Only events
//    between the workload's own exec and its exit count, each id as often as the run was given it.
//  - by process tree, for tracers that report forks in causal order with the right parent
//    (forkwatch, bpftrace): a task belongs to the run if its creator does, and leaves the tree
//    when it exits, so pid reuse is handled at any rate, even on a host that goes round the whole
//    pid space during the run. Used for those tracers, and by the lossless check.
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

/**
 * Events of the tasks in `truth` (the run's list of created task ids; an id appears once per time
 * the run was given it). Each id counts for each kind at most as often as the run was given it,
 * so a pid handed out again, to the run or to another process, cannot inflate a count; on a host
 * that goes through the whole pid space during the window, another process's event can stand in
 * for a lost one of the run, so this count is an upper bound there.
 */
export function attributeList(events, rootPid, truth, { ordered = true, seesForks = true } = {}) {
  let from = 0;
  let to = events.length;
  if (ordered) {
    const start = events.findIndex((e) => e.k === 'exec' && e.pid === rootPid);
    if (start >= 0) from = start;
    const end = events.findIndex((e, i) => i > from && e.k === 'exit' && e.tid === rootPid);
    if (end >= 0) to = end + 1;
  }
  const left = { fork: new Map(truth), exec: new Map(truth), exit: new Map(truth) };
  const seen = { tasks: 0, execs: 0, exits: 0 };
  const key = { fork: 'tasks', exec: 'execs', exit: 'exits' };
  for (let i = from; i < to; i++) {
    const e = events[i];
    const id = e.k === 'fork' ? e.child : e.k === 'exec' ? e.pid : e.tid;
    const m = left[e.k];
    const n = m?.get(id);
    if (!n) continue;
    m.set(id, n - 1);
    seen[key[e.k]]++;
  }
  if (!seesForks) seen.tasks = null;
  return seen;
}

/** The run's task list as id -> how many times the run was given that id. */
export function readPidList(path) {
  const m = new Map();
  for (const id of readFileSync(path, 'utf8').split('\n').filter(Boolean).map(Number)) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

/** What `tool` saw of workload result `w` in its output file; pidFile: the run's task list. */
export function countFor(tool, path, w, pidFile) {
  const { events, ordered, badLines } = tool.parse(path);
  const truth = readPidList(pidFile);
  const byList = attributeList(events, w.pid, truth, { ordered, seesForks: tool.seesForks !== false });
  const listed = [...truth.values()].reduce((a, b) => a + b, 0);
  const expected = { tasks: w.tasks, execs: w.execs, exits: w.exits };
  // Tracers that report forks in order with the right parent are counted by tree (exact at any
  // pid reuse); the list count is kept beside it as a cross-check.
  if (tool.causal) return { expected, listed, seen: attributeTree(events, w.pid), byList, method: 'tree', records: events.length, badLines };
  return { expected, listed, seen: byList, method: 'list', records: events.length, badLines };
}
