/** HTTP helpers the API server (src/server/api.ts) uses: content negotiation and listening. */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EnvironmentError } from '../errors.js';

export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && /application\/openmetrics-text/.test(accept);
}

/**
 * Whether the client takes gzip (RFC 9110 Accept-Encoding: `gzip` or `*`, not with q=0). A
 * 2,000-group scrape is about 7 MiB of text and a tenth of that gzipped; Prometheus asks for it.
 */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  if (acceptEncoding === undefined) return false;
  let gzip: boolean | undefined;
  let any = false;
  for (const part of acceptEncoding.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    // A weight that is not a number is no acceptance.
    const q = params.map((p) => /^\s*q\s*=(.*)$/.exec(p)).find((m) => m !== null);
    const ok = q ? Number(q[1].trim()) > 0 : true;
    if (name.trim() === 'gzip') gzip = ok;
    else if (name.trim() === '*') any = ok;
  }
  return gzip ?? any;
}

/** Listens, turning "address in use" and friends into one line with a fix. */
export function listen(server: http.Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      if (err.code === 'EADDRINUSE') reject(new EnvironmentError(`cannot listen on ${where}: the address is in use; choose another with --listen HOST:PORT`));
      else if (err.code === 'EADDRNOTAVAIL')
        reject(new EnvironmentError(`cannot listen on ${where}: no such local address; use 127.0.0.1, 0.0.0.0 or an address of this host`));
      else reject(new EnvironmentError(`cannot listen on ${where}: ${err.message}`));
    });
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}
