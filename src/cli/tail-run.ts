/** Wires a tail session to the real kernel, terminal and signals. */
import { detectHierarchy } from '../host/cgroupfs.js';
import { EventSource } from '../events/source.js';
import { createLogger } from '../log.js';
import { loadBinding } from '../host/binding.js';
import { parseAgentUrl, URL_EXPECTED } from '../client/target.js';
import { readTokenFile } from '../client/token.js';
import { DEFAULTS, probeOptions } from '../config/default.js';
import { parseDuration as parseConfigDuration } from '../config/values.js';
import { isNatsUrl, natsAuthProblem, natsTls } from '../config/export.js';
import { UsageError } from '../errors.js';
import { parseStreamQuery } from '../stream/query.js';
import { runRemoteTail } from '../tail/remote.js';
import { seedTable } from '../process/scan.js';
import { refuseNatsOnly, tailOptions, type FilterArgs } from '../tail/options.js';
import { runTail, type TailOptions } from '../tail/session.js';
import { stdoutWriter, onInterrupt } from './io.js';
import { inert } from '../terminal.js';

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
  since?: string;
  durable?: string;
  stream?: string;
  'subject-prefix'?: string;
  user?: string;
  'password-file'?: string;
  'nkey-file'?: string;
  'tls-ca-file'?: string;
  'tls-cert-file'?: string;
  'tls-key-file'?: string;
}

/**
 * How long a record may wait in the ring before tail is woken. Each wake-up costs the same whatever
 * it carries (timer, epoll, a call into JavaScript with cold caches, a write): at the agent's 2 ms a
 * fork loop made batches of ~25 events and that fixed cost was a third of tail's CPU per event; at
 * 10 ms a fork loop on this project's 2-core VM (~1,500 forks/s) still made batches of 10–30, and a
 * wake-up cost 300–450 µs of CPU there (schedstat), most of tail's 20+ µs per event. Even a node
 * process that only sleeps on a timer spends 200–380 µs of CPU per wake-up there (C: 50 µs,
 * bench/wake-cost.mjs), so at 50 ms (~120 events a batch) the wake-ups were still ~2 µs of tail's
 * CPU per event. 100 ms: lines come ten times a second while records keep coming, and a record
 * after a quiet spell still wakes tail at once.
 */
const TAIL_FLUSH_NS = 100e6;

