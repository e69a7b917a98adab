/**
 * What the NATS exporter promises when a publish fails while later ones succeed (a stream leader
 * elected mid-run, a node lost): every event is stored once, and `forkwatch tail --from nats://`
 * shows each agent's events in the agent's order, although the stream itself then holds the
 * retried ones after later ones. Made deterministic here on a real nats-server: the stream, made
 * by the operator, takes only the `exec` subject at first, so the forks are refused while the
 * execs around them are stored. A plain NATS subscriber sees every publish attempt with its
 * headers. A retry of an event that was stored after all (its ack lost) is stored once. With
 * `batch: 1` the stream itself keeps the agent's order: nothing is sent past a failing event.
 * An event the stream can never store (larger than its max_msg_size) is dropped and counted, not
 * retried, and its stand-in keeps the chain whole, so tail does not wait for it. Messages forged
 * into the stream beside the exporter's (bad links, floods of gaps and sources) neither stop tail
 * nor disorder the real events.
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProcessEvent } from '../../src/events/model.js';
import { NatsExporter, type NatsExporterOptions } from '../../src/export/nats.js';
import { DROPPED_HEADER, PREV_HEADER } from '../../src/export/nats-wire.js';
import { until } from '../helpers/cgroup.js';
import { CliProcess } from '../helpers/cli.js';
import { NatsCluster, natsEvent } from '../helpers/nats.js';

const event = (type: 'fork' | 'exec', seq: number) => natsEvent(type, seq);

/** An exec whose argv makes it about 3 KB of JSON. */
function bigExec(seq: number): ProcessEvent {
  return { ...event('exec', seq), argv: ['x'.repeat(3000)] };
}

/** The seqs the stream holds, in the stream's order. */
async function stored(jsm: JetStreamManager, stream: string): Promise<number[]> {
  const out: number[] = [];
  const info = await jsm.streams.info(stream);
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    out.push(m!.json<{ seq: number }>().seq);
  }
  return out;
}

