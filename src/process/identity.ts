/**
 * Who a process was when it exited, from the process table alone (no kernel work): the executable,
 * argv and working directory of its last exec, its parent's comm and executable, and, when asked
 * for, its ancestors up to the boundary of its cgroup (a container's or a unit's).
 */
import type { Ancestor, ExitIdentity } from '../events/model.js';
import type { ProcessInfo, ProcessTable } from './table.js';

/** Ancestors listed at most (a deeper chain in one cgroup is cut: the nearest are the ones kept). */
export const MAX_ANCESTORS = 32;

/**
 * The identity fields of an exit event. `p` is the table's entry of the process that exited (the
 * record's `before`), `ppid` its parent at exit; `idOf` gives an ancestor its cluster-unique id.
 * Fields the table does not know are left out, so they never read as empty values.
 */
export function exitIdentity(
  table: ProcessTable,
  p: ProcessInfo,
  ppid: number,
  ancestors: boolean,
  idOf?: (pid: number, startNs: number) => string,
): ExitIdentity {
  const out: ExitIdentity = {};
  if (p.exe !== undefined) out.filename = p.exe;
  if (p.argv !== undefined) {
    out.argv = p.argv;
    out.argv_truncated = p.argvTruncated === true;
  }
  if (p.cwd !== undefined) out.cwd = p.cwd;
  const parent = table.get(ppid);
  if (parent) {
    out.parent_comm = parent.comm;
    if (parent.exe !== undefined) out.parent_filename = parent.exe;
  }
  if (ancestors) out.ancestors = ancestorsOf(table, p, parent, idOf);
  return out;
}

function ancestorsOf(table: ProcessTable, p: ProcessInfo, parent: ProcessInfo | undefined, idOf?: (pid: number, startNs: number) => string): Ancestor[] {
  const out: Ancestor[] = [];
  const seen = new Set<number>([p.pid]);
  for (let a = parent; a && a.cgroupId === p.cgroupId && !seen.has(a.pid) && out.length < MAX_ANCESTORS; a = table.get(a.ppid)) {
    seen.add(a.pid);
    const entry: Ancestor = idOf ? { id: idOf(a.pid, a.startNs), pid: a.pid, comm: a.comm } : { pid: a.pid, comm: a.comm };
    if (a.exe !== undefined) entry.filename = a.exe;
    out.push(entry);
  }
  return out;
}
