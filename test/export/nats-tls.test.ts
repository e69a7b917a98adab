/**
 * TLS to NATS, on real nats-servers with certificates openssl makes for the test (a private CA, a
 * server certificate for 127.0.0.1, a client certificate): the exporter with the CA's file stores
 * its events and `forkwatch tail --from tls://` with it reads them; without the CA the handshake
 * fails and that is said; a server that verifies clients takes the exporter only with its
 * certificate and key; with TLS required, a server without TLS gets nothing, not plain text. A CA,
 * certificate or key file that cannot be used is one line before anything connects.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsExporter, type NatsExporterOptions } from '../../src/export/nats.js';
import { natsTlsOptions } from '../../src/export/nats-tls.js';
import type { NatsTlsConfig } from '../../src/config/types.js';
import { EnvironmentError } from '../../src/errors.js';
import { until } from '../helpers/cgroup.js';
import { CliProcess } from '../helpers/cli.js';
import { exporterOptions, NatsCluster, natsEvent } from '../helpers/nats.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-nats-tls-'));
const at = (name: string) => path.join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

/** A key and a certificate signed by the test CA, for `usage` (serverAuth, clientAuth). */
function issue(name: string, subject: string, ext: string): void {
  fs.writeFileSync(at(`${name}.ext`), ext);
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  );
}

/** A key and a self-signed certificate (a CA's, or one no CA here signed). */
function selfSigned(name: string, subject: string): void {
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-subj',
    subject,
  );
}