describe('export.nats when a publish fails and later ones succeed', () => {
  let nats: NatsCluster;
  let nc: NatsConnection;
  const logs: string[] = [];
  const options = (stream: string, streamId: string, prefix = 'forkwatch', batch = 256): NatsExporterOptions => ({
    servers: nats.urls,
    stream,
    subject_prefix: prefix,
    create_stream: false,
    replicas: 1,
    max_age_s: 0,
    batch,
    buffer_events: 100,
    node: 'n1',
    streamId,
    log: { info: (m) => logs.push(m), warn: (m) => logs.push(m) },
    stopTimeoutMs: 200,
    // The watcher below is a subscriber of the fork subject, so a refused fork gets no "no
    // responders" answer: it fails by its ack timeout.
    ackTimeoutMs: 1000,
  });

  beforeAll(async () => {
    nats = await NatsCluster.start(1);
    nc = await connect({ servers: nats.urls });
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('the later ones are stored at once, the failed ones go again with their ids until stored; each once; tail shows the agent order', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'ORD', subjects: ['forkwatch.n1.exec'], duplicate_window: 120e9 });
    // Every publish attempt, stored or not, as the server routes it: subject, id, predecessor.
    const attempts: string[] = [];
    const sub = nc.subscribe('forkwatch.n1.>', {
      callback: (_err, m) => void attempts.push(`${m.subject.slice('forkwatch.n1.'.length)}/${m.headers?.get('Nats-Msg-Id')}/${m.headers?.get(PREV_HEADER)}`),
    });
    await nc.flush();
    const before = new Date().toISOString();

    const exporter = new NatsExporter(options('ORD', 'run'));
    try {
      await exporter.start();
      for (const [type, seq] of [
        ['fork', 1],
        ['exec', 2],
        ['exec', 3],
        ['fork', 4],
      ] as const)
        exporter.publish(event(type, seq));

      // The execs are stored although the forks before and between them are refused (no stream
      // takes their subject); the forks go again, each with its id and its predecessor.
      await until(
        () => attempts.filter((a) => a === 'fork/run-4/3').length >= 3,
        () => `the second fork tried three times (attempts ${attempts.join(' ')}; log ${logs.join(' | ')})`,
        20_000,
      );
      expect(exporter.counts()).toEqual({ sent: 2, dropped: 0, queued: 2 });
      expect(await stored(jsm, 'ORD')).toEqual([2, 3]);
      expect(new Set(attempts)).toEqual(new Set(['fork/run-1/0', 'exec/run-2/1', 'exec/run-3/2', 'fork/run-4/3']));
      expect(attempts.filter((a) => a.startsWith('exec/'))).toEqual(['exec/run-2/1', 'exec/run-3/2']);
      // In each round of retries the earlier fork goes first.
      const forks = attempts.filter((a) => a.startsWith('fork/'));
      for (let i = 0; i + 1 < forks.length; i += 2) expect(forks.slice(i, i + 2)).toEqual(['fork/run-1/0', 'fork/run-4/3']);
      expect(logs.some((l) => l.includes('export.nats: a publish to forkwatch.n1.fork failed'))).toBe(true);

      await jsm.streams.update('ORD', { subjects: ['forkwatch.n1.exec', 'forkwatch.n1.fork'] });
      await until(
        () => exporter.counts().sent === 4,
        () => `all four sent (${JSON.stringify(exporter.counts())})`,
        20_000,
      );
      expect(exporter.counts()).toEqual({ sent: 4, dropped: 0, queued: 0 });
      // Once each; the stream's own order is not the agent's.
      expect(await stored(jsm, 'ORD')).toEqual([2, 3, 1, 4]);

      // The reader puts the agent's order back.
      const tail = new CliProcess(['tail', '--from', nats.url(0), '--stream', 'ORD', '--since', before, '--json', '--duration', '3']);
      const r = await tail.exited;
      expect(r.code, tail.stderr).toBe(0);
      const shown = tail.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { seq: number }).seq);
      expect(shown).toEqual([1, 2, 3, 4]);
    } finally {
      sub.unsubscribe();
      await exporter.stop();
    }
  }, 60_000);

  it('an event sent again after it was stored (its ack lost) is stored once', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'DUP', subjects: ['dup.>'], duplicate_window: 120e9 });
    // Two exporters of one agent run: the second sends what the first had stored, as a retry does.
    for (const round of [1, 2]) {
      const exporter = new NatsExporter(options('DUP', 'run', 'dup'));
      await exporter.start();
      for (const seq of [1, 2, 3]) exporter.publish(event('exec', seq));
      await until(
        () => exporter.counts().sent === 3,
        () => `round ${round}: all three acked (${JSON.stringify(exporter.counts())})`,
        20_000,
      );
      await exporter.stop();
      expect(exporter.counts()).toEqual({ sent: 3, dropped: 0, queued: 0 });
    }
    expect(await stored(jsm, 'DUP')).toEqual([1, 2, 3]);
  }, 60_000);

  it('with batch 1 nothing after a failing event is sent until it is stored: the stream holds the agent order', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'ONE', subjects: ['one.n1.exec'], duplicate_window: 120e9 });
    const attempts: string[] = [];
    const sub = nc.subscribe('one.n1.>', {
      callback: (_err, m) => void attempts.push(`${m.subject.slice('one.n1.'.length)}/${m.headers?.get('Nats-Msg-Id')}`),
    });
    await nc.flush();
    const exporter = new NatsExporter(options('ONE', 'run', 'one', 1));
    try {
      await exporter.start();
      for (const [type, seq] of [
        ['fork', 1],
        ['exec', 2],
        ['exec', 3],
      ] as const)
        exporter.publish(event(type, seq));
      await until(
        () => attempts.length >= 3,
        () => `the fork tried three times (attempts ${attempts.join(' ')})`,
        20_000,
      );
      expect(attempts.every((a) => a === 'fork/run-1')).toBe(true);
      expect(exporter.counts()).toEqual({ sent: 0, dropped: 0, queued: 3 });
      await jsm.streams.update('ONE', { subjects: ['one.n1.exec', 'one.n1.fork'] });
      await until(
        () => exporter.counts().sent === 3,
        () => `all three sent (${JSON.stringify(exporter.counts())})`,
        20_000,
      );
      expect(await stored(jsm, 'ONE')).toEqual([1, 2, 3]);
    } finally {
      sub.unsubscribe();
      await exporter.stop();
    }
  }, 60_000);

  it.each([256, 1])(
    "batch %i: events larger than the stream's max_msg_size are dropped, counted and logged once, not retried; their stand-ins keep the chain, so tail shows the rest in order at once",
    async (batch) => {
      const jsm = await jetstreamManager(nc);
      const name = `BIG${batch}`;
      const prefix = `big${batch}`;
      await jsm.streams.add({ name, subjects: [`${prefix}.>`], max_msg_size: 1024, duplicate_window: 120e9 });
      const before = new Date().toISOString();
      const from = logs.length;
      const exporter = new NatsExporter(options(name, 'run', prefix, batch));
      const big = new Set([2, 4, 5, 9]);
      try {
        await exporter.start();
        for (let seq = 1; seq <= 12; seq++) exporter.publish(big.has(seq) ? bigExec(seq) : event(seq % 3 ? 'fork' : 'exec', seq));
        await until(
          () => exporter.counts().queued === 0,
          () => `nothing queued (${JSON.stringify(exporter.counts())}; log ${logs.slice(from).join(' | ')})`,
          20_000,
        );
        expect(exporter.counts()).toEqual({ sent: 8, dropped: 4, queued: 0 });
        const lines = logs.slice(from);
        expect(
          lines.filter((l) => l.includes('can never be stored')),
          lines.join('\n'),
        ).toEqual([
          `export.nats: event 2 on ${prefix}.n1.exec can never be stored in stream ${name} (message size exceeds maximum allowed, err_code 10054): dropped (forkwatch_export_events_total{exporter="nats",outcome="dropped"}), a stand-in in its place keeps the Forkwatch-Prev chain whole; later ones like it are counted, not logged`,
        ]);
        // Not treated as a failure to retry: no retry's warning, and nothing sent again.
        expect(lines.filter((l) => l.includes('failed'))).toEqual([]);

        // The events that fit, and a stand-in (no body, the dropped one's id and predecessor) for each dropped one.
        const info = await jsm.streams.info(name);
        const held: string[] = [];
        for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
          const m = (await jsm.streams.getMessage(name, { seq }))!;
          const id = m.header.get('Nats-Msg-Id');
          held.push(m.header.has(DROPPED_HEADER) ? `${id}/${m.header.get(PREV_HEADER)}/dropped ${m.header.get(DROPPED_HEADER)} ${m.data.length}` : id);
        }
        expect([...held].sort()).toEqual(
          [
            'run-1',
            'run-2/1/dropped 10054 0',
            'run-3',
            'run-4/3/dropped 10054 0',
            'run-5/4/dropped 10054 0',
            'run-6',
            'run-7',
            'run-8',
            'run-9/8/dropped 10054 0',
            'run-10',
            'run-11',
            'run-12',
          ].sort(),
        );

        // tail does not wait for the dropped ones (its gap wait is 10 s): it has all 8 at once.
        const t0 = Date.now();
        const tail = new CliProcess(['tail', '--from', nats.url(0), '--stream', name, '--subject-prefix', prefix, '--since', before, '--json', '--count', '8']);
        const r = await tail.exited;
        expect(r.code, tail.stderr).toBe(0);
        expect(Date.now() - t0).toBeLessThan(8_000);
        expect(tail.stderr).toBe('');
        expect(tail.jsonLines<{ seq: number }>().map((e) => e.seq)).toEqual([1, 3, 6, 7, 8, 10, 11, 12]);
      } finally {
        await exporter.stop();
      }
    },
    60_000,
  );

  it("forged messages beside an exporter's events (bad links, a flood of gaps, a flood of sources): tail shows the real ones in order and stops on time", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'FORGE', subjects: ['forge.>'], duplicate_window: 120e9 });
    const js = jetstream(nc);
    const before = new Date().toISOString();
    const forged = { ...event('exec', 0), comm: 'forged', node: 'n1' };
    let forgedEvents = 0;
    const forge = (links: [string, string | undefined, boolean?][]) =>
      Promise.all(
        links.map(([id, prev, stand]) => {
          const h = headers();
          h.set('Nats-Msg-Id', id);
          if (prev !== undefined) h.set(PREV_HEADER, prev);
          if (stand) h.set(DROPPED_HEADER, '10054');
          else forgedEvents++;
          return js.publish('forge.n1.exec', stand ? new Uint8Array(0) : JSON.stringify({ ...forged, id }), { headers: h });
        }),
      );

    const exporter = new NatsExporter(options('FORGE', 'run', 'forge'));
    try {
      await exporter.start();
      for (let seq = 1; seq <= 20; seq++) exporter.publish(event('fork', seq));
      await until(() => exporter.counts().sent === 20, 'the first 20 stored', 20_000);
      await js.publish('forge.n1.exec', 'not an event');
      await forge([
        // In the real run's name: links that are none (self, backwards, leading zero, past the
        // safe integers), one that waits for what never comes, a stand-in that is none.
        ['run-77', '77'],
        ['run-1000', '2000'],
        ['run-0999', '0'],
        ['run-9007199254740993', '1'],
        ['run-500', '499'],
        ['run-5x', '4', true],
        ['run-600', '599', true],
        [`${'r'.repeat(300)}-2`, '1'],
        ['ev il-2', '1'],
      ]);
      // A flood of gaps in one source, and of sources each met mid-chain.
      for (let k = 0; k < 4; k++)
        await forge(Array.from({ length: 500 }, (_, i): [string, string] => [`evil-${2 * (500 * k + i) + 2}`, String(2 * (500 * k + i) + 1)]));
      for (let k = 0; k < 2; k++) await forge(Array.from({ length: 500 }, (_, i): [string, string] => [`src${500 * k + i}-9`, '7']));
      for (let seq = 21; seq <= 40; seq++) exporter.publish(event('fork', seq));
      await until(() => exporter.counts().sent === 40, 'all 40 stored', 20_000);

      const t0 = Date.now();
      const tail = new CliProcess([
        'tail',
        '--from',
        nats.url(0),
        '--stream',
        'FORGE',
        '--subject-prefix',
        'forge',
        '--since',
        before,
        '--json',
        '--duration',
        '4',
      ]);
      const r = await tail.exited;
      expect(r.code, tail.stderr).toBe(0);
      expect(Date.now() - t0).toBeLessThan(12_000);
      const shown = tail.jsonLines<{ seq: number; comm: string }>();
      expect(shown.filter((e) => e.comm === 'w').map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      // Every forged event is shown (inert, late or at once), none twice; the stand-ins show nothing.
      expect(shown.filter((e) => e.comm === 'forged')).toHaveLength(forgedEvents);
      expect(tail.stderr).toContain('skipped 2 messages');
    } finally {
      await exporter.stop();
    }
  }, 90_000);
});
