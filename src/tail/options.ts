/**
 * Validation of tail's flags: the filter (events/filter.ts, shared with the agent's /events query)
 * and tail's own stop conditions. Every mistake is one UsageError line quoting the input and saying
 * what is accepted.
 */
import { UsageError } from '../errors.js';
import { parseFilter, positiveInt, type FilterInput } from '../events/filter.js';
import type { TailOptions } from './session.js';

/** The flags as typed (strings, so the messages can quote them). */
export interface FilterArgs extends FilterInput {
  json?: boolean;
  ancestors?: boolean;
  duration?: string;
  count?: string;
}

/** Validates tail's flags into options; every mistake is one UsageError line quoting the input. */
export function tailOptions(a: FilterArgs): TailOptions {
  const opts: TailOptions = { filter: parseFilter(a), json: a.json === true, ancestors: a.ancestors === true };
  if (a.duration !== undefined) opts.durationS = parseDuration(a.duration);
  if (a.count !== undefined) opts.count = positiveInt('--count', a.count, 'a number of events (a positive integer)');
  return opts;
}

/** --duration: seconds above 0. */
export function parseDuration(v: string): number {
  const d = Number(v);
  if (!Number.isFinite(d) || d <= 0) throw new UsageError(`--duration "${v}": expected a number of seconds above 0`);
  return d;
}
