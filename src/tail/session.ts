/**
 * A tail session: source -> process table -> public events -> filter -> output, until a stop
 * condition. I/O (stdout, signals, timers) is passed in so tests can drive it.
 */
import { EventSource } from '../events/source.js';
import { toProcessEvent, type ProcessEvent } from '../events/model.js';
import { EventType } from '../events/layout.js';
import { ProcessTable } from '../process/table.js';
import { EventFilter, type FilterSpec } from '../events/filter.js';
import { inertJson } from '../terminal.js';
import { formatEvent, HEADER } from './format.js';

export interface TailOptions {
  filter: FilterSpec;
  json: boolean;
  durationS?: number;
  count?: number;
}

export interface TailIO {
  out(text: string): void;
  err(line: string): void;
  /** Calls stop when the user interrupts (SIGINT / SIGTERM); returns an unsubscribe. */
  onInterrupt(stop: () => void): () => void;
}

/** Runs until a stop condition; resolves with the exit status (0). */
export function runTail(source: EventSource, table: ProcessTable, opts: TailOptions, io: TailIO): Promise<number> {
  const f = opts.filter;
  const filter = new EventFilter(f, f.pid !== undefined && f.tree ? table.descendants(f.pid) : undefined);
  const ctx = { iso: (ns: number) => source.clock.iso(ns), cgroupPath: (id: number) => source.names.path(id) };
  let shown = 0;
  let stopped = false;

  return new Promise((resolve) => {
    const stop = () => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      unsubscribe();
      source.drain(); // what is in the ring still reaches the output
      const lost = source.stats().lostTotal;
      source.close();
      if (lost > 0) io.err(`forkwatch: ${lost} events lost (the ring buffer was full); a larger --ring-buffer keeps them`);
      resolve(0);
    };

    const onBatch = (events: import('../events/decode.js').RawEvent[]) => {
      let text = '';
      for (const raw of events) {
        if (raw.type === EventType.CGROUP_MKDIR || raw.type === EventType.CGROUP_RMDIR) continue;
        const change = table.apply(raw);
        if (opts.count !== undefined && shown >= opts.count) continue;
        const e: ProcessEvent | undefined = toProcessEvent(raw, ctx, change.before?.cgroupId);
        if (!e || !filter.accept(e)) continue;
        text += (opts.json ? inertJson(e) : formatEvent(e)) + '\n';
        shown++;
      }
      if (text) io.out(text);
      if (opts.count !== undefined && shown >= opts.count) queueMicrotask(stop);
    };

    const unsubscribe = io.onInterrupt(stop);
    const timer = opts.durationS !== undefined ? setTimeout(stop, opts.durationS * 1000) : undefined;
    if (!opts.json) io.out(HEADER + '\n');
    source.start(onBatch);
    io.err(`forkwatch: tailing (${source.attached.length} programs attached); Ctrl-C stops`);
  }).then((code) => code as number);
}
