/**
 * Validation of tail's filters, shared by `forkwatch tail` and the agent's /events query: every
 * mistake is one UsageError line quoting the input and saying what is accepted.
 */
import { PROCESS_EVENT_TYPES, type ProcessEventType } from '../events/model.js';
import { compilePattern, PATTERN_EXPECTED, PatternError } from '../config/regex.js';
import { UsageError } from '../errors.js';
import type { FilterSpec } from './filter.js';
import type { TailOptions } from './session.js';

/** The filter flags as typed (strings, so the messages can quote them). */
export interface FilterArgs {
  json?: boolean;
  cgroup?: string;
  comm?: string;
  pid?: string;
  tree?: boolean;
  events?: string;
  threads?: boolean;
  failed?: boolean;
  duration?: string;
  count?: string;
}

function positiveInt(flag: string, v: string, what: string): number {
  if (!/^\d+$/.test(v.trim()) || Number(v) <= 0) throw new UsageError(`${flag} "${v}": expected ${what}`);
  return Number(v);
}

/** Validates tail's flags into options; every mistake is one UsageError line quoting the input. */
export function tailOptions(a: FilterArgs): TailOptions {
  const filter: FilterSpec = { threads: a.threads === true, failed: a.failed === true, tree: a.tree === true };
  if (a.pid !== undefined) filter.pid = positiveInt('--pid', a.pid, 'a process id (a positive integer)');
  if (a.tree && filter.pid === undefined) throw new UsageError('--tree needs --pid PID: the process whose descendants to follow');
  if (a.cgroup !== undefined) {
    if (!a.cgroup.startsWith('/')) throw new UsageError(`--cgroup "${a.cgroup}": expected a path under the cgroup root, starting with / (e.g. /system.slice/cron.service)`);
    filter.cgroup = a.cgroup;
  }
  if (a.comm !== undefined) {
    try {
      filter.comm = compilePattern(a.comm);
    } catch (err) {
      if (!(err instanceof PatternError)) throw err;
      throw new UsageError(`--comm ${JSON.stringify(a.comm)}: ${err.reason}; expected ${PATTERN_EXPECTED}`);
    }
  }
  if (a.events !== undefined) {
    const types = new Set<ProcessEventType>();
    for (const t of a.events.split(',').map((s) => s.trim())) {
      if (!(PROCESS_EVENT_TYPES as readonly string[]).includes(t)) {
        throw new UsageError(`--events: unknown event type "${t}"; expected a comma-separated list of ${PROCESS_EVENT_TYPES.join(', ')}`);
      }
      types.add(t as ProcessEventType);
    }
    filter.events = types;
  }
  const opts: TailOptions = { filter, json: a.json === true };
  if (a.duration !== undefined) {
    const d = Number(a.duration);
    if (!Number.isFinite(d) || d <= 0) throw new UsageError(`--duration "${a.duration}": expected a number of seconds above 0`);
    opts.durationS = d;
  }
  if (a.count !== undefined) opts.count = positiveInt('--count', a.count, 'a number of events (a positive integer)');
  return opts;
}

