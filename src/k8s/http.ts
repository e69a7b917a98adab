/**
 * The HTTP side of talking to Kubernetes: a GET of JSON and a watch stream, over http or https,
 * with the service account's bearer token (and CA) read again for each request: tokens rotate.
 *
 * The answers are input: a body past its size bound, a watch line past its bound, a body or line
 * that is not JSON, a stream that goes quiet past its deadline all end the request with a
 * one-line error, naming the request.
 */
import http from 'node:http';
import https from 'node:https';
import { readKeyFile } from '../host/key-file.js';

/** An API error with the HTTP status when there was one (410: the resourceVersion is gone). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** A watch stream that sent what cannot be an event (not JSON, past the line bound): events may be lost. */
export class StreamError extends ApiError {
  override name = 'StreamError';
}

export interface ApiClientOptions {
  /** The server and any path prefix (`https://kubernetes.default.svc`): request paths are appended. */
  base: string;
  tokenFile?: string;
  caFile?: string;
  /** Until the answer's headers, and between two chunks of a list (ms). */
  timeoutMs?: number;
  /** A list's or object's body at most. */
  maxBodyBytes?: number;
  /** One watch event at most (an object is at most 1.5 MiB in etcd by default). */
  maxLineBytes?: number;
}

/** A watch in progress: `done` settles when the stream ends (resolved: the server ended it). */
export interface WatchStream {
  done: Promise<void>;
  close(): void;
}

const MiB = 1024 * 1024;

export class ApiClient {
  /** Requests in flight, ended by close(). */
  private readonly open = new Set<http.ClientRequest>();
  private closed = false;

  constructor(private readonly o: ApiClientOptions) {}

  /** Ends every request in flight (and refuses new ones), so that stopping never waits on the network. */
  close(): void {
    this.closed = true;
    for (const req of this.open) req.destroy(new ApiError('closed'));
  }

  /** GET `path` (with its query) as JSON. */
  getJson(path: string): Promise<unknown> {
    const max = this.o.maxBodyBytes ?? 64 * MiB;
    return new Promise((resolve, reject) => {
      this.request(path, this.o.timeoutMs ?? 10_000, reject, (res, what) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size > max) return res.destroy(new ApiError(`${what}: the answer is over ${max} bytes`));
          chunks.push(d);
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(new ApiError(`${what}: HTTP ${res.statusCode} ${oneLine(body)}`, res.statusCode));
          try {
            resolve(JSON.parse(body));
          } catch {
            reject(new ApiError(`${what}: the answer is not JSON`));
          }
        });
      });
    });
  }

  /**
   * A watch: GET `path` and hand each line's JSON to `onEvent`. A line that is not JSON, one past
   * maxLineBytes, or `idleMs` without a byte end it with an error; so does onEvent's throw.
   */
  watch(path: string, idleMs: number, onEvent: (event: unknown) => void): WatchStream {
    const max = this.o.maxLineBytes ?? 16 * MiB;
    let req: http.ClientRequest | undefined;
    const done = new Promise<void>((resolve, reject) => {
      req = this.request(path, idleMs, reject, (res, what) => {
        if (res.statusCode !== 200) {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body = (body + d).slice(0, 4096)));
          res.on('end', () => reject(new ApiError(`${what}: HTTP ${res.statusCode} ${oneLine(body)}`, res.statusCode)));
          return;
        }
        let pending: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          let start = 0;
          for (let nl = d.indexOf(10); nl >= 0; start = nl + 1, nl = d.indexOf(10, start)) {
            pending.push(d.subarray(start, nl));
            const line = Buffer.concat(pending).toString('utf8').trim();
            pending = [];
            size = 0;
            if (line === '') continue;
            let event: unknown;
            try {
              event = JSON.parse(line);
            } catch {
              return res.destroy(new StreamError(`${what}: a watch event that is not JSON: ${oneLine(line)}`));
            }
            try {
              onEvent(event);
            } catch (err) {
              return res.destroy(err as Error);
            }
          }
          size += d.length - start;
          if (size > max) return res.destroy(new StreamError(`${what}: a watch event over ${max} bytes`));
          if (start < d.length) pending.push(d.subarray(start));
        });
        res.on('end', () => resolve());
      });
    });
    return { done, close: () => req?.destroy() };
  }

  /** One request; `onResponse` gets the answer; errors (and `idleMs` of silence) reject with the request named. */
  private request(
    path: string,
    idleMs: number,
    reject: (err: Error) => void,
    onResponse: (res: http.IncomingMessage, what: string) => void,
  ): http.ClientRequest | undefined {
    const url = new URL(this.o.base.replace(/\/+$/, '') + path);
    const what = `GET ${url.origin}${url.pathname}`;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.closed) {
      reject(new ApiError('closed'));
      return undefined;
    }
    let ca: string | undefined;
    for (const [key, file] of [
      ['token_file', this.o.tokenFile],
      ['ca_file', this.o.caFile],
    ] as const) {
      if (file === undefined) continue;
      try {
        const text = readKeyFile(file, `kubernetes.${key}`);
        if (key === 'token_file') headers.Authorization = `Bearer ${text.trim()}`;
        else ca = text;
      } catch (err) {
        reject(new ApiError((err as Error).message));
        return undefined;
      }
    }
    const get = url.protocol === 'https:' ? https.get : http.get;
    const req = get(url, { headers, ca, timeout: idleMs }, (res) => {
      // Ended by us (a bound, a bad line, onEvent's throw): that error as it is.
      res.on('error', (err) => reject(err instanceof ApiError ? err : new ApiError(`${what}: ${err.message}`)));
      onResponse(res, what);
    });
    // `timeout` is the socket's idle time: no answer, or a stream that went quiet.
    req.on('timeout', () => req.destroy(new ApiError(`${what}: nothing for ${idleMs / 1000}s`)));
    // A system error names the request; an error the stream was ended with (ours) passes as it is.
    req.on('error', (err: NodeJS.ErrnoException) => reject(typeof err.code === 'string' ? new ApiError(`${what}: ${err.code}`) : err));
    req.on('close', () => {
      this.open.delete(req);
      reject(new ApiError(`${what}: the connection was closed`));
    });
    this.open.add(req);
    return req;
  }
}

/** The first 200 characters of a body, on one line and printable. */
function oneLine(body: string): string {
  return body
    .slice(0, 200)
    .replace(/\p{Cc}+/gu, ' ')
    .trim();
}