beforeAll(() => {
  selfSigned('ca', '/CN=forkwatch test CA');
  issue('server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  issue('client', '/CN=agent-n1', 'extendedKeyUsage=clientAuth\n');
  issue('other', '/CN=other', 'extendedKeyUsage=clientAuth\n');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const tlsOf = (c: NatsTlsConfig) => natsTlsOptions(c, (k) => `export.nats.tls.${k}`);

function exporter(servers: string[], stream: string, logs: string[], more: Partial<NatsExporterOptions>): NatsExporter {
  return new NatsExporter(exporterOptions(servers, 'n1', stream, logs, more));
}

/** Publishes two events and waits until `done` holds of the exporter and its log. */
async function run(e: NatsExporter, logs: string[], done: () => boolean, what: () => string): Promise<void> {
  try {
    await e.start();
    e.publish(natsEvent('fork', 1));
    e.publish(natsEvent('exit', 2));
    await until(done, what, 15_000);
  } finally {
    await e.stop();
  }
}

/** Publishes two events and waits until both are sent. */
function sendsTwo(e: NatsExporter, logs: string[]): Promise<void> {
  return run(
    e,
    logs,
    () => e.counts().sent === 2,
    () => `2 sent (${JSON.stringify(e.counts())}; log ${logs.join(' | ')})`,
  );
}

/** Publishes two events until the exporter logs that it cannot connect; returns that line. */
async function refusal(e: NatsExporter, logs: string[]): Promise<string | undefined> {
  const refused = () => logs.find((l) => l.includes('cannot connect'));
  await run(
    e,
    logs,
    () => refused() !== undefined,
    () => `a warning (log ${logs.join(' | ')})`,
  );
  return refused();
}

/** How many messages the stream holds, read over TLS with the CA (and the client's certificate). */
async function storedCount(url: string, stream: string, tls: object): Promise<number> {
  const nc = await connect({ servers: [url], tls });
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.streams.info(stream)).state.messages;
  } finally {
    await nc.close();
  }
}

const serverTls = (verify: boolean) =>
  `tls {\n  cert_file: "${at('server.pem')}"\n  key_file: "${at('server.key')}"\n  ca_file: "${at('ca.pem')}"\n  verify: ${verify}\n  timeout: 2\n}\n`;

describe('export.nats and tail --from over TLS with a private CA', () => {
  let nats: NatsCluster;
  beforeAll(async () => {
    nats = await NatsCluster.start(1, serverTls(false));
  }, 60_000);
  afterAll(async () => {
    await nats?.stop();
  });

  it('with the CA the events are stored, and tail --from tls:// with --tls-ca-file reads them', async () => {
    const logs: string[] = [];
    const before = new Date(Date.now() - 1000).toISOString();
    const url = nats.url(0).replace('nats://', 'tls://');
    const e = exporter([url], 'TLS', logs, { tls: tlsOf({ ca_file: at('ca.pem') }) });
    await sendsTwo(e, logs);
    expect(await storedCount(url, 'TLS', { ca: fs.readFileSync(at('ca.pem'), 'utf8') })).toBe(2);
    const tail = new CliProcess(['tail', '--from', url, '--tls-ca-file', at('ca.pem'), '--stream', 'TLS', '--since', before, '--json', '--count', '2']);
    expect((await tail.exited).code, tail.stderr).toBe(0);
    expect(tail.jsonLines<{ seq: number; type: string }>().map((x) => `${x.type}/${x.seq}`)).toEqual(['fork/1', 'exit/2']);
    expect(tail.stderr).not.toMatch(/warning/i);
  }, 60_000);

  it("without the CA the server's certificate is not trusted: said in the log, nothing sent, what waited counted dropped at the stop", async () => {
    const logs: string[] = [];
    const e = exporter([nats.url(0)], 'TLS', logs, { tls: tlsOf({}) });
    expect(await refusal(e, logs)).toMatch(/certificate/i);
    expect(e.counts()).toEqual({ sent: 0, dropped: 2, queued: 0 }); // held until the stop, then counted dropped
    // tail without --tls-ca-file: one line, exit 1.
    const tail = new CliProcess(['tail', '--from', nats.url(0).replace('nats://', 'tls://'), '--stream', 'TLS', '--json', '--count', '1']);
    expect((await tail.exited).code).toBe(1);
    expect(tail.stderr.trim().split('\n'), tail.stderr).toHaveLength(1);
    expect(tail.stderr).toMatch(/cannot connect .*certificate/i);
  }, 30_000);
});

describe('export.nats to a server that verifies clients (mutual TLS)', () => {
  let nats: NatsCluster;
  beforeAll(async () => {
    nats = await NatsCluster.start(1, serverTls(true));
  }, 60_000);
  afterAll(async () => {
    await nats?.stop();
  });

  it('takes the exporter with its certificate and key, and refuses it without them', async () => {
    const logs: string[] = [];
    const refused = exporter([nats.url(0)], 'MTLS', logs, { tls: tlsOf({ ca_file: at('ca.pem') }) });
    await refusal(refused, logs);
    expect(refused.counts().sent).toBe(0);

    const accepted = exporter([nats.url(0)], 'MTLS', logs, { tls: tlsOf({ ca_file: at('ca.pem'), cert_file: at('client.pem'), key_file: at('client.key') }) });
    await sendsTwo(accepted, logs);
    const mutual = {
      ca: fs.readFileSync(at('ca.pem'), 'utf8'),
      cert: fs.readFileSync(at('client.pem'), 'utf8'),
      key: fs.readFileSync(at('client.key'), 'utf8'),
    };
    expect(await storedCount(nats.url(0), 'MTLS', mutual)).toBe(2);
  }, 60_000);
  it('reads the certificate and key again at each connection: one renewed in place is used without a restart', async () => {
    // Options made once, as the agent makes them at start, from files that will be renewed in place.
    fs.copyFileSync(at('client.pem'), at('renewed.pem'));
    fs.copyFileSync(at('client.key'), at('renewed.key'));
    const tls = tlsOf({ ca_file: at('ca.pem'), cert_file: at('renewed.pem'), key_file: at('renewed.key') });
    const logs: string[] = [];
    const first = exporter([nats.url(0)], 'MTLS', logs, { tls });
    await sendsTwo(first, logs);
    // Replaced by a certificate of a CA the server does not trust: the next connection uses it, and is refused.
    selfSigned('renewed', '/CN=untrusted');
    const second = exporter([nats.url(0)], 'MTLS', logs, { tls });
    await refusal(second, logs);
    expect(second.counts().sent).toBe(0);
    // Renewed again with one the server trusts: taken, with the same options.
    fs.copyFileSync(at('other.pem'), at('renewed.pem'));
    fs.copyFileSync(at('other.key'), at('renewed.key'));
    const third = exporter([nats.url(0)], 'MTLS', logs, { tls });
    await sendsTwo(third, logs);
  }, 90_000);
});

describe('TLS required of a server without TLS', () => {
  let nats: NatsCluster;
  beforeAll(async () => {
    nats = await NatsCluster.start(1);
  }, 60_000);
  afterAll(async () => {
    await nats?.stop();
  });

  it('sends nothing in plain text: the exporter says so, and what waited is counted dropped at its stop; tail exits 1 in one line', async () => {
    const logs: string[] = [];
    const e = exporter([nats.url(0).replace('nats://', 'tls://')], 'PLAIN', logs, { tls: tlsOf({ ca_file: at('ca.pem') }) });
    expect(await refusal(e, logs)).toMatch(/does not support 'tls'/);
    expect(e.counts()).toEqual({ sent: 0, dropped: 2, queued: 0 }); // held until the stop, then counted dropped
    const nc = await connect({ servers: nats.urls });
    try {
      const streams = await (await jetstreamManager(nc)).streams.names().next();
      expect(streams).not.toContain('PLAIN');
    } finally {
      await nc.close();
    }
    const tail = new CliProcess(['tail', '--from', nats.url(0), '--tls-ca-file', at('ca.pem'), '--json', '--count', '1']);
    expect((await tail.exited).code).toBe(1);
    expect(tail.stderr.trim().split('\n'), tail.stderr).toHaveLength(1);
    expect(tail.stderr).toMatch(/does not support 'tls'/);
  }, 30_000);
});

describe('TLS files that cannot be used', () => {
  const fails = (c: NatsTlsConfig) => {
    try {
      tlsOf(c);
    } catch (err) {
      expect(err).toBeInstanceOf(EnvironmentError);
      expect((err as Error).message).not.toContain('\n');
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  it('a missing file, a file that is not PEM, and a key that is not the certificate’s: one line each', () => {
    fs.writeFileSync(at('garbage.pem'), 'not a certificate\n');
    expect(fails({ ca_file: '/nonexistent/ca.pem' })).toBe('cannot read export.nats.tls.ca_file "/nonexistent/ca.pem": ENOENT');
    expect(fails({ ca_file: at('garbage.pem') })).toContain(`export.nats.tls.ca_file "${at('garbage.pem')}": not a PEM certificate`);
    expect(fails({ cert_file: at('client.pem'), key_file: at('garbage.pem') })).toContain('export.nats.tls.key_file');
    expect(fails({ cert_file: at('client.pem'), key_file: at('other.key') })).toContain('not the key of the certificate in export.nats.tls.cert_file');
    expect(tlsOf({ cert_file: at('client.pem'), key_file: at('client.key') })).toEqual({ certFile: at('client.pem'), keyFile: at('client.key') });
  });

  it('tail: a certificate without its key, NATS flags without nats://, mixed schemes and bad URLs (one with a terminal escape) are usage errors', async () => {
    const cases: [string[], string][] = [
      [['--from', 'tls://127.0.0.1:1', '--tls-cert-file', '/c.pem'], '--tls-cert-file needs --tls-key-file'],
      [['--from', 'unix:/run/forkwatch/api.sock', '--tls-ca-file', '/ca.pem'], '--tls-ca-file needs --from nats://'],
      [['--tls-ca-file', '/ca.pem'], '--tls-ca-file needs --from nats://'],
      [['--since', '1h'], '--since needs --from nats://'],
      [['--from', 'nats://127.0.0.1:99999'], 'expected nats://HOST:PORT or tls://HOST:PORT'],
      [['--from', 'tls://a\u001b[2J:1'], '"tls://a\\u001b[2J:1": expected nats://HOST:PORT or tls://HOST:PORT'],
      [['--from', 'tls://127.0.0.1:1', '--from', 'nats://127.0.0.1:2'], 'nats:// and tls:// mixed'],
      [['--from', 'tls://127.0.0.1:1', '--tls-ca-file', '/nonexistent/ca.pem'], 'cannot read --tls-ca-file "/nonexistent/ca.pem": ENOENT'],
    ];
    for (const [args, message] of cases) {
      const p = new CliProcess(['tail', ...args]);
      const { code } = await p.exited;
      expect(code, `${args.join(' ')}: ${p.stderr}`).toBe(message.startsWith('cannot read') ? 1 : 2);
      expect(p.stderr.trim().split('\n'), p.stderr).toHaveLength(1);
      expect(p.stderr).toContain(message);
      expect(p.stderr).not.toContain('\u001b');
    }
  });
});
