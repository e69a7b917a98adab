/**
 * A tail session: source -> process table -> public events -> filter -> output, until a stop
 * condition. I/O (stdout, signals, timers) is passed in so tests can drive it.
 */
import { EventSource } from '../events/source.js';
import { toProcessEvent, type ProcessEvent } from '../events/model.js';
import { EventType, Flags } from '../events/layout.js';
import { ProcessTable, type TableChange } from '../process/table.js';
import { exitIdentity } from '../process/identity.js';
import { processId, readBootId } from '../stream/identity.js';
import type { RawEvent } from '../events/decode.js';
import { EventFilter, type FilterSpec } from '../events/filter.js';
import { formatEvent, HEADER } from './format.js';
import { JsonLines } from './json-line.js';

export interface TailOptions {
  filter: FilterSpec;
  json: boolean;
  /** Exit events carry the process's ancestors (up to its cgroup's boundary). */
  ancestors?: boolean;
  durationS?: number;
  count?: number;
}

export interface TailIO {
  /** Writes; false when the sink is full (a stream's backpressure): wait for whenDrained. */
  out(text: string): boolean | void;
  /** Calls `ready` once the sink takes writes again (absent: out never pushes back). */
  whenDrained?(ready: () => void): void;
  err(line: string): void;
  /** Calls stop when the user interrupts (SIGINT / SIGTERM); returns an unsubscribe. */
  onInterrupt(stop: () => void): () => void;
}

/** Runs until a stop condition; resolves with the exit status (0). */
export function runTail(source: EventSource, table: ProcessTable, opts: TailOptions, io: TailIO): Promise<number> {
  const f = opts.filter;
  const filter = new EventFilter(f, f.pid !== undefined && f.tree ? table.descendants(f.pid) : undefined);
  const ctx = { iso: (ns: number) => source.clock.iso(ns), cgroupPath: (id: number) => source.names.path(id) };
  const json = opts.json ? new JsonLines({ wallNs: (ns) => source.clock.wallNs(ns), cgroupPath: ctx.cgroupPath }) : undefined;
  // With no criterion but --threads, the filter takes every event but thread records without
  // --threads: --json lines are then built from the records alone, with no event object.
  const acceptsAll = Object.entries(f).every(([k, v]) => k === 'threads' || v === undefined || v === false);
  const bootId = readBootId();
  const idOf = (pid: number, startNs: number) => processId(bootId, pid, startNs);
  const identityOf = (raw: RawEvent, change: TableChange) =>
    raw.type === EventType.EXIT && change.before ? exitIdentity(table, change.before, raw.ppid, opts.ancestors === true, idOf) : undefined;
  let shown = 0;
  let stopped = false;
  // Backpressure: while the sink is full, batches gather here and go out in one write when it drains.
  let pending = '';
  let blocked = false;
  const write = (text: string) => {
    if (blocked) {
      pending += text;
      return;
    }
    if (io.out(text) === false && io.whenDrained) {
      blocked = true;
      io.whenDrained(() => {
        blocked = false;
        const rest = pending;
        pending = '';
        if (rest) write(rest);
      });
    }
  };

  return new Promise((resolve) => {
    const stop = () => {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      unsubscribe();
      source.drain(); // what is in the ring still reaches the output
      const lost = source.stats().lostTotal;
      source.close();
      if (pending) io.out(pending); // the stream queues it; it is written before the process exits
      pending = '';
      if (lost > 0) io.err(`forkwatch: ${lost} events lost (the ring buffer was full); a larger --ring-buffer keeps them`);
      resolve(0);
    };

    /** One ring batch -> one write. */
    const onBatch = (events: RawEvent[]) => {
      let text = '';
      for (const raw of events) {
        if (raw.type === EventType.CGROUP_MKDIR || raw.type === EventType.CGROUP_RMDIR) continue;
        const change = table.apply(raw);
        if (opts.count !== undefined && shown >= opts.count) continue;
        const from = change.before?.cgroupId;
        if (json && acceptsAll && (f.threads || !(raw.flags & Flags.THREAD))) {
          const line = json.line(raw, from, identityOf(raw, change));
          if (line === undefined) continue;
          text += line + '\n';
        } else {
          const identity = identityOf(raw, change);
          const e: ProcessEvent | undefined = toProcessEvent(raw, ctx, from, identity);
          if (!e || !filter.accept(e)) continue;
          text += (json ? json.line(raw, from, identity) : formatEvent(e)) + '\n';
        }
        shown++;
      }
      if (text) write(text);
      if (opts.count !== undefined && shown >= opts.count) queueMicrotask(stop);
    };

    const unsubscribe = io.onInterrupt(stop);
    const timer = opts.durationS !== undefined ? setTimeout(stop, opts.durationS * 1000) : undefined;
    if (!opts.json) write(HEADER + '\n');
    source.start(onBatch);
    io.err(`forkwatch: tailing (${source.attached.length} programs attached); Ctrl-C stops`);
  }).then((code) => code as number);
}
