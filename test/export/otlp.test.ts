/**
 * The OTLP exporter against real HTTP receivers started here: what arrives is decoded with the
 * official OTLP protobuf schema (test/helpers/otlp-receiver.ts), not the exporter's serializer.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { OtlpExportConfig } from '../../src/config/types.js';
import type { ProcessEvent } from '../../src/events/model.js';
import { OtlpExporter } from '../../src/export/otlp.js';
import { createLogger } from '../../src/log.js';
import type { StreamEvent } from '../../src/stream/bus.js';
import { cleanupAfterEach } from '../helpers/cleanups.js';
import { startOtlpReceiver, type Answer, type OtlpReceiver } from '../helpers/otlp-receiver.js';

const cleanups = cleanupAfterEach();

const POD = '5f1e3b9a-0c2d-4e8f-9a1b-2c3d4e5f6a7b';
const CONTAINER = 'a'.repeat(64);
const CGROUP = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD.replace(/-/g, '_')}.slice/cri-containerd-${CONTAINER}.scope`;

function otlpConfig(url: string, extra: Record<string, unknown> = {}): OtlpExportConfig {
  const c = parseConfig(JSON.stringify({ export: { otlp: { endpoint: url, ...extra } } }), 'test', { hostname: 'h' });
  return c.export.otlp!;
}

async function receiver(answer?: (n: number) => Answer): Promise<OtlpReceiver> {
  const r = await startOtlpReceiver(answer);
  cleanups.push(() => r.close());
  return r;
}

function exporterFor(config: OtlpExportConfig, warnings: string[] = []): OtlpExporter {
  const log = { ...createLogger({ quiet: true }), warn: (m: string) => warnings.push(m) };
  const e = new OtlpExporter({ config, resource: { 'service.name': 'forkwatch', 'host.name': 'node-1' }, log });
  cleanups.push(() => e.stop());
  return e;
}

/** A plain exec event numbered `seq`. */
function exec(seq: number, cgroup = '/system.slice/cron.service'): ProcessEvent {
  return {
    type: 'exec',
    time: '2026-12-05T16:20:56.123456Z',
    pid: 1000 + seq,
    tid: 1000 + seq,
    ppid: 1,
    comm: 'worker',
    uid: 0,
    cgroup,
    cgroup_id: 77,
    ns_pid: 7,
    filename: '/usr/bin/worker',
    argv: ['worker', `--n=${seq}`],
    argv_truncated: false,
    node: 'node-1',
    seq,
  };
}

