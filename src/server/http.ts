/** HTTP helpers the API server (src/server/api.ts) uses: content negotiation and listening. */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EnvironmentError } from '../errors.js';

export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && /application\/openmetrics-text/.test(accept);
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
