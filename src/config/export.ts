/**
 * The `export` section: where the event stream leaves the host (NATS JetStream, an NDJSON file or
 * stdout, OTLP), each with its filter, read with its defaults from config/default.ts. The filter
 * is /events' query parameters; their values are parsed where the stream's query is
 * (src/stream/query.ts) when the exporters are built.
 */
import { DEFAULTS } from './default.js';
import { describe, orDefault, type ConfigReader, type KeyPath } from './reader.js';
import type { Config, ExportFilter, NatsAuthConfig, NatsTlsConfig, OtlpExportConfig } from './types.js';

/** The keys /events takes (src/stream/query.ts), but `format`: exporters write their own. */
export const EXPORT_FILTER_KEYS = ['cgroup', 'comm', 'pid', 'tree', 'events', 'threads', 'failed', 'group', 'ancestors'] as const;

const NATS_URL = /^(nats|tls):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;
// JetStream's stream names: no whitespace, ., *, >, or path separators.
const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
// A subject prefix: dot-separated tokens of what a subject token may hold.
const SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const OTLP_ENDPOINT = 'an http:// or https:// URL of an OTLP/HTTP logs receiver, e.g. http://127.0.0.1:4318/v1/logs';
/** RFC 9110 token characters: what a header name may hold. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Visible ASCII, spaces and tabs: a value with a CR or LF would forge another header. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

export function readExport(r: ConfigReader, value: unknown): Config['export'] {
  const map = r.mapping(value, ['export'], ['nats', 'file', 'otlp']);
  const out: Config['export'] = {};
  if (map.nats != null) out.nats = readNats(r, map.nats);
  if (map.file != null) out.file = readFile(r, map.file);
  if (map.otlp != null) out.otlp = readOtlp(r, map.otlp);
  return out;
}

function readFilter(r: ConfigReader, value: unknown, path: KeyPath): ExportFilter {
  const map = r.mapping(value, path, EXPORT_FILTER_KEYS);
  const filter: ExportFilter = {};
  for (const [k, v] of Object.entries(map)) {
    if (v == null) continue;
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      r.fail([...path, k], `${describe(v)} is not a value`, 'a string, number or boolean, as the /events query parameter of that name takes');
    }
    filter[k] = String(v);
  }
  return filter;
}

function readNats(r: ConfigReader, value: unknown): NonNullable<Config['export']['nats']> {
  const d = DEFAULTS.export.nats;
  const path = ['export', 'nats'];
  const map = r.mapping(value, path, [
    'url',
    'stream',
    'subject_prefix',
    'create_stream',
    'replicas',
    'max_age',
    'batch',
    'buffer_events',
    'user',
    'password_file',
    'token_file',
    'nkey_file',
    'tls',
    'filter',
  ]);
  const expected = 'nats://HOST:PORT or tls://HOST:PORT, or a list of them (the servers of one cluster)';
  if (map.url == null) r.fail([...path, 'url'], 'missing', expected);
  const urls = Array.isArray(map.url) ? map.url : [map.url];
  if (urls.length === 0) r.fail([...path, 'url'], 'an empty list', expected);
  const servers = urls.map((u, i) => {
    const at = Array.isArray(map.url) ? [...path, 'url', i] : [...path, 'url'];
    const text = r.string(u, at, expected);
    if (!isNatsUrl(text)) r.fail(at, `${describe(text)} is not a NATS URL`, expected);
    return text;
  });
  const t = natsTls(servers, map.tls !== undefined ? readNatsTlsFiles(r, map.tls, [...path, 'tls']) : undefined);
  if (t.problem === 'mixed')
    r.fail([...path, 'url'], 'mixes nats:// and tls://', 'one scheme for every server of a cluster (tls:// or the tls key makes TLS required on all)');
  if (t.problem)
    r.fail([...path, 'tls', t.problem.key], `given without ${t.problem.missing}`, `${t.problem.missing} beside it (a client certificate and its key)`);
  const stream = orDefault(map.stream, d.stream, (v) => {
    const s = r.string(v, [...path, 'stream']);
    if (!STREAM_NAME.test(s)) r.fail([...path, 'stream'], `${describe(s)} is not a stream name`, 'letters, digits, _ and -, at most 64');
    return s;
  });
  const subject_prefix = orDefault(map.subject_prefix, d.subject_prefix, (v) => {
    const s = r.string(v, [...path, 'subject_prefix']);
    if (!SUBJECT_PREFIX.test(s))
      r.fail([...path, 'subject_prefix'], `${describe(s)} is not a subject prefix`, 'dot-separated tokens of letters, digits, _ and -');
    return s;
  });
  return {
    servers,
    stream,
    subject_prefix,
    ...readNatsAuth(r, map, path),
    ...(t.tls ? { tls: t.tls } : {}),
    create_stream: orDefault(map.create_stream, d.create_stream, (v) => r.boolean(v, [...path, 'create_stream'])),
    replicas: orDefault(map.replicas, d.replicas, (v) => r.integer(v, [...path, 'replicas'], { min: 1, max: 5 })),
    max_age_s: orDefault(map.max_age, d.max_age_s, (v) => r.duration(v, [...path, 'max_age'], { min: 0 })),
    batch: orDefault(map.batch, d.batch, (v) => r.integer(v, [...path, 'batch'], { min: 1, max: 10_000 })),
    buffer_events: orDefault(map.buffer_events, d.buffer_events, (v) => r.integer(v, [...path, 'buffer_events'], { min: 1, max: 10_000_000 })),
    filter: readFilter(r, map.filter, [...path, 'filter']),
  };
}

/** Who the agent is to NATS: one of user (with password_file), token_file, nkey_file; the files are read at start (export/nats-auth.ts). */
function readNatsAuth(r: ConfigReader, map: Record<string, unknown>, path: KeyPath): NatsAuthConfig {
  const auth: NatsAuthConfig = {};
  if (map.user != null) auth.user = r.string(map.user, [...path, 'user']);
  for (const k of ['password_file', 'token_file', 'nkey_file'] as const) if (map[k] != null) auth[k] = r.absolutePath(map[k], [...path, k]);
  const p = natsAuthProblem(auth);
  if (p?.kind === 'two') r.fail([...path, p.key], `given with ${p.other}`, 'one way to authenticate: user (with password_file), token_file or nkey_file');
  if (p?.kind === 'no-user') r.fail([...path, p.key], 'given without user', 'user beside it (the password of that user)');
  if (p?.kind === 'bad-user') r.fail([...path, p.key], `${describe(auth.user)} is not a user name`, 'a NATS user name, 1 to 256 printable characters');
  return auth;
}

