/**
 * `forkwatch tail --from URL …`: several agents' streams merged in time order, each event
 * labelled with its node; reconnects when an agent restarts and says what was missed.
 */
import { watch, WatchError, type Notice } from '../client/watch.js';
import { DEFAULTS } from '../config/default.js';
import type { ProcessEvent } from '../events/model.js';
import type { AgentEvent } from '../stream/bus.js';
import { inert, inertJson, inertText } from '../terminal.js';
import { formatEvent } from './format.js';
import { StreamMerger } from './merge.js';
import type { TailIO } from './session.js';

export interface RemoteTailOptions {
  urls: string[];
  token?: string;
  query: Record<string, string>;
  json: boolean;
  durationS?: number;
  count?: number;
  /** Seconds an event may wait for a slower agent (default DEFAULTS.tail.window_s). */
  windowS?: number;
}

export type Ev = (ProcessEvent | AgentEvent) & { time: string; node?: string };

/** One event of an agent's stream as tail shows it: JSON, or the person's line led by the node; every value inert. */
export function streamEventLine(e: Ev, json: boolean): string {
  const node = inertText(e.node ?? '?');
  if (json) return inertJson(e) + '\n';
  if (['fork', 'exec', 'exit', 'migrate'].includes(e.type)) return `${node.padEnd(12)} ${formatEvent(e as ProcessEvent)}\n`;
  return `${node.padEnd(12)} ${formatAgentEvent(e as AgentEvent)}\n`;
}

/** People's line for an agent event (barrier, limit, release, restart, health); every value inert. */
export function formatAgentEvent(e: AgentEvent): string {
  const { type, time: rawTime, node: _n, group, program, seq: _s, source: _src, ...rest } = e as AgentEvent & { source?: string };
  const time = inertText(rawTime);
  const t = new Date(time);
  const p = (n: number) => String(n).padStart(2, '0');
  const tod = `${p(t.getHours())}:${p(t.getMinutes())}:${p(t.getSeconds())}.${time.slice(20, 26).padEnd(6, '0')}`;
  const detail = Object.entries(rest)
    .filter(([, v]) => v !== null && v !== undefined && typeof v !== 'object')
    .map(([k, v]) => `${inert(k)}=${inertText(v)}`)
    .join(' ');
  return `${tod.padEnd(15)} ${inertText(type).padEnd(7)} ${inertText(group ?? program).padEnd(40)} ${detail}`.trimEnd();
}

/** The line for a connection notice; the agent's node name and errors are inert. */
export function describeNotice(n: Notice, first: boolean): string | undefined {
  const line = noticeText(n, first);
  return line === undefined ? undefined : inert(line);
}

function noticeText(n: Notice, first: boolean): string | undefined {
  switch (n.type) {
    case 'hello':
      if (first) return `forkwatch: connected to ${n.source} (node ${n.node})`;
      if (n.restarted) return `forkwatch: ${n.source} (node ${n.node}) restarted; its events while it was down are unknown`;
      return `forkwatch: reconnected to ${n.source} (node ${n.node})${n.skipped ? `; ${n.skipped} events published meanwhile were not received (before filtering)` : ''}`;
    case 'missed':
      return `forkwatch: ${n.source} (node ${n.node}) dropped ${n.count} events this reader was too slow for`;
    case 'disconnected':
      return `forkwatch: lost ${n.source} (${n.error}); reconnecting`;
  }
}

export function runRemoteTail(o: RemoteTailOptions, io: TailIO): Promise<number> {
  const abort = new AbortController();
  let shown = 0;
  const connected = new Set<string>();
  const down = new Set<string>();
  const merger = new StreamMerger<Ev>(
    (e) => {
      if (o.count !== undefined && shown >= o.count) return;
      io.out(streamEventLine(e, o.json));
      shown++;
      if (o.count !== undefined && shown >= o.count) stop(0);
    },
    Math.round((o.windowS ?? DEFAULTS.tail.window_s) * 1e6),
  );
  const timer = setInterval(() => merger.flush(), DEFAULTS.tail.flush_s * 1000);
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let stopped = false;
  const stop = (code: number) => {
    if (stopped) return;
    stopped = true;
    // What the reorder window still holds was received: it is shown, in order.
    merger.drain();
    abort.abort();
    clearInterval(timer);
    clearTimeout(deadline);
    unsubscribe();
    resolveDone(code);
  };
  const unsubscribe = io.onInterrupt(() => stop(0));
  const deadline = o.durationS !== undefined ? setTimeout(() => stop(0), o.durationS * 1000) : undefined;

  for (const url of o.urls) {
    void (async () => {
      try {
        for await (const e of watch({ url, token: o.token, filter: o.query, signal: abort.signal })) {
          if (stopped) break;
          if (e.type === 'hello' || e.type === 'missed' || e.type === 'disconnected') {
            const n = e;
            if (n.type === 'hello') merger.open(url);
            if (n.type === 'disconnected') merger.close(url);
            // One line when an agent goes away, not one per failed retry.
            const repeat = n.type === 'disconnected' && down.has(url);
            const line = describeNotice(n, n.type === 'hello' && !connected.has(url));
            if (n.type === 'hello') {
              connected.add(url);
              down.delete(url);
            }
            if (n.type === 'disconnected') down.add(url);
            if (line && !repeat) io.err(line);
            continue;
          }
          merger.push(url, e);
        }
      } catch (err) {
        if (stopped) return;
        // The agent refused us (token, filter): retrying cannot help, and a partial view would mislead.
        io.err(inert(`forkwatch: ${(err as Error).message}`));
        stop(err instanceof WatchError && (err.status === 401 || err.status === 403) ? 1 : 2);
      }
    })();
  }
  return done;
}