const until = async (cond: () => boolean, what: string, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('OTLP exporter', () => {
  it('sends one record per event with semantic-convention attributes, the pod and container in the resource', async () => {
    const rx = await receiver();
    const e = exporterFor(otlpConfig(rx.url, { flush_interval: '50ms' }));
    await e.start();
    const events: StreamEvent[] = [
      { ...exec(1, CGROUP), group: 'kubernetes/pod', id: 'b-1-2', argv: ['curl', '-s', 'https://example.test/'] },
      {
        type: 'exit',
        time: '2026-12-05T16:20:57.000001Z',
        pid: 1001,
        tid: 1001,
        ppid: 1,
        comm: 'curl',
        uid: 1000,
        cgroup: CGROUP,
        cgroup_id: 78,
        ns_pid: 7,
        exit_code: 3,
        signal: null,
        core_dumped: false,
        lifetime_s: 0.5,
        cpu_s: 0.01,
        seq: 2,
      },
      {
        type: 'limit',
        time: '2026-12-05T16:20:58Z',
        node: 'node-1',
        group: 'web',
        resource: 'tasks',
        held: 11,
        barrier: 8,
        limit: 10,
        direction: 'up',
        pid: 4242,
        seq: 3,
      },
    ];
    for (const ev of events) e.publish(ev);
    await rx.waitAccepted(3);
    await until(() => e.counts().sent === 3, 'the answer read');
    expect(e.counts()).toEqual({ sent: 3, dropped: 0, queued: 0 });
    expect(rx.seen[0]).toMatchObject({ path: '/v1/logs', contentType: 'application/x-protobuf' });

    const [execRec, exitRec, limitRec] = rx.accepted;
    expect(execRec.resource).toMatchObject({ 'service.name': 'forkwatch', 'host.name': 'node-1', 'k8s.pod.uid': POD, 'container.id': CONTAINER });
    expect(execRec.scope).toBe('forkwatch');
    expect(execRec.record.eventName).toBe('forkwatch.exec');
    expect(execRec.record.timeUnixNano).toBe(Date.parse('2026-12-05T16:20:56Z') * 1e6 + 123_456_000);
    expect(execRec.attributes).toMatchObject({
      'process.pid': 1001,
      'process.parent_pid': 1,
      'process.vpid': 7,
      'thread.id': 1001,
      'process.executable.name': 'worker',
      'process.executable.path': '/usr/bin/worker',
      'process.command_args': ['curl', '-s', 'https://example.test/'],
      'process.user.id': 0,
      'forkwatch.cgroup.path': CGROUP,
      'forkwatch.group': 'kubernetes/pod',
      'forkwatch.process.id': 'b-1-2',
      'forkwatch.seq': 1,
    });
    expect(exitRec.record).toMatchObject({ eventName: 'forkwatch.exit', severityText: 'WARN', severityNumber: 13 });
    expect(exitRec.attributes).toMatchObject({ 'process.exit.code': 3, 'process.user.id': 1000, 'forkwatch.process.lifetime_s': 0.5 });
    expect(exitRec.resource).toMatchObject({ 'k8s.pod.uid': POD, 'container.id': CONTAINER });
    expect(limitRec.record).toMatchObject({ eventName: 'forkwatch.limit', severityText: 'WARN' });
    expect(limitRec.attributes).toEqual({
      'forkwatch.group': 'web',
      'forkwatch.resource': 'tasks',
      'forkwatch.held': 11,
      'forkwatch.barrier': 8,
      'forkwatch.limit': 10,
      'forkwatch.direction': 'up',
      'process.pid': 4242,
      'forkwatch.seq': 3,
    });
    // An event outside any container carries the agent's resource only.
    expect(limitRec.resource).not.toHaveProperty('k8s.pod.uid');
  });

  it('gzip when configured: the receiver gets the same records', async () => {
    const rx = await receiver();
    const e = exporterFor(otlpConfig(rx.url, { compression: 'gzip', flush_interval: '10ms' }));
    for (let i = 1; i <= 5; i++) e.publish(exec(i));
    await rx.waitAccepted(5);
    expect(rx.seen.every((s) => s.encoding === 'gzip')).toBe(true);
    expect(rx.accepted.map((r) => r.attributes['forkwatch.seq'])).toEqual([1, 2, 3, 4, 5]);
  });

  it('a receiver that answers 503 then 200 gets every record exactly once', async () => {
    const rx = await receiver((n) => (n === 0 ? 503 : 200));
    const e = exporterFor(otlpConfig(rx.url, { batch_size: 256, flush_interval: '20ms' }));
    const n = 1000;
    for (let i = 1; i <= n; i++) e.publish(exec(i));
    await until(() => e.counts().sent === n, 'every event sent');
    expect(e.counts()).toEqual({ sent: n, dropped: 0, queued: 0 });
    const seqs = rx.accepted.map((r) => r.attributes['forkwatch.seq'] as number);
    expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    // 4 batches, the first sent twice (answered 503, then retried).
    expect(rx.requests).toBe(5);
  });

  it('a receiver that never answers costs a bounded buffer and an exact drop count', async () => {
    const rx = await receiver(() => 'hang');
    const warnings: string[] = [];
    const e = exporterFor(otlpConfig(rx.url, { buffer: 100, batch_size: 10, timeout: '200ms', flush_interval: '10ms', max_backoff: '1s' }), warnings);
    const n = 5000;
    for (let i = 1; i <= n; i++) e.publish(exec(i));
    expect(e.counts()).toEqual({ sent: 0, dropped: n - 100, queued: 100 });
    // Requests time out and are tried again; the buffer stays bounded and nothing is counted twice.
    await until(() => rx.requests >= 3, 'three tries');
    for (let i = n + 1; i <= n + 50; i++) e.publish(exec(i));
    expect(e.counts()).toEqual({ sent: 0, dropped: n + 50 - 100, queued: 100 });
    expect(warnings.some((w) => w.startsWith(`export.otlp: cannot send to ${rx.url}`))).toBe(true);
    expect(warnings.filter((w) => w.startsWith('export.otlp: buffer full'))).toHaveLength(1);
    await e.stop();
    expect(e.counts()).toEqual({ sent: 0, dropped: n + 50, queued: 0 });
    expect(rx.accepted).toHaveLength(0);
    // Published after stop: dropped, counted.
    e.publish(exec(n + 51));
    expect(e.counts().dropped).toBe(n + 51);
  });

  it('a collector that refuses a batch for good (400): that batch is dropped, counted, and the next ones go', async () => {
    const rx = await receiver((n) => (n === 0 ? 400 : 200));
    const warnings: string[] = [];
    const e = exporterFor(otlpConfig(rx.url, { batch_size: 10, flush_interval: '10ms' }), warnings);
    for (let i = 1; i <= 30; i++) e.publish(exec(i));
    await until(() => e.counts().sent + e.counts().dropped === 30, 'all accounted for');
    expect(e.counts()).toEqual({ sent: 20, dropped: 10, queued: 0 });
    expect(rx.accepted.map((r) => r.attributes['forkwatch.seq'])).toEqual(Array.from({ length: 20 }, (_, i) => i + 11));
    expect(warnings.some((w) => /refused 10 events .*HTTP 400/.test(w))).toBe(true);
  });

  it('stop sends what is held when the collector takes it', async () => {
    const rx = await receiver();
    const e = exporterFor(otlpConfig(rx.url, { flush_interval: '1m' }));
    for (let i = 1; i <= 7; i++) e.publish(exec(i));
    expect(e.counts()).toEqual({ sent: 0, dropped: 0, queued: 7 });
    await e.stop();
    expect(e.counts()).toEqual({ sent: 7, dropped: 0, queued: 0 });
    expect(rx.accepted).toHaveLength(7);
  });
});
