/**
 * The agent's HTTP face: /metrics (Prometheus text or OpenMetrics, by the Accept header),
 * /healthz, and the read-only JSON API the CLI uses (/api/…). Handlers come from the agent; this
 * module only routes, negotiates and reports errors.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EnvironmentError } from '../errors.js';

export interface Routes {
  metrics(openMetrics: boolean): Promise<{ body: string; contentType: string }>;
  health(): { ok: boolean; detail: Record<string, unknown> };
  /** GET /api/<name> -> JSON. */
  api: Record<string, () => unknown>;
}

export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && /application\/openmetrics-text/.test(accept);
}

export function createHttpServer(routes: Routes, onError: (err: unknown) => void): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, contentType: string, body: string) => {
      res.writeHead(status, { 'Content-Type': contentType });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'only GET\n');
    void (async () => {
      try {
        if (url.pathname === '/metrics') {
          const m = await routes.metrics(wantsOpenMetrics(req.headers.accept));
          return send(200, m.contentType, m.body);
        }
        if (url.pathname === '/healthz') {
          const h = routes.health();
          return send(h.ok ? 200 : 503, 'application/json', JSON.stringify({ status: h.ok ? 'ok' : 'unhealthy', ...h.detail }) + '\n');
        }
        const api = /^\/api\/([a-z]+)$/.exec(url.pathname);
        if (api && routes.api[api[1]]) return send(200, 'application/json', JSON.stringify(routes.api[api[1]]()) + '\n');
        if (url.pathname === '/') return send(200, 'text/html', '<html><body><h1>forkwatch</h1><p><a href="/metrics">/metrics</a> <a href="/healthz">/healthz</a> <a href="/api/groups">/api/groups</a></p></body></html>\n');
        return send(404, 'text/plain', 'not found\n');
      } catch (err) {
        onError(err);
        send(500, 'text/plain', 'internal error\n');
      }
    })();
  });
}

/** Listens, turning "address in use" and friends into one line with a fix. */
export function listen(server: http.Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      if (err.code === 'EADDRINUSE') reject(new EnvironmentError(`cannot listen on ${where}: the address is in use; choose another with --listen HOST:PORT`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new EnvironmentError(`cannot listen on ${where}: no such local address; use 127.0.0.1, 0.0.0.0 or an address of this host`));
      else reject(new EnvironmentError(`cannot listen on ${where}: ${err.message}`));
    });
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}
