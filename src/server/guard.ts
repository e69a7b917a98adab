/**
 * What keeps a client from holding or crashing the HTTP servers: timeouts for slow requests
 * (slowloris), a header size cap, a cap on open connections (answered 503 beyond it), and an
 * answer (400, 408, 431) to every request the parser refuses, never a silent close.
 */
import type http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';

export interface ServerLimits {
  /** Time to receive a request's headers. */
  headersTimeoutMs: number;
  /** Time to receive a whole request. */
  requestTimeoutMs: number;
  /** An idle kept-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** How often Node checks the two timeouts above (its default, 30 s, lets a slow client stay long past them). */
  checkIntervalMs: number;
  maxHeaderBytes: number;
  maxConnections: number;
}

export const SERVER_LIMITS: ServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  keepAliveTimeoutMs: 5_000,
  checkIntervalMs: 1_000,
  maxHeaderBytes: 8 * 1024,
  maxConnections: 256,
};

/** Options for http.createServer. */
export function serverOptions(l: ServerLimits): http.ServerOptions {
  return {
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    connectionsCheckingInterval: l.checkIntervalMs,
    maxHeaderSize: l.maxHeaderBytes,
  };
}

function reply(status: number, text: string, extra = ''): string {
  const body = text + '\n';
  return `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

const BUSY = reply(503, 'Service Unavailable', 'Retry-After: 1\r\n');

function answerFor(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return reply(431, 'Request Header Fields Too Large');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return reply(408, 'Request Timeout');
    default:
      return reply(400, 'Bad Request');
  }
}

/**
 * Caps connections and answers parser errors. A parse error after pipelined requests waits for
 * their responses, so the 4xx follows them instead of cutting into one.
 */
export function guardServer(server: http.Server, limits: ServerLimits): void {
  const open = new Set<net.Socket>();
  const refused = new WeakSet<Duplex>();
  const inFlight = new WeakMap<Duplex, number>();
  const afterResponses = new WeakMap<Duplex, () => void>();

  server.prependListener('connection', (sock: net.Socket) => {
    if (open.size >= limits.maxConnections) {
      refused.add(sock);
      sock.on('error', () => sock.destroy());
      sock.end(BUSY);
      setTimeout(() => sock.destroy(), 1000).unref();
      return;
    }
    open.add(sock);
    sock.once('close', () => open.delete(sock));
  });

  server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const sock = req.socket;
    inFlight.set(sock, (inFlight.get(sock) ?? 0) + 1);
    res.once('close', () => {
      const n = (inFlight.get(sock) ?? 1) - 1;
      inFlight.set(sock, n);
      if (n === 0) afterResponses.get(sock)?.();
    });
  });

  // Without a listener Node closes a CONNECT's socket without a word.
  server.on('connect', (_req: http.IncomingMessage, sock: Duplex) => {
    sock.on('error', () => sock.destroy());
    sock.end(reply(405, 'Method Not Allowed', 'Allow: GET, HEAD, POST\r\n'));
  });

  server.on('clientError', (err: NodeJS.ErrnoException, sock: Duplex) => {
    if (refused.has(sock) || err.code === 'ECONNRESET' || !sock.writable) {
      sock.destroy();
      return;
    }
    const answer = () => {
      if (sock.writable) sock.end(answerFor(err));
      setTimeout(() => sock.destroy(), 1000).unref();
    };
    if ((inFlight.get(sock) ?? 0) > 0) afterResponses.set(sock, answer);
    else answer();
  });
}
