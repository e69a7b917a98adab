/**
 * Who an agent and a reader are to NATS, on a real nats-server with authorization: an agent's user
 * (password from a file) may publish only its own node's subjects and the JetStream API; a
 * reader's nkey may read the stream and publish nothing of the agents'. The exporter's events are
 * stored; `forkwatch tail --from nats://` with the reader's nkey shows them; a wrong password
 * and a subject the user may not publish are said in the log and nothing is counted sent; a token
 * server takes the exporter and tail by token file. A secret file that is missing, empty, of two
 * lines or not an nkey seed is one line before anything connects.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nkeyAuthenticator, nkeys, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsAuthenticator } from '../../src/export/nats-auth.js';
import { NatsExporter, type NatsExporterOptions } from '../../src/export/nats.js';
import { EnvironmentError } from '../../src/errors.js';
import { until } from '../helpers/cgroup.js';
import { CliProcess } from '../helpers/cli.js';
import { exporterOptions, NatsCluster, natsEvent } from '../helpers/nats.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-nats-auth-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text, { mode: 0o600 });
  return p;
};

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const reader = nkeys.createUser();
const readerSeed = file('reader.nk', new TextDecoder().decode(reader.getSeed()) + '\n');

async function stored(nc: NatsConnection, stream: string): Promise<number[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream).catch(() => undefined);
  const out: number[] = [];
  for (let seq = info?.state.first_seq ?? 1; info && seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    out.push((await jsm.streams.getMessage(stream, { seq }))!.json<{ seq: number }>().seq);
  }
  return out;
}

describe('export.nats and tail --from nats:// on a server with users and permissions', () => {
  let nats: NatsCluster;
  let readerNc: NatsConnection;
  const logs: string[] = [];
  const options = (node: string, stream: string, auth: Partial<NatsExporterOptions>) => exporterOptions(nats.urls, node, stream, logs, auth);

  beforeAll(async () => {
    nats = await NatsCluster.start(
      1,
      `authorization {
  users: [
    { user: agent-n1, password: "the-password-of-n1", permissions: { publish: ["forkwatch.n1.>", "$JS.API.>"], subscribe: ["_INBOX.>"] } }
    { nkey: ${reader.getPublicKey()}, permissions: { publish: ["$JS.API.>", "$JS.ACK.>", "$JS.FC.>"], subscribe: ["_INBOX.>"] } }
  ]
}
`,
    );
    readerNc = await connect({ servers: nats.urls, authenticator: nkeyAuthenticator(reader.getSeed()) });
  }, 60_000);

  afterAll(async () => {
    await readerNc?.close();
    await nats?.stop();
  });

  it("stores the agent's events with its user and password file, and tail reads them with the reader's nkey file", async () => {
    const password = file('n1.password', 'the-password-of-n1\n');
    const auth = natsAuthenticator({ user: 'agent-n1', password_file: password }, (k) => `export.nats.${k}`);
    const before = new Date(Date.now() - 1000).toISOString();
    const exporter = new NatsExporter(options('n1', 'AUTH', { user: 'agent-n1', password_file: password, authenticator: auth }));
    try {
      await exporter.start();
      for (let seq = 1; seq <= 3; seq++) exporter.publish(natsEvent(seq === 2 ? 'exit' : 'fork', seq));
      await until(
        () => exporter.counts().sent === 3,
        () => `3 sent (${JSON.stringify(exporter.counts())}; log ${logs.join(' | ')})`,
        15_000,
      );
    } finally {
      await exporter.stop();
    }
    expect(await stored(readerNc, 'AUTH')).toEqual([1, 2, 3]);

    // The reader may read, not publish as an agent: its forged event never reaches the stream.
    readerNc.publish('forkwatch.n1.fork', JSON.stringify(natsEvent('fork', 99)));
    await readerNc.flush();
    const tail = new CliProcess(['tail', '--from', nats.url(0), '--stream', 'AUTH', '--nkey-file', readerSeed, '--since', before, '--json', '--count', '3']);
    const { code } = await tail.exited;
    expect(code, tail.stderr).toBe(0);
    expect(tail.jsonLines<{ seq: number; type: string }>().map((e) => `${e.type}/${e.seq}`)).toEqual(['fork/1', 'exit/2', 'fork/3']);
    expect(await stored(readerNc, 'AUTH')).toEqual([1, 2, 3]);
  }, 60_000);

  it('a wrong password is said in the log; nothing is counted sent and the events wait', async () => {
    const wrong = file('wrong.password', 'not-it');
    const exporter = new NatsExporter(
      options('n1', 'AUTH', { authenticator: natsAuthenticator({ user: 'agent-n1', password_file: wrong }, (k) => `export.nats.${k}`) }),
    );
    const from = logs.length;
    try {
      await exporter.start();
      exporter.publish(natsEvent('fork', 1));
      exporter.publish(natsEvent('fork', 2));
      await until(
        () => logs.slice(from).some((l) => l.includes('cannot connect')),
        () => `a warning (log ${logs.slice(from).join(' | ')})`,
        15_000,
      );
      expect(logs.slice(from).find((l) => l.includes('cannot connect'))).toMatch(/authorization violation/i);
      expect(exporter.counts()).toEqual({ sent: 0, dropped: 0, queued: 2 });
    } finally {
      await exporter.stop();
    }
  }, 30_000);

  it("a node the user may not publish for: the server's refusal is logged once, and nothing is counted sent", async () => {
    const password = file('n1b.password', 'the-password-of-n1');
    const auth = natsAuthenticator({ user: 'agent-n1', password_file: password }, (k) => `export.nats.${k}`);
    const exporter = new NatsExporter(options('n2', 'AUTH', { authenticator: auth }));
    const from = logs.length;
    try {
      await exporter.start();
      for (let seq = 1; seq <= 3; seq++) exporter.publish(natsEvent('fork', seq, 'n2'));
      await until(
        () => logs.slice(from).some((l) => /permissions violation/i.test(l)),
        () => `the refusal in the log (log ${logs.slice(from).join(' | ')})`,
        15_000,
      );
      expect(logs.slice(from).filter((l) => /permissions violation/i.test(l))).toHaveLength(1);
      expect(exporter.counts().sent).toBe(0);
    } finally {
      await exporter.stop();
    }
  }, 30_000);
});

describe('export.nats and tail --from nats:// on a server that takes a token', () => {
  let nats: NatsCluster;
  beforeAll(async () => {
    nats = await NatsCluster.start(1, 'authorization { token: "a-token-of-thirty-two-characters" }\n');
  }, 60_000);
  afterAll(async () => {
    await nats?.stop();
  });

  it('the exporter and tail authenticate with the token file', async () => {
    const token = file('token', 'a-token-of-thirty-two-characters\n');
    const before = new Date(Date.now() - 1000).toISOString();
    const exporter = new NatsExporter(
      exporterOptions(nats.urls, 'n1', 'TOK', [], { authenticator: natsAuthenticator({ token_file: token }, (k) => `export.nats.${k}`) }),
    );
    try {
      await exporter.start();
      exporter.publish(natsEvent('fork', 1));
      exporter.publish(natsEvent('exit', 2));
      await until(
        () => exporter.counts().sent === 2,
        () => JSON.stringify(exporter.counts()),
        15_000,
      );
    } finally {
      await exporter.stop();
    }
    const tail = new CliProcess(['tail', '--from', nats.url(0), '--stream', 'TOK', '--token-file', token, '--since', before, '--json', '--count', '2']);
    expect((await tail.exited).code, tail.stderr).toBe(0);
    expect(tail.jsonLines<{ seq: number }>().map((e) => e.seq)).toEqual([1, 2]);

    // Without it the server refuses, and tail says so in one line.
    const denied = new CliProcess(['tail', '--from', nats.url(0), '--stream', 'TOK', '--json', '--count', '1']);
    expect((await denied.exited).code).toBe(1);
    expect(denied.stderr.trim().split('\n')).toHaveLength(1);
    expect(denied.stderr).toMatch(/cannot connect .*authorization violation/i);
  }, 60_000);
});

describe('NATS secrets that cannot be used', () => {
  const fails = (c: Parameters<typeof natsAuthenticator>[0]) => {
    try {
      natsAuthenticator(c, (k) => `export.nats.${k}`);
    } catch (err) {
      expect(err).toBeInstanceOf(EnvironmentError);
      expect((err as Error).message).not.toContain('\n');
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  it.each([
    [{ token_file: '/nonexistent/token' }, 'cannot read export.nats.token_file "/nonexistent/token": ENOENT'],
    [{ user: 'a', password_file: path.join(dir, 'empty') }, 'export.nats.password_file', 'the file is empty'],
    [{ token_file: path.join(dir, 'two-lines') }, 'export.nats.token_file', 'more than one line'],
    [{ nkey_file: path.join(dir, 'not-a-seed') }, 'export.nats.nkey_file', 'not a user nkey seed'],
    [{ nkey_file: path.join(dir, 'account-seed') }, 'export.nats.nkey_file', 'not a user nkey seed'],
  ])('%j: one line', (c, ...parts) => {
    file('empty', '  \n');
    file('two-lines', 'a\nb\n');
    file('not-a-seed', 'SUNOTASEED\n');
    file('account-seed', new TextDecoder().decode(nkeys.createAccount().getSeed()));
    const message = fails(c);
    for (const p of parts) expect(message).toContain(p);
  });

  it('a user without a password file is a user alone; tail refuses a password without a user, and nkey-file without nats://', async () => {
    expect(natsAuthenticator({ user: 'a' }, (k) => k)).toBeTypeOf('function');
    const a = new CliProcess(['tail', '--from', 'nats://127.0.0.1:1', '--password-file', '/p']);
    expect((await a.exited).code).toBe(2);
    expect(a.stderr).toContain('--password-file needs --user');
    const b = new CliProcess(['tail', '--from', 'unix:/run/forkwatch/api.sock', '--nkey-file', '/k']);
    expect((await b.exited).code).toBe(2);
    expect(b.stderr).toContain('--nkey-file needs --from nats://');
    const c = new CliProcess(['tail', '--from', 'nats://127.0.0.1:1', '--user', 'a', '--token-file', '/t']);
    expect((await c.exited).code).toBe(2);
    expect(c.stderr).toContain('give one way to authenticate to NATS');
    // A user name with a terminal escape: refused in one line, the escape not written raw.
    const d = new CliProcess(['tail', '--from', 'nats://127.0.0.1:1', '--user', 'a\u001b[2Jb']);
    expect((await d.exited).code).toBe(2);
    expect(d.stderr).toContain('expected a NATS user name');
    expect(d.stderr).not.toContain('\u001b');
  });
});