/** The tls key's files (export/nats-tls.ts reads them): the servers' CA, this client's certificate and its key. */
function readNatsTlsFiles(r: ConfigReader, value: unknown, path: KeyPath): NatsTlsConfig {
  const map = r.mapping(value, path, ['ca_file', 'cert_file', 'key_file']);
  const files: NatsTlsConfig = {};
  for (const k of ['ca_file', 'cert_file', 'key_file'] as const) if (map[k] != null) files[k] = r.absolutePath(map[k], [...path, k]);
  return files;
}

/** nats://HOST:PORT or tls://HOST:PORT (the port optional, 1 to 65535): what the NATS client is given, from the config or tail's --from. */
export function isNatsUrl(text: string): boolean {
  const m = NATS_URL.exec(text);
  return m !== null && (m[3] === undefined || (Number(m[3].slice(1)) >= 1 && Number(m[3].slice(1)) <= 65535));
}

/**
 * Whether TLS to a NATS cluster is required, and with which files, whoever gives them (this
 * config, tail's flags): required when the servers are tls:// or TLS files are given. A problem:
 * nats:// and tls:// mixed, or a client certificate without its key (or the key without it).
 */
export function natsTls(
  servers: readonly string[],
  files: NatsTlsConfig | undefined,
): { tls?: NatsTlsConfig; problem?: 'mixed' | { key: 'cert_file' | 'key_file'; missing: 'cert_file' | 'key_file' } } {
  const tlsUrls = servers.filter((u) => u.startsWith('tls://')).length;
  if (tlsUrls > 0 && tlsUrls < servers.length) return { problem: 'mixed' };
  if (files?.cert_file !== undefined && files.key_file === undefined) return { problem: { key: 'cert_file', missing: 'key_file' } };
  if (files?.key_file !== undefined && files.cert_file === undefined) return { problem: { key: 'key_file', missing: 'cert_file' } };
  return { tls: files ?? (tlsUrls > 0 ? {} : undefined) };
}

/**
 * What is wrong with a NATS identity, whoever gives it (this config, tail's flags): two ways at
 * once, a password without its user, a user name that is empty, too long or holds a control
 * character (the client sends it in its CONNECT line). Undefined when nothing is.
 */
