/**
 * /metrics is gzipped when the scraper accepts it (Prometheus does) and plain otherwise; the
 * gzipped body is the same exposition.
 */
import http from 'node:http';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptsGzip } from '../../src/server/http.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot } from '../helpers/cgroup.js';
import { TestPrometheus } from '../helpers/prometheus.js';

describe('acceptsGzip', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['gzip', true],
    ['GZIP', true],
    ['deflate, gzip;q=1.0, *;q=0.5', true],
    ['identity', false],
    ['gzip;q=0', false],
    ['gzip; q=0.000', false],
    ['br, deflate', false],
    ['*', true],
    ['*;q=0', false],
    ['gzip;q=0, *', false],
    ['gzip;q=garbage', false],
    [',,;;=,', false],
  ])('%j -> %s', (header, want) => {
    expect(acceptsGzip(header)).toBe(want);
  });
});

/** The raw response: node's http does not decode, unlike fetch. */
function scrape(port: number, headers: Record<string, string>): Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** Metric names and label sets of an exposition (values move between two scrapes). */
const series = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.slice(0, l.lastIndexOf(' ')))
    .filter((s) => !s.startsWith('process_') && !s.startsWith('nodejs_'))
    .sort();

describe('/metrics gzip', () => {
  let agent: TestAgent;

  beforeAll(async () => {
    requireRoot();
    agent = await TestAgent.start('node_name: gzip\n');
  });

  afterAll(async () => {
    await agent?.stop();
  });

  it('gzips for a scraper that accepts it, and the body is the same exposition', async () => {
    const plain = await scrape(agent.port, {});
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toBe('Accept-Encoding');
    const zipped = await scrape(agent.port, { 'Accept-Encoding': 'gzip, deflate' });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers['content-type']).toBe(plain.headers['content-type']);
    expect(zipped.headers.vary).toBe('Accept-Encoding');
    const text = zlib.gunzipSync(zipped.body).toString('utf8');
    expect(zipped.body.length).toBeLessThan(text.length / 3);
    expect(series(text)).toEqual(series(plain.body.toString('utf8')));
    expect(text).toContain('forkwatch_groups');
  });

  it('OpenMetrics is gzipped too', async () => {
    const r = await scrape(agent.port, { Accept: 'application/openmetrics-text; version=1.0.0', 'Accept-Encoding': 'gzip' });
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(r.body).toString('utf8').trimEnd().endsWith('# EOF')).toBe(true);
  });

  it('q=0 is a refusal', async () => {
    const r = await scrape(agent.port, { 'Accept-Encoding': 'gzip;q=0, identity' });
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.body.toString('utf8')).toContain('forkwatch_groups');
  });

  it('a real Prometheus (which asks for gzip) reads the gzipped scrape', async () => {
    const prom = await TestPrometheus.start([`127.0.0.1:${agent.port}`]);
    try {
      expect(await prom.waitFor('up{job="forkwatch"}', (v) => v === 1)).toBe(1);
      expect(await prom.waitFor('forkwatch_groups', (v) => v !== undefined && v > 0)).toBeGreaterThan(0);
    } finally {
      await prom.stop();
    }
  });
});
