/** Wires a tail session to the real kernel, terminal and signals. */
import { detectHierarchy } from '../host/cgroupfs.js';
import { EventSource } from '../events/source.js';
import { createLogger } from '../log.js';
import { loadBinding } from '../host/binding.js';
import { parseAgentUrl, URL_EXPECTED } from '../client/target.js';
import { readTokenFile } from '../client/token.js';
import { probeOptions } from '../config/default.js';
import { UsageError } from '../errors.js';
import { parseStreamQuery } from '../stream/query.js';
import { runRemoteTail } from '../tail/remote.js';
import { seedTable } from '../process/scan.js';
import { tailOptions, type FilterArgs } from '../tail/options.js';
import { runTail, type TailOptions } from '../tail/session.js';
import { stdoutWriter, onInterrupt } from './io.js';

/**
 * tail's flags as yargs hands them over. Here, not in tail.ts, so that the command imports its
 * runner (lazily) and never the other way round.
 */
export interface TailArgs extends FilterArgs {
  'ring-buffer'?: string;
  'argv-max'?: string;
  hierarchy?: string;
  verbose?: boolean;
  from?: string[];
  'token-file'?: string;
  group?: string;
  window?: string;
}

/**
 * How long a record may wait in the ring before tail is woken. Each wake-up costs the same whatever
 * it carries (timer, epoll, a call into JavaScript, a write): at the agent's 2 ms a fork loop made
 * batches of ~25 events and that fixed cost was a third of tail's CPU per event. 10 ms is still far
 * below what a person reading lines can see; a record after a quiet spell still wakes tail at once.
 */
const TAIL_FLUSH_NS = 10e6;

export async function startTail(opts: TailOptions, k: { ringBytes?: number; argvMax?: number; hierarchy: string; verbose: boolean }): Promise<number> {
  const log = createLogger({ verbose: k.verbose });
  const hierarchy = detectHierarchy(k.hierarchy);
  const source = new EventSource(loadBinding(), {
    hierarchy,
    log,
    // Every value, from the one home of defaults: the addon has none of its own.
    probe: probeOptions({
      ringBytes: k.ringBytes,
      argvMax: k.argvMax,
      threadEvents: opts.filter.threads === true,
      cpuAccounting: false,
      wakeupNs: TAIL_FLUSH_NS,
    }),
  });
  const table = seedTable(source, hierarchy);
  return runTail(source, table, opts, {
    out: stdoutWriter(),
    whenDrained: (ready) => process.stdout.once('drain', ready),
    err: (line) => process.stderr.write(line + '\n'),
    onInterrupt,
  });
}

/** tail --from: validates the filters here (so mistakes are usage errors), filters at the agents. */
export async function startRemoteTail(a: TailArgs): Promise<number> {
  const query: Record<string, string> = {};
  for (const k of ['cgroup', 'comm', 'pid', 'events', 'group'] as const) if (a[k] !== undefined) query[k] = String(a[k]);
  for (const k of ['tree', 'threads', 'failed', 'ancestors'] as const) if (a[k]) query[k] = 'true';
  // The flags' own messages (--pid …) for mistakes the agents would refuse; --events is checked
  // by the stream's own parser below, which also knows barrier, limit, release and restart.
  const opts = tailOptions({ ...a, events: undefined });
  parseStreamQuery(new URLSearchParams(query));
  const urls = (a.from ?? []).map((u) => parseAgentUrl(u, `--from ${JSON.stringify(u)}`).label);
  if (urls.length === 0) throw new UsageError(`--from needs at least one agent: ${URL_EXPECTED}`);
  const token = a['token-file'] !== undefined ? readTokenFile(a['token-file']) : undefined;
  const windowS = a.window !== undefined ? Number(a.window) : undefined;
  if (windowS !== undefined && (!Number.isFinite(windowS) || windowS < 0 || windowS > 3600))
    throw new UsageError(`--window "${a.window}": expected seconds from 0 to 3600 (e.g. 0.3)`);
  return runRemoteTail(
    { urls, token, query, json: opts.json, durationS: opts.durationS, count: opts.count, windowS },
    { out: stdoutWriter(), err: (line) => process.stderr.write(line + '\n'), onInterrupt },
  );
}
