/**
 * Which process events a reader sees: `forkwatch tail` and the agent's event stream (/events)
 * share the filter and its validation. Pure: the process tree for --tree is kept here from the
 * events themselves, seeded from the process table.
 */
import { compilePattern, PATTERN_EXPECTED, PatternError, type LinearRegExp } from '../config/regex.js';
import { UsageError } from '../errors.js';
import { PROCESS_EVENT_TYPES, type ProcessEvent, type ProcessEventType } from './model.js';

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
  constructor(
    private readonly spec: FilterSpec,
    descendants?: Iterable<number>,
  ) {
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
  if (root === '/') return true;
  const r = root.endsWith('/') ? root.slice(0, -1) : root;
  return p === r || p.startsWith(r + '/');
}

/** The filter as typed by a person (a flag, a query parameter): strings, so messages can quote them. */
export interface FilterInput {
  cgroup?: string;
  comm?: string;
  pid?: string;
  tree?: boolean;
  events?: string;
  threads?: boolean;
  failed?: boolean;
}

/**
 * Validates a filter; every mistake is one UsageError quoting the input and saying what is
 * accepted. `name` spells an input's name where it was typed (`--pid` for tail, `pid` for /events).
 */
export function parseFilter(a: FilterInput, name: (key: string) => string = (k) => `--${k}`): FilterSpec {
  const filter: FilterSpec = { threads: a.threads === true, failed: a.failed === true, tree: a.tree === true };
  if (a.pid !== undefined) filter.pid = positiveInt(name('pid'), a.pid, 'a process id (a positive integer)');
  if (a.tree && filter.pid === undefined) throw new UsageError(`${name('tree')} needs ${name('pid')} PID: the process whose descendants to follow`);
  if (a.cgroup !== undefined) {
    if (!a.cgroup.startsWith('/'))
      throw new UsageError(`${name('cgroup')} "${a.cgroup}": expected a path under the cgroup root, starting with / (e.g. /system.slice/cron.service)`);
    filter.cgroup = a.cgroup;
  }
  if (a.comm !== undefined) {
    try {
      filter.comm = compilePattern(a.comm);
    } catch (err) {
      if (!(err instanceof PatternError)) throw err;
      throw new UsageError(`${name('comm')} ${JSON.stringify(a.comm)}: ${err.reason}; expected ${PATTERN_EXPECTED}`);
    }
  }
  if (a.events !== undefined) {
    const types = new Set<ProcessEventType>();
    for (const t of a.events.split(',').map((s) => s.trim())) {
      if (!(PROCESS_EVENT_TYPES as readonly string[]).includes(t)) {
        throw new UsageError(`${name('events')}: unknown event type "${t}"; expected a comma-separated list of ${PROCESS_EVENT_TYPES.join(', ')}`);
      }
      types.add(t as ProcessEventType);
    }
    filter.events = types;
  }
  return filter;
}

/** A positive integer typed as text; the message names the input and what it is. */
export function positiveInt(input: string, v: string, what: string): number {
  if (!/^\d+$/.test(v.trim()) || Number(v) <= 0) throw new UsageError(`${input} "${v}": expected ${what}`);
  return Number(v);
}
