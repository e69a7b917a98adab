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

/** Flags only reading a NATS stream takes (`--from nats://` or `tls://`). */
const NATS_ONLY = [
  'since',
  'durable',
  'stream',
  'subject-prefix',
  'user',
  'password-file',
  'nkey-file',
  'tls-ca-file',
  'tls-cert-file',
  'tls-key-file',
] as const;

/** Refuses a flag only reading NATS takes when tail reads something else (this kernel, agents). */
export function refuseNatsOnly(a: Partial<Record<(typeof NATS_ONLY)[number], unknown>>): void {
  for (const k of NATS_ONLY) if (a[k] !== undefined) throw new UsageError(`--${k} needs --from nats://HOST:PORT or tls://HOST:PORT`);
}

/** --duration: seconds above 0. */
export function parseDuration(v: string): number {
  const d = Number(v);
  if (!Number.isFinite(d) || d <= 0) throw new UsageError(`--duration "${v}": expected a number of seconds above 0`);
  return d;
}
