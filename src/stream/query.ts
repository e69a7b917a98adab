/**
 * The /events query string: the process filter of events/filter.ts (as `forkwatch tail` has it),
 * plus group and the agent's own event types. Pure; a bad parameter is a UsageError the server
 * answers 400 with.
 */
import { parseFilter, type FilterSpec } from '../events/filter.js';
import type { ProcessEventType } from '../events/model.js';
import { UsageError } from '../errors.js';

export const STREAM_EVENT_TYPES = ['fork', 'exec', 'exit', 'migrate', 'barrier', 'limit', 'release', 'restart', 'health'] as const;
export type StreamEventType = (typeof STREAM_EVENT_TYPES)[number];

export interface StreamQuery {
  filter: FilterSpec;
  types?: ReadonlySet<StreamEventType>;
  group?: string;
  sse: boolean;
  /** Exit events with their `ancestors` (the agent always has them; a reader that did not ask gets them left out). */
  ancestors: boolean;
}

const KNOWN = new Set(['cgroup', 'comm', 'pid', 'tree', 'events', 'threads', 'failed', 'group', 'format', 'ancestors']);

const flag = (v: string | null) => v !== null && v !== 'false' && v !== '0';

export function parseStreamQuery(q: URLSearchParams, accept?: string): StreamQuery {
  for (const k of new Set(q.keys())) {
    if (!KNOWN.has(k)) throw new UsageError(`unknown parameter "${k}"; expected ${[...KNOWN].join(', ')}`);
    // Silently using the first of two would show a reader events it did not ask for.
    if (q.getAll(k).length > 1) throw new UsageError(`parameter "${k}" given ${q.getAll(k).length} times; expected it once`);
  }
  let types: Set<StreamEventType> | undefined;
  const events = q.get('events');
  if (events !== null) {
    types = new Set();
    for (const t of events.split(',').map((s) => s.trim())) {
      if (!(STREAM_EVENT_TYPES as readonly string[]).includes(t))
        throw new UsageError(`events: unknown event type "${t}"; expected a comma-separated list of ${STREAM_EVENT_TYPES.join(', ')}`);
      types.add(t as StreamEventType);
    }
  }
  const processTypes = types ? [...types].filter((t): t is ProcessEventType => ['fork', 'exec', 'exit', 'migrate'].includes(t)) : undefined;
  const filter = parseFilter(
    {
      cgroup: q.get('cgroup') ?? undefined,
      comm: q.get('comm') ?? undefined,
      pid: q.get('pid') ?? undefined,
      tree: flag(q.get('tree')),
      threads: flag(q.get('threads')),
      failed: flag(q.get('failed')),
    },
    (k) => k,
  );
  if (processTypes) filter.events = new Set(processTypes);
  const format = q.get('format');
  if (format !== null && format !== 'ndjson' && format !== 'sse') throw new UsageError(`format "${format}": expected ndjson or sse`);
  return {
    filter,
    types,
    group: q.get('group') ?? undefined,
    ancestors: flag(q.get('ancestors')),
    sse: format === 'sse' || (format === null && accept !== undefined && accept.includes('text/event-stream')),
  };
}
