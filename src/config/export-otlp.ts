/**
 * `export.otlp`: the OTLP log exporter (src/export/otlp.ts): where the collector listens, what it
 * is sent with, and the exporter's bounds. The `export:` section around it reads this module.
 */
import { DEFAULTS } from './default.js';
import { describe, orDefault, type ConfigReader, type KeyPath } from './reader.js';

/** export.otlp after validation; durations in seconds. */
export interface OtlpExportConfig {
  /** The collector's OTLP/HTTP logs URL, e.g. http://127.0.0.1:4318/v1/logs. */
  endpoint: string;
  /** Sent with every request (e.g. authorization); names lower-cased. */
  headers: Record<string, string>;
  compression: 'none' | 'gzip';
  /** One request, with the SDK's own retries of 429/502/503/504 inside it. */
  timeout_s: number;
  /** Records per request at most. */
  batch_size: number;
  /** The longest a record waits for a fuller batch. */
  flush_interval_s: number;
  /** Records held at most (waiting and in flight); past it the oldest waiting are dropped, counted. */
  buffer: number;
  /** Failed requests are tried again after 1s, doubling up to this. */
  max_backoff_s: number;
}

export const OTLP_KEYS = ['endpoint', 'headers', 'compression', 'timeout', 'batch_size', 'flush_interval', 'buffer', 'max_backoff'] as const;

const ENDPOINT_EXPECTED = 'an http:// or https:// URL of an OTLP/HTTP logs receiver, e.g. http://127.0.0.1:4318/v1/logs';
/** RFC 9110 token characters: what a header name may hold. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Visible ASCII, spaces and tabs: a value with a CR or LF would forge another header. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/** Reads `export.otlp` (the mapping at `path`). */
export function readOtlpExport(r: ConfigReader, value: unknown, path: KeyPath = ['export', 'otlp']): OtlpExportConfig {
  const d = DEFAULTS.otlp;
  const map = r.mapping(value, path, OTLP_KEYS);
  const at = (k: string) => [...path, k];
  if (map.endpoint == null) r.fail(at('endpoint'), 'missing', ENDPOINT_EXPECTED);
  const endpoint = readEndpoint(r, map.endpoint, at('endpoint'));

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
  };
}

/** The URL as given; a bare origin (`http://collector:4318`) gets the logs path, as OTEL_EXPORTER_OTLP_ENDPOINT does. */
function readEndpoint(r: ConfigReader, value: unknown, path: KeyPath): string {
  const text = r.string(value, path, ENDPOINT_EXPECTED);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    r.fail(path, `${describe(text)} is not a URL`, ENDPOINT_EXPECTED);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') r.fail(path, `${describe(text)} is not http(s)`, ENDPOINT_EXPECTED);
  if (url.username || url.password) r.fail(path, 'credentials in the URL would be logged', 'the URL without user:password@ (put them in headers)');
  if (url.pathname === '/') url.pathname = '/v1/logs';
  return url.toString();
}
