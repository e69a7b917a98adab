/**
 * TLS to NATS for an agent (export.nats.tls) and `tail --from`: the servers' CA and this client's
 * certificate and key, read and checked once before anything connects, so that a wrong file is one
 * line naming the key and the file, not a handshake that fails on every reconnect. With these
 * options the client refuses a server that does not offer TLS: events never go out in plain text
 * to a server the operator said speaks TLS.
 */
import crypto from 'node:crypto';
import type { TlsOptions } from '@nats-io/transport-node';
import type { NatsTlsConfig } from '../config/types.js';
import { EnvironmentError } from '../errors.js';
import { readKeyFile } from '../host/key-file.js';

/**
 * The client's TLS options (undefined: TLS not required); `name` writes a key as the user gave it.
 * The files are checked here, once; the options name them by path, and the client reads them again
 * at every connection and reconnection, so a certificate renewed in place (cert-manager's secret
 * volume) is used without a restart. A renewed file that cannot be used then fails that connection
 * attempt, which the client retries and the exporter logs, as any other.
 */
export function natsTlsOptions(c: NatsTlsConfig | undefined, name: (key: keyof NatsTlsConfig) => string): TlsOptions | undefined {
  if (c === undefined) return undefined;
  const out: TlsOptions = {};
  if (c.ca_file !== undefined) {
    const ca = readKeyFile(c.ca_file, name('ca_file'));
    certificate(ca, c.ca_file, name('ca_file'));
    out.caFile = c.ca_file;
  }
  if (c.cert_file !== undefined && c.key_file !== undefined) {
    const cert = readKeyFile(c.cert_file, name('cert_file'));
    const x509 = certificate(cert, c.cert_file, name('cert_file'));
    const key = readKeyFile(c.key_file, name('key_file'));
    let k: crypto.KeyObject;
    try {
      k = crypto.createPrivateKey(key);
    } catch (err) {
      throw new EnvironmentError(`${name('key_file')} ${JSON.stringify(c.key_file)}: not a PEM private key (${firstLine(err)})`);
    }
    if (!x509.checkPrivateKey(k))
      throw new EnvironmentError(
        `${name('key_file')} ${JSON.stringify(c.key_file)}: not the key of the certificate in ${name('cert_file')} ${JSON.stringify(c.cert_file)}`,
      );
    out.certFile = c.cert_file;
    out.keyFile = c.key_file;
  }
  return out;
}

/** The first certificate of a PEM file (a CA file may hold several). */
function certificate(text: string, file: string, key: string): crypto.X509Certificate {
  try {
    return new crypto.X509Certificate(text);
  } catch (err) {
    throw new EnvironmentError(`${key} ${JSON.stringify(file)}: not a PEM certificate (${firstLine(err)})`);
  }
}

function firstLine(err: unknown): string {
  return String((err as Error).message ?? err).split('\n')[0];
}