export function natsAuthProblem(
  c: NatsAuthConfig,
): { kind: 'two'; key: keyof NatsAuthConfig; other: keyof NatsAuthConfig } | { kind: 'no-user' | 'bad-user'; key: keyof NatsAuthConfig } | undefined {
  const given = (['user', 'token_file', 'nkey_file'] as const).filter((k) => c[k] !== undefined);
  if (given.length > 1) return { kind: 'two', key: given[1], other: given[0] };
  if (c.password_file !== undefined && c.user === undefined) return { kind: 'no-user', key: 'password_file' };
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  if (c.user !== undefined && (c.user === '' || c.user.length > 256 || /[\x00-\x1f\x7f]/.test(c.user))) return { kind: 'bad-user', key: 'user' };
  return undefined;
}

function readFile(r: ConfigReader, value: unknown): NonNullable<Config['export']['file']> {
  const d = DEFAULTS.export.file;
  const path = ['export', 'file'];
  const map = r.mapping(value, path, ['path', 'max_bytes', 'keep', 'filter']);
  if (map.path == null) r.fail([...path, 'path'], 'missing', 'an absolute path, or - for standard output');
  return {
    path: map.path === '-' ? '-' : r.absolutePath(map.path, [...path, 'path']),
    max_bytes: orDefault(map.max_bytes, d.max_bytes, (v) => r.size(v, [...path, 'max_bytes'], { min: 4096 })),
    keep: orDefault(map.keep, d.keep, (v) => r.integer(v, [...path, 'keep'], { min: 0, max: 1000 })),
    filter: readFilter(r, map.filter, [...path, 'filter']),
  };
}

function readOtlp(r: ConfigReader, value: unknown): OtlpExportConfig {
  const d = DEFAULTS.export.otlp;
  const path = ['export', 'otlp'];
  const map = r.mapping(value, path, ['endpoint', 'headers', 'compression', 'timeout', 'batch_size', 'flush_interval', 'buffer', 'max_backoff', 'filter']);
  const at = (k: string) => [...path, k];
  if (map.endpoint == null) r.fail(at('endpoint'), 'missing', OTLP_ENDPOINT);
  const endpoint = readOtlpEndpoint(r, map.endpoint, at('endpoint'));

  const headers: Record<string, string> = {};
  if (map.headers != null && (typeof map.headers !== 'object' || Array.isArray(map.headers))) {
    r.fail(at('headers'), `${describe(map.headers)} is not a mapping`, 'a mapping of header names to values');
  }
  for (const [name, v] of Object.entries((map.headers ?? {}) as Record<string, unknown>)) {
    const where = [...at('headers'), name];
    if (!HEADER_NAME.test(name)) r.fail(where, `${describe(name)} is not a header name`, 'a header name of letters, digits and -');
    const text = typeof v === 'number' ? String(v) : r.string(v, where, 'a header value (a string)');
    if (!HEADER_VALUE.test(text)) r.fail(where, 'the value holds a control or non-ASCII character', 'printable ASCII');
    headers[name.toLowerCase()] = text;
  }

  const batch_size = orDefault(map.batch_size, d.batch_size, (v) => r.integer(v, at('batch_size'), { min: 1, max: 100_000 }));
  const buffer = orDefault(map.buffer, d.buffer, (v) => r.integer(v, at('buffer'), { min: 1, max: 10_000_000 }));
  if (buffer < batch_size) r.fail(at('buffer'), `${buffer} is below batch_size (${batch_size})`, 'at least batch_size records');
  return {
    endpoint,
    headers,
    compression: orDefault(map.compression, d.compression, (v) => r.oneOf(v, at('compression'), ['none', 'gzip'] as const)),
    timeout_s: orDefault(map.timeout, d.timeout_s, (v) => r.duration(v, at('timeout'), { min: 0.01, max: 600 })),
    batch_size,
    flush_interval_s: orDefault(map.flush_interval, d.flush_interval_s, (v) => r.duration(v, at('flush_interval'), { min: 0.001, max: 60 })),
    buffer,
    max_backoff_s: orDefault(map.max_backoff, d.max_backoff_s, (v) => r.duration(v, at('max_backoff'), { min: 1, max: 3600 })),
    filter: readFilter(r, map.filter, at('filter')),
  };
}

/** The URL as given; a bare origin (`http://collector:4318`) gets the logs path, as OTEL_EXPORTER_OTLP_ENDPOINT does. */
function readOtlpEndpoint(r: ConfigReader, value: unknown, path: KeyPath): string {
  const text = r.string(value, path, OTLP_ENDPOINT);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    r.fail(path, `${describe(text)} is not a URL`, OTLP_ENDPOINT);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') r.fail(path, `${describe(text)} is not http(s)`, OTLP_ENDPOINT);
  if (url.username || url.password) r.fail(path, 'credentials in the URL would be logged', 'the URL without user:password@ (put them in headers)');
  if (url.pathname === '/') url.pathname = '/v1/logs';
  return url.toString();
}
