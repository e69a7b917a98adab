/**
 * The agent's HTTP API, served twice: on TCP (for Prometheus and people) and on a root-only unix
 * socket (everything). On TCP, the event stream needs a bearer token (api.token_file, the read
 * token, or the control one), and anything that changes state needs the control token
 * (api.control_token_file); without the token file, that part is refused on TCP.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { EnvironmentError, UsageError } from '../errors.js';
import { readKeyFile } from '../host/key-file.js';
import { serveEvents, type EventsDeps } from './events.js';
import { guardServer, SERVER_LIMITS, serverOptions, type ServerLimits } from './guard.js';
import { acceptsGzip, wantsOpenMetrics } from './http.js';
import { decodeSegment, parseTarget } from './target.js';

export interface ApiHandlers {
  metrics(openMetrics: boolean): Promise<{ body: string; contentType: string }>;
  health(): { ok: boolean; detail: Record<string, unknown> };
  /** GET /api/<name> -> JSON. */
  get: Record<string, () => unknown>;
  events: EventsDeps;
  /** POST /api/programs/<name>/<start|stop|restart>. */
  control(action: 'start' | 'stop' | 'restart', name: string): Promise<unknown>;
}

/** Who may do what; the tokens may change (SIGHUP reads the files again). */
export interface AccessPolicy {
  /** The unix socket: its file mode is the access control. */
  trusted: boolean;
  /** Reads the event stream. */
  readToken?: string;
  /** Controls programs, and reads. */
  controlToken?: string;
}

function tokenOk(req: http.IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return false;
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]);
  const b = Buffer.from(token);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

// In the thread pool: compressing megabytes must not hold the event loop (and the ring's reader) up.
const gzip = promisify(zlib.gzip);

const HOME =
  '<html><body><h1>forkwatch</h1><p><a href="/metrics">/metrics</a> <a href="/healthz">/healthz</a> <a href="/api/groups">/api/groups</a> <a href="/api/programs">/api/programs</a></p></body></html>\n';

export function createApiServer(h: ApiHandlers, policy: AccessPolicy, onError: (err: unknown) => void, limits: ServerLimits = SERVER_LIMITS): http.Server {
  const server = http.createServer(serverOptions(limits), (req, res) => {
    // A connection over the cap was answered 503 already.
    if (req.socket.writableEnded || req.socket.destroyed) return;
    const send = (status: number, contentType: string, body: string | Buffer, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': contentType, ...headers });
      res.end(body);
    };
    const text = (status: number, body: string, headers: Record<string, string> = {}) => send(status, 'text/plain', body + '\n', headers);
    const json = (status: number, body: unknown) => send(status, 'application/json', JSON.stringify(body) + '\n');
    /** Stream (read) and control need the socket, or their token on TCP. Says why not, nothing more. */
    const allowed = (need: 'read' | 'control'): boolean => {
      if (policy.trusted) return true;
      const { readToken, controlToken } = policy;
      if (need === 'control' ? !controlToken : !readToken && !controlToken) {
        const file = need === 'control' ? 'api.control_token_file' : 'api.token_file';
        text(403, `this needs the agent's unix socket, or ${file} set and its token sent as a bearer token`);
        return false;
      }
      if (tokenOk(req, controlToken) || (need === 'read' && tokenOk(req, readToken))) return true;
      if (need === 'control' && tokenOk(req, readToken)) {
        text(403, 'the read token (api.token_file) cannot control programs; send the control token (api.control_token_file)');
        return false;
      }
      text(401, 'a valid bearer token is required', { 'WWW-Authenticate': 'Bearer realm="forkwatch"' });
      return false;
    };
    const target = parseTarget(req.url);
    if (!target) return text(400, 'the request target must be a path starting with /');
    const { pathname } = target;
    void (async () => {
      try {
        if (req.method === 'POST') {
          const m = /^\/api\/programs\/([^/]+)\/(start|stop|restart)$/.exec(pathname);
          if (!m) return text(404, 'not found');
          const name = decodeSegment(m[1]);
          if (name === undefined) return text(400, 'the program name is not valid percent-encoding');
          if (!allowed('control')) return;
          try {
            return json(200, await h.control(m[2] as 'start' | 'stop' | 'restart', name));
          } catch (err) {
            if (err instanceof UsageError) return text(404, err.message);
            throw err;
          }
        }
        if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'GET or POST', { Allow: 'GET, HEAD, POST' });
        if (pathname === '/metrics') {
          const m = await h.metrics(wantsOpenMetrics(req.headers.accept));
          if (!acceptsGzip(req.headers['accept-encoding'])) return send(200, m.contentType, m.body, { Vary: 'Accept-Encoding' });
          const body = await gzip(m.body, { level: 1 });
          res.writeHead(200, { 'Content-Type': m.contentType, 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' });
          return res.end(body);
        }
        if (pathname === '/healthz') {
          const r = h.health();
          return json(r.ok ? 200 : 503, { status: r.ok ? 'ok' : 'unhealthy', ...r.detail });
        }
        if (pathname === '/events') {
          if (!allowed('read')) return;
          return serveEvents(req, res, target.query, h.events);
        }
        // Own names only: `constructor`, `toString`, `__proto__` come from Object.prototype.
        const api = /^\/api\/([a-z]+)$/.exec(pathname);
        if (api && Object.hasOwn(h.get, api[1])) return json(200, h.get[api[1]]());
        if (pathname === '/') return send(200, 'text/html', HOME);
        return text(404, 'not found');
      } catch (err) {
        onError(err);
        if (!res.headersSent) text(500, 'internal error');
        else res.end();
      }
    })();
  });
  guardServer(server, limits);
  return server;
}

/** Reads a token file; the agent refuses to start (or a reload) on a token file it cannot use. */
export function readToken(file: string | undefined, key = 'api.token_file'): string | undefined {
  if (file === undefined) return undefined;
  const token = readKeyFile(file, key).trim();
  const quoted = JSON.stringify(file);
  if (token.length < 16) throw new EnvironmentError(`${key} ${quoted}: the token is shorter than 16 characters; use e.g. openssl rand -hex 32 > ${quoted}`);
  // A request's Authorization header is one line of visible characters: such a token never matches.
  if (!/^[\x21-\x7e]+$/.test(token))
    throw new EnvironmentError(`${key} ${quoted}: the token holds white space, a line break or a control character; expected one line of visible characters`);
  return token;
}

/** Both TCP tokens; the same token in both files would let a reader control. */
export function readTokens(api: { token_file?: string; control_token_file?: string }): Pick<AccessPolicy, 'readToken' | 'controlToken'> {
  const read = readToken(api.token_file, 'api.token_file');
  const control = readToken(api.control_token_file, 'api.control_token_file');
  if (read !== undefined && read === control) {
    throw new EnvironmentError(
      `api.token_file and api.control_token_file hold the same token, so a reader could control; give the control token its own value`,
    );
  }
  return { readToken: read, controlToken: control };
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
