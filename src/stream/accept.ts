/** One subscriber's view of the stream: its filters applied to process and agent events. */
import type { ProcessEvent } from '../events/model.js';
import { EventFilter } from '../events/filter.js';
import type { StreamEvent } from './bus.js';
import type { StreamQuery } from './query.js';

const PROCESS_TYPES = new Set(['fork', 'exec', 'exit', 'migrate']);

/** A predicate for EventBus.subscribe; stateful (follows --tree descendants). */
export function streamAccept(q: StreamQuery, descendants?: Iterable<number>): (e: StreamEvent) => boolean {
  const procFilter = new EventFilter(q.filter, descendants);
  const processFiltered = q.filter.pid !== undefined || q.filter.cgroup !== undefined || q.filter.comm !== undefined || q.filter.failed;
  return (e) => {
    if (PROCESS_TYPES.has(e.type)) {
      const ok = procFilter.accept(e as ProcessEvent); // always called: it keeps the tree current
      if (!ok) return false;
    } else {
      if (q.types && !q.types.has(e.type)) return false;
      // Agent events are about groups and programs, not processes: a process filter excludes them.
      if (processFiltered) return false;
    }
    if (q.group !== undefined && (e as { group?: string }).group !== q.group && (e as { program?: string }).program !== q.group) return false;
    return true;
  };
}