export async function startTail(opts: TailOptions, k: { ringBytes?: number; argvMax?: number; hierarchy: string; verbose: boolean }): Promise<number> {
  const log = createLogger({ verbose: k.verbose, component: 'tail' });
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
  const parsed = parseStreamQuery(new URLSearchParams(query));
  const windowS = a.window !== undefined ? Number(a.window) : undefined;
  if (windowS !== undefined && (!Number.isFinite(windowS) || windowS < 0 || windowS > 3600))
    throw new UsageError(`--window "${a.window}": expected seconds from 0 to 3600 (e.g. 0.3)`);
  const from = a.from ?? [];
  const nats = from.filter((u) => u.startsWith('nats://') || u.startsWith('tls://'));
  if (nats.length > 0) {
    if (nats.length !== from.length)
      throw new UsageError('--from: nats:// servers and agents cannot be mixed; the stream already holds every agent that exports to it');
    const servers = nats.map((u) => natsServer(u));
    const tlsFiles = { ca_file: a['tls-ca-file'], cert_file: a['tls-cert-file'], key_file: a['tls-key-file'] };
    const tlsFlag = (k: string) => `--tls-${k.replace('_', '-')}`;
    const t = natsTls(servers, Object.values(tlsFiles).some((v) => v !== undefined) ? tlsFiles : undefined);
    if (t.problem === 'mixed') throw new UsageError('--from: nats:// and tls:// mixed; TLS is required of every server of a cluster or of none');
    if (t.problem) throw new UsageError(`${tlsFlag(t.problem.key)} needs ${tlsFlag(t.problem.missing)} (a client certificate and its key)`);
    const auth = { user: a.user, password_file: a['password-file'], token_file: a['token-file'], nkey_file: a['nkey-file'] };
    const flag = (k: string) => `--${k.replace('_', '-')}`;
    const p = natsAuthProblem(auth);
    if (p?.kind === 'two') throw new UsageError(`${flag(p.other)} and ${flag(p.key)}: give one way to authenticate to NATS`);
    if (p?.kind === 'no-user') throw new UsageError('--password-file needs --user (the password of that user)');
    if (p?.kind === 'bad-user') throw new UsageError(`--user ${inert(JSON.stringify(a.user))}: expected a NATS user name`);
    const { natsAuthenticator } = await import('../export/nats-auth.js');
    const authenticator = natsAuthenticator(auth, flag);
    const { natsTlsOptions } = await import('../export/nats-tls.js');
    const tls = natsTlsOptions(t.tls, tlsFlag);
    const { runNatsTail } = await import('../tail/nats.js');
    return runNatsTail(
      {
        servers,
        stream: natsName('--stream', a.stream ?? DEFAULTS.export.nats.stream, /^[A-Za-z0-9_-]{1,64}$/),
        subjectPrefix: natsName('--subject-prefix', a['subject-prefix'] ?? DEFAULTS.export.nats.subject_prefix, /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/),
        query: parsed,
        json: opts.json,
        durationS: opts.durationS,
        count: opts.count,
        windowS,
        since: a.since !== undefined ? parseSince(a.since) : undefined,
        durable: a.durable !== undefined ? natsName('--durable', a.durable, /^[A-Za-z0-9_-]{1,64}$/) : undefined,
        authenticator,
        tls,
      },
      { out: stdoutWriter(), err: (line) => process.stderr.write(line + '\n'), onInterrupt },
    );
  }
  refuseNatsOnly(a);
  const urls = from.map((u) => parseAgentUrl(u, `--from ${JSON.stringify(u)}`).label);
  if (urls.length === 0) throw new UsageError(`--from needs at least one agent: ${URL_EXPECTED}`);
  const token = a['token-file'] !== undefined ? readTokenFile(a['token-file']) : undefined;
  return runRemoteTail(
    { urls, token, query, json: opts.json, durationS: opts.durationS, count: opts.count, windowS },
    { out: stdoutWriter(), err: (line) => process.stderr.write(line + '\n'), onInterrupt },
  );
}

/** nats://HOST:PORT (or tls://) as the client takes it; anything else is a usage error. */
function natsServer(u: string): string {
  if (!isNatsUrl(u)) throw new UsageError(`--from ${JSON.stringify(u)}: expected nats://HOST:PORT or tls://HOST:PORT (e.g. nats://127.0.0.1:4222)`);
  return u;
}

function natsName(flag: string, v: string, re: RegExp): string {
  if (!re.test(v))
    throw new UsageError(
      `${flag} ${JSON.stringify(v)}: expected letters, digits, _ and -${flag === '--subject-prefix' ? ' in dot-separated tokens' : ', at most 64'}`,
    );
  return v;
}

/** --since: an ISO 8601 time, or a duration ago (90s, 10m, 2h, 1d). */
export function parseSince(v: string, now = Date.now()): Date {
  const ago = parseConfigDuration(v);
  if (ago !== undefined && ago >= 0 && /[a-z]$/.test(v.trim())) return new Date(now - ago * 1000);
  const t = /^\d{4}-\d\d-\d\d(T[\d:.]+(Z|[+-]\d\d:?\d\d)?)?$/.test(v.trim()) ? Date.parse(v.trim()) : NaN;
  if (!Number.isFinite(t))
    throw new UsageError(`--since ${JSON.stringify(v)}: expected an ISO 8601 time (2026-12-05T16:00:00Z) or a duration ago (90s, 10m, 2h, 1d)`);
  return new Date(t);
}
