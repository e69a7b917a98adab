/**
 * The agent's HTTP API, served twice: on TCP (read-only, for Prometheus and people) and on a
 * root-only unix socket (everything). On TCP, the event stream and anything that changes state
 * need the bearer token from api.token_file; without a token file they are refused there.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { EnvironmentError, UsageError } from '../errors.js';
import { serveEvents, type EventsDeps } from './events.js';
import { wantsOpenMetrics } from './http.js';

export interface ApiHandlers {
  metrics(openMetrics: boolean): Promise<{ body: string; contentType: string }>;
  health(): { ok: boolean; detail: Record<string, unknown> };
  /** GET /api/<name> -> JSON. */
  get: Record<string, () => unknown>;
  events: EventsDeps;
  /** POST /api/programs/<name>/<start|stop|restart>. */
  control(action: 'start' | 'stop' | 'restart', name: string): Promise<unknown>;
}

export interface AccessPolicy {
  /** The unix socket: its file mode is the access control. */
  trusted: boolean;
  token?: string;
}

function tokenOk(req: http.IncomingMessage, token: string): boolean {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]);
  const b = Buffer.from(token);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

export function createApiServer(h: ApiHandlers, policy: AccessPolicy, onError: (err: unknown) => void): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, contentType: string, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': contentType, ...headers });
      res.end(body);
    };
    const json = (status: number, body: unknown) => send(status, 'application/json', JSON.stringify(body) + '\n');
    /** Stream and control need the socket, or the token on TCP. Says why not, nothing more. */
    const allowed = (): boolean => {
      if (policy.trusted) return true;
      if (!policy.token) {
        send(403, 'text/plain', 'this needs the agent\'s unix socket, or api.token_file set and its token sent as a bearer token\n');
        return false;
      }
      if (!tokenOk(req, policy.token)) {
        send(401, 'text/plain', 'a valid bearer token is required\n', { 'WWW-Authenticate': 'Bearer realm="forkwatch"' });
        return false;
      }
      return true;
    };
    void (async () => {
      try {
        if (req.method === 'POST') {
          const m = /^\/api\/programs\/([^/]+)\/(start|stop|restart)$/.exec(url.pathname);
          if (!m) return send(404, 'text/plain', 'not found\n');
          if (!allowed()) return;
          try {
            return json(200, await h.control(m[2] as 'start' | 'stop' | 'restart', decodeURIComponent(m[1])));
          } catch (err) {
            if (err instanceof UsageError) return send(404, 'text/plain', err.message + '\n');
            throw err;
          }
        }
        if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'GET or POST\n');
        if (url.pathname === '/metrics') {
          const m = await h.metrics(wantsOpenMetrics(req.headers.accept));
          return send(200, m.contentType, m.body);
        }
        if (url.pathname === '/healthz') {
          const r = h.health();
          return json(r.ok ? 200 : 503, { status: r.ok ? 'ok' : 'unhealthy', ...r.detail });
        }
        if (url.pathname === '/events') {
          if (!allowed()) return;
          return serveEvents(req, res, url, h.events);
        }
        const api = /^\/api\/([a-z]+)$/.exec(url.pathname);
        if (api && h.get[api[1]]) return json(200, h.get[api[1]]());
        if (url.pathname === '/') {
          return send(200, 'text/html', '<html><body><h1>forkwatch</h1><p><a href="/metrics">/metrics</a> <a href="/healthz">/healthz</a> <a href="/api/groups">/api/groups</a> <a href="/api/programs">/api/programs</a></p></body></html>\n');
        }
        return send(404, 'text/plain', 'not found\n');
      } catch (err) {
        onError(err);
        if (!res.headersSent) send(500, 'text/plain', 'internal error\n');
        else res.end();
      }
    })();
  });
}

/** Reads api.token_file; the agent refuses to start on a token file it cannot use. */
export function readToken(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  let token: string;
  try {
    token = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new EnvironmentError(`cannot read api.token_file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (token.length < 16) throw new EnvironmentError(`api.token_file ${file}: the token is shorter than 16 characters; use e.g. openssl rand -hex 32 > ${file}`);
  return token;
}

/** Listens on a unix socket readable by root only; a stale socket file from a dead agent is replaced. */
export async function listenUnix(server: http.Server, socketPath: string): Promise<void> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  if (fs.existsSync(socketPath)) {
    const inUse = await new Promise<boolean>((resolve) => {
      const c = net.connect(socketPath, () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (inUse) throw new EnvironmentError(`another agent is serving ${socketPath}; stop it, or set api.socket to another path`);
    fs.unlinkSync(socketPath);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new EnvironmentError(`cannot listen on ${socketPath}: ${err.code ?? err.message}`)));
    server.listen(socketPath, () => resolve());
  });
  fs.chmodSync(socketPath, 0o600);
}
