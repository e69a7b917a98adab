/**
 * The NATS exporter keeps an agent's order when a publish fails and later ones would succeed (a
 * stream leader elected mid-run, a node lost: CI saw the retried events stored after later ones).
 * Made deterministic here on a real nats-server: the stream, made by the operator, takes only the
 * `exec` subject at first, so the first event (a fork) is refused while the execs behind it would
 * be stored. Every publish is watched by a plain NATS subscriber: nothing after the fork is sent
 * while it fails; once the stream takes forks too, all arrive once, in the agent's order.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProcessEvent } from '../../src/events/model.js';
import { NatsExporter } from '../../src/export/nats.js';
import { until } from '../helpers/cgroup.js';
import { NatsCluster } from '../helpers/nats.js';

function event(type: 'fork' | 'exec', seq: number): ProcessEvent {
  const e: ProcessEvent = {
    type,
    time: '2026-12-05T16:20:56.123456Z',
    pid: 1000 + seq,
    tid: 1000 + seq,
    ppid: 1,
    comm: 'w',
    uid: 0,
    cgroup: '/t',
    cgroup_id: 7,
    ns_pid: 7,
  };
  if (type === 'exec') Object.assign(e, { filename: '/bin/true', argv: ['true'], argv_truncated: false });
  return { ...e, node: 'n1', seq };
}

describe('export.nats order after a refused publish', () => {
  let nats: NatsCluster;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await NatsCluster.start(1);
    nc = await connect({ servers: nats.urls });
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('nothing after a failing event is sent until it is stored; then each is stored once, in order', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'ORD', subjects: ['forkwatch.n1.exec'], duplicate_window: 120e9 });
    // Every publish attempt, stored or not, as the server routes it.
    const attempts: string[] = [];
    const sub = nc.subscribe('forkwatch.n1.>', { callback: (_err, m) => void attempts.push(`${m.subject}/${m.headers?.get('Nats-Msg-Id')}`) });
    await nc.flush();

    const logs: string[] = [];
    const exporter = new NatsExporter({
      servers: nats.urls,
      stream: 'ORD',
      subject_prefix: 'forkwatch',
      create_stream: false,
      replicas: 1,
      max_age_s: 0,
      buffer_events: 100,
      node: 'n1',
      streamId: 'run',
      log: { info: (m) => logs.push(m), warn: (m) => logs.push(m) },
      stopTimeoutMs: 200,
    });
    try {
      await exporter.start();
      exporter.publish(event('fork', 1));
      exporter.publish(event('exec', 2));
      exporter.publish(event('exec', 3));

      // The fork is refused (no stream takes its subject) and sent again: and nothing else meanwhile.
      await until(
        () => attempts.filter((a) => a === 'forkwatch.n1.fork/run-1').length >= 3,
        () => `the fork tried three times (attempts ${attempts.join(' ')}; log ${logs.join(' | ')})`,
        20_000,
      );
      expect(attempts.every((a) => a === 'forkwatch.n1.fork/run-1')).toBe(true);
      expect(exporter.counts()).toEqual({ sent: 0, dropped: 0, queued: 3 });

      await jsm.streams.update('ORD', { subjects: ['forkwatch.n1.exec', 'forkwatch.n1.fork'] });
      await until(
        () => exporter.counts().sent === 3,
        () => `all three sent (${JSON.stringify(exporter.counts())})`,
        20_000,
      );
      expect(exporter.counts()).toEqual({ sent: 3, dropped: 0, queued: 0 });

      const stored: number[] = [];
      const info = await jsm.streams.info('ORD');
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = await jsm.streams.getMessage('ORD', { seq });
        stored.push(m!.json<{ seq: number }>().seq);
      }
      expect(stored).toEqual([1, 2, 3]);
    } finally {
      sub.unsubscribe();
      await exporter.stop();
    }
  }, 60_000);
});
