/**
 * Which events `forkwatch tail` (and the agent's event stream) shows. Pure: the process tree for
 * --tree is kept here from the events themselves, seeded from the process table.
 */
import type { LinearRegExp } from '../config/regex.js';
import type { ProcessEvent, ProcessEventType } from '../events/model.js';

export interface FilterSpec {
  /** That cgroup and everything below it. */
  cgroup?: string;
  /** Compiled by compilePattern: linear time, whatever the pattern and the name. */
  comm?: LinearRegExp;
  pid?: number;
  /** With pid: the process and all its descendants. */
  tree?: boolean;
  events?: ReadonlySet<ProcessEventType>;
  /** Show thread create / exit records. */
  threads?: boolean;
  /** Only exits that are non-zero or killed by a signal. */
  failed?: boolean;
}

export class EventFilter {
  private readonly tree: Set<number> | undefined;

  /** @param descendants the pid's live descendants at start (with --tree) */
  constructor(private readonly spec: FilterSpec, descendants?: Iterable<number>) {
    if (spec.pid !== undefined && spec.tree) this.tree = new Set(descendants ?? [spec.pid]);
  }

  /** Whether to show `e`. Call for every event, shown or not: it keeps the --tree set current. */
  accept(e: ProcessEvent): boolean {
    const s = this.spec;
    let inTree = true;
    if (this.tree) {
      if (e.type === 'fork' && !e.thread && this.tree.has(e.ppid)) this.tree.add(e.pid);
      inTree = this.tree.has(e.pid);
      if (e.type === 'exit' && !e.thread && inTree) this.tree.delete(e.pid);
    }
    if (e.thread && !s.threads) return false;
    if (s.events && !s.events.has(e.type)) return false;
    if (s.failed && !(e.type === 'exit' && !e.thread && (e.signal !== null || e.exit_code !== 0))) return false;
    if (s.pid !== undefined) {
      if (this.tree) {
        if (!inTree) return false;
      } else if (e.pid !== s.pid && !(e.type === 'fork' && e.ppid === s.pid)) {
        return false;
      }
    }
    if (s.cgroup !== undefined && !under(e.cgroup, s.cgroup) && !(e.from_cgroup !== undefined && under(e.from_cgroup, s.cgroup))) {
      return false;
    }
    if (s.comm && !s.comm.test(e.comm)) return false;
    return true;
  }
}

/** True if cgroup path `p` is `root` or below it. */
export function under(p: string, root: string): boolean {
  if (root === '/' ) return true;
  const r = root.endsWith('/') ? root.slice(0, -1) : root;
  return p === r || p.startsWith(r + '/');
}
