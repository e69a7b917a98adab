/**
 * The export section: each exporter's defaults and keys (nats, file, otlp), the OTLP endpoint's
 * forms and headers that cannot forge others, and one line per mistake in any of them.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/default.js';
import { parseConfig } from '../../src/config/load.js';
import { UsageError } from '../../src/errors.js';

const parse = (ex: unknown) => parseConfig(JSON.stringify({ export: ex }), 'c.yaml', { hostname: 'h' }).export;
const read = (otlp: unknown) => parse({ otlp }).otlp;

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
    [{ otlp: {} }, 'export.otlp.endpoint: missing; expected an http:// or https:// URL'],
    [{ otlp: { endpoint: 'collector:4318' } }, 'export.otlp.endpoint: "collector:4318" is not http(s)'],
    [{ otlp: { endpoint: 'not a url' } }, 'export.otlp.endpoint: "not a url" is not a URL'],
    [{ otlp: { endpoint: 'http://u:p@c:4318/v1/logs' } }, 'export.otlp.endpoint: credentials in the URL would be logged'],
    [{ otlp: { endpoint: 'http://c/', headers: ['a'] } }, 'export.otlp.headers: a list is not a mapping'],
    [{ otlp: { endpoint: 'http://c/', headers: { 'bad name': 'x' } } }, 'export.otlp.headers.bad name: "bad name" is not a header name'],
    [{ otlp: { endpoint: 'http://c/', headers: { a: 'x\r\nInjected: 1' } } }, 'export.otlp.headers.a: the value holds a control or non-ASCII character'],
    [{ otlp: { endpoint: 'http://c/', compression: 'zstd' } }, 'export.otlp.compression: "zstd" is not accepted; expected one of none, gzip'],
    [{ otlp: { endpoint: 'http://c/', batch_size: 0 } }, 'export.otlp.batch_size: 0 is below 1'],
    [{ otlp: { endpoint: 'http://c/', buffer: 10, batch_size: 20 } }, 'export.otlp.buffer: 10 is below batch_size (20)'],
    [{ otlp: { endpoint: 'http://c/', timeout: 'soon' } }, 'export.otlp.timeout: "soon" is not a duration'],
    [{ otlp: { endpoint: 'http://c/', retries: 3 } }, 'export.otlp: unknown key "retries"'],
    [{ otlp: { endpoint: 'http://c/', filter: { format: 'sse' } } }, 'export.otlp.filter: unknown key "format"'],
    [{ nats: {} }, 'export.nats.url: missing; expected nats://HOST:PORT'],
    [{ nats: { url: [] } }, 'export.nats.url: an empty list'],
    [{ nats: { url: 'http://nats:4222' } }, 'export.nats.url: "http://nats:4222" is not a NATS URL'],
    [{ nats: { url: ['nats://a:4222', 'nats://b:99999'] } }, 'export.nats.url[1]: "nats://b:99999" is not a NATS URL'],
    [{ nats: { url: 'nats://a:4222', stream: 'a.b' } }, 'export.nats.stream: "a.b" is not a stream name'],
    [{ nats: { url: 'nats://a:4222', subject_prefix: 'a.*' } }, 'export.nats.subject_prefix: "a.*" is not a subject prefix'],
    [{ nats: { url: 'nats://a:4222', replicas: 7 } }, 'export.nats.replicas: 7 is above 5'],
    [{ nats: { url: 'nats://a:4222', buffer_events: 0 } }, 'export.nats.buffer_events: 0 is below 1'],
    [{ nats: { url: 'nats://a:4222', batch: 0 } }, 'export.nats.batch: 0 is below 1'],
    [{ nats: { url: 'nats://a:4222', batch: 20_000 } }, 'export.nats.batch: 20000 is above 10000'],
    [{ nats: { url: 'nats://a:4222', window: 256 } }, 'export.nats: unknown key "window"'],
    [{ nats: { url: 'nats://a:4222', filter: { cgroup: ['/a'] } } }, 'export.nats.filter.cgroup: a list is not a value'],
    [{ nats: { url: 'nats://a:4222', user: 'a', token_file: '/t' } }, 'export.nats.token_file: given with user; expected one way to authenticate'],
    [{ nats: { url: 'nats://a:4222', token_file: '/t', nkey_file: '/k' } }, 'export.nats.nkey_file: given with token_file'],
    [{ nats: { url: 'nats://a:4222', password_file: '/p' } }, 'export.nats.password_file: given without user'],
    [{ nats: { url: 'nats://a:4222', user: 'a\u001b[2Jb', password_file: '/p' } }, 'export.nats.user: "a\\u001b[2Jb" is not a user name'],
    [{ nats: { url: 'nats://a:4222', token_file: 'relative/t' } }, 'export.nats.token_file:'],
    [{ nats: { url: ['tls://a:4222', 'nats://b:4222'] } }, 'export.nats.url: mixes nats:// and tls://'],
    [{ nats: { url: 'tls://a:4222', tls: { cert_file: '/c.pem' } } }, 'export.nats.tls.cert_file: given without key_file'],
    [{ nats: { url: 'tls://a:4222', tls: { key_file: '/k.pem' } } }, 'export.nats.tls.key_file: given without cert_file'],
    [{ nats: { url: 'tls://a:4222', tls: { ca_file: 'ca.pem' } } }, 'export.nats.tls.ca_file:'],
    [{ nats: { url: 'tls://a:4222', tls: { verify: false } } }, 'export.nats.tls: unknown key "verify"'],
    [{ file: {} }, 'export.file.path: missing; expected an absolute path, or - for standard output'],
    [{ file: { path: 'events.ndjson' } }, 'export.file.path: "events.ndjson"'],
    [{ file: { path: '/e', max_bytes: 100 } }, 'export.file.max_bytes: 100'],
    [{ file: { path: '/e', keep: -1 } }, 'export.file.keep: '],
  ])('%j is refused in one line', (ex, message) => {
    let err: unknown;
    try {
      parse(ex);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain(`c.yaml: ${message}`);
    expect((err as Error).message).not.toContain('\n');
    expect((err as UsageError).exitCode).toBe(2);
  });

  it('nats and file: every default, every key', () => {
    expect(parse({ nats: { url: 'nats://127.0.0.1:4222' }, file: { path: '-' } })).toEqual({
      nats: { servers: ['nats://127.0.0.1:4222'], ...DEFAULTS.export.nats, filter: {} },
      file: { path: '-', ...DEFAULTS.export.file, filter: {} },
    });
    const yaml = `export:
  nats:
    url: [tls://n0:4222, "tls://[::1]:4223"]
    stream: FW
    subject_prefix: fw.events
    create_stream: false
    replicas: 3
    max_age: 7d
    batch: 64
    buffer_events: 500
    filter: { events: "fork,exit", threads: true }
  file:
    path: /var/log/fw.ndjson
    max_bytes: 1MiB
    keep: 0
`;
    expect(parseConfig(yaml, 'c.yaml', { hostname: 'h' }).export).toEqual({
      nats: {
        servers: ['tls://n0:4222', 'tls://[::1]:4223'],
        tls: {},
        stream: 'FW',
        subject_prefix: 'fw.events',
        create_stream: false,
        replicas: 3,
        max_age_s: 7 * 86400,
        batch: 64,
        buffer_events: 500,
        filter: { events: 'fork,exit', threads: 'true' },
      },
      file: { path: '/var/log/fw.ndjson', max_bytes: 2 ** 20, keep: 0, filter: {} },
    });
  });

  it('nats: who the agent is to the servers, as paths to secrets', () => {
    const nats = (auth: object) => parse({ nats: { url: 'nats://a:4222', ...auth } }).nats;
    expect(nats({ user: 'agent-web-1', password_file: '/run/secrets/nats-password' })).toMatchObject({
      user: 'agent-web-1',
      password_file: '/run/secrets/nats-password',
    });
    expect(nats({ token_file: '/run/secrets/nats-token' })).toMatchObject({ token_file: '/run/secrets/nats-token' });
    expect(nats({ nkey_file: '/run/secrets/nats.nk' })).toMatchObject({ nkey_file: '/run/secrets/nats.nk' });
    expect(nats({})).not.toHaveProperty('user');
  });

  it('nats: TLS is required by a tls:// URL or the tls key, with its CA and client certificate as paths', () => {
    const nats = (more: object) => parse({ nats: { url: 'nats://a:4222', ...more } }).nats;
    expect(nats({})).not.toHaveProperty('tls');
    expect(parse({ nats: { url: 'tls://a:4222' } }).nats?.tls).toEqual({});
    expect(nats({ tls: null })?.tls).toEqual({});
    expect(nats({ tls: { ca_file: '/etc/nats/ca.pem', cert_file: '/etc/nats/tls.crt', key_file: '/etc/nats/tls.key' } })?.tls).toEqual({
      ca_file: '/etc/nats/ca.pem',
      cert_file: '/etc/nats/tls.crt',
      key_file: '/etc/nats/tls.key',
    });
  });

  it('export holds only known exporters', () => {
    expect(() => parseConfig('export:\n  kafka: {}\n', 'c.yaml', { hostname: 'h' })).toThrow('c.yaml: export: unknown key "kafka"');
  });
});
