/** export.otlp: defaults, the endpoint's forms, headers that cannot forge others, one line per mistake. */
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/default.js';
import { parseConfig } from '../../src/config/load.js';
import { UsageError } from '../../src/errors.js';

const read = (otlp: unknown) => parseConfig(JSON.stringify({ export: { otlp } }), 'c.yaml', { hostname: 'h' }).export?.otlp;

describe('export.otlp', () => {
  it('fills every default; no export section, no exporter', () => {
    expect(read({ endpoint: 'http://127.0.0.1:4318/v1/logs' })).toEqual({
      endpoint: 'http://127.0.0.1:4318/v1/logs',
      headers: {},
      compression: DEFAULTS.export.otlp.compression,
      timeout_s: DEFAULTS.export.otlp.timeout_s,
      batch_size: DEFAULTS.export.otlp.batch_size,
      flush_interval_s: DEFAULTS.export.otlp.flush_interval_s,
      buffer: DEFAULTS.export.otlp.buffer,
      max_backoff_s: DEFAULTS.export.otlp.max_backoff_s,
      filter: {},
    });
    expect(parseConfig('listen: "127.0.0.1:1"\n', 'c.yaml', { hostname: 'h' }).export).toEqual({});
  });

  it('reads every key', () => {
    const yaml = `export:
  otlp:
    endpoint: https://collector.example:4318
    headers: { Authorization: "Bearer abc", X-Scope-OrgID: 7 }
    compression: gzip
    timeout: 5s
    batch_size: 100
    flush_interval: 200ms
    buffer: 1000
    max_backoff: 1m
    filter: { events: exec, failed: true }
`;
    expect(parseConfig(yaml, 'c.yaml', { hostname: 'h' }).export?.otlp).toEqual({
      // A bare origin gets the logs path, as OTEL_EXPORTER_OTLP_ENDPOINT does.
      endpoint: 'https://collector.example:4318/v1/logs',
      headers: { authorization: 'Bearer abc', 'x-scope-orgid': '7' },
      compression: 'gzip',
      timeout_s: 5,
      batch_size: 100,
      flush_interval_s: 0.2,
      buffer: 1000,
      max_backoff_s: 60,
      filter: { events: 'exec', failed: 'true' },
    });
  });

  it.each([
    [{}, 'export.otlp.endpoint: missing; expected an http:// or https:// URL'],
    [{ endpoint: 'collector:4318' }, 'export.otlp.endpoint: "collector:4318" is not http(s)'],
    [{ endpoint: 'not a url' }, 'export.otlp.endpoint: "not a url" is not a URL'],
    [{ endpoint: 'http://u:p@c:4318/v1/logs' }, 'export.otlp.endpoint: credentials in the URL would be logged'],
    [{ endpoint: 'http://c/', headers: ['a'] }, 'export.otlp.headers: a list is not a mapping'],
    [{ endpoint: 'http://c/', headers: { 'bad name': 'x' } }, 'export.otlp.headers.bad name: "bad name" is not a header name'],
    [{ endpoint: 'http://c/', headers: { a: 'x\r\nInjected: 1' } }, 'export.otlp.headers.a: the value holds a control or non-ASCII character'],
    [{ endpoint: 'http://c/', compression: 'zstd' }, 'export.otlp.compression: "zstd" is not accepted; expected one of none, gzip'],
    [{ endpoint: 'http://c/', batch_size: 0 }, 'export.otlp.batch_size: 0 is below 1'],
    [{ endpoint: 'http://c/', buffer: 10, batch_size: 20 }, 'export.otlp.buffer: 10 is below batch_size (20)'],
    [{ endpoint: 'http://c/', timeout: 'soon' }, 'export.otlp.timeout: "soon" is not a duration'],
    [{ endpoint: 'http://c/', retries: 3 }, 'export.otlp: unknown key "retries"'],
  ])('%j is refused in one line', (otlp, message) => {
    let err: unknown;
    try {
      read(otlp);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain(`c.yaml: ${message}`);
    expect((err as Error).message).not.toContain('\n');
  });

  it('export holds only known exporters', () => {
    expect(() => parseConfig('export:\n  kafka: {}\n', 'c.yaml', { hostname: 'h' })).toThrow('c.yaml: export: unknown key "kafka"');
  });
});
