/** One JSON call to an agent's API, over TCP or its unix socket, with one default timeout. */
import http from 'node:http';
import https from 'node:https';
import { DEFAULTS } from '../config/default.js';
import { EnvironmentError, UsageError } from '../errors.js';
import type { AgentTarget } from './target.js';

/** Node request options for a path of the agent's API (shared with the event watch). */
export function requestOptions(t: AgentTarget, path: string, headers: Record<string, string> = {}): http.RequestOptions {
  const auth: Record<string, string> = t.token ? { Authorization: `Bearer ${t.token}` } : {};
  if (t.kind === 'unix') return { socketPath: t.socketPath, path, headers: { ...headers, ...auth } };
  const tls = t.url.protocol === 'https:';
  return {
    host: t.url.hostname.replace(/^\[|\]$/g, ''),
    port: t.url.port || (tls ? 443 : 80),
    path: `${t.url.pathname.replace(/\/$/, '')}${path}`,
    headers: { ...headers, ...auth },
  };
}

/** http or https, as the target needs. */
export function transport(t: AgentTarget): typeof http | typeof https {
  return t.kind === 'tcp' && t.url.protocol === 'https:' ? https : http;
}

/** Bodies past this are not an answer of the agent's API. */
const MAX_BODY = 64 * 2 ** 20;

/**
 * Calls the agent; resolves with the JSON body of a 200. Rejects with one line: a UsageError for
 * what the user can fix (400, 404: a bad name or filter), an EnvironmentError for an agent that
 * cannot be reached, refuses (401, 403) or fails, or does not answer within the timeout.
 */
export function requestJson<T>(t: AgentTarget, method: 'GET' | 'POST', path: string, opts: { timeoutS?: number } = {}): Promise<T> {
  const timeoutS = opts.timeoutS ?? DEFAULTS.client.timeout_s;
  const where = t.label;
  return new Promise((resolve, reject) => {
    const req = transport(t).request({ ...requestOptions(t, path, { Accept: 'application/json' }), method, timeout: timeoutS * 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => {
        body += d;
        if (body.length > MAX_BODY) req.destroy(new Error(`an answer of more than ${MAX_BODY} bytes`));
      });
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status === 200) {
          try {
            return resolve(JSON.parse(body) as T);
          } catch {
            return reject(new EnvironmentError(`the agent at ${where} answered ${path} with something that is not JSON; is ${where} a forkwatch agent?`));
          }
        }
        const msg = body.trim().replace(/^"|"$/g, '').split('\n')[0].slice(0, 500);
        if (status === 400 || status === 404) reject(new UsageError(msg));
        else reject(new EnvironmentError(`the agent at ${where} answered ${status} for ${path}${msg ? `: ${msg}` : ''}`));
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutS} s`), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => {
      const hint = t.kind === 'unix' ? 'the socket is root-only: use sudo, or --url with --token-file' : '--url points elsewhere';
      reject(new EnvironmentError(`cannot reach the agent at ${where} (${e.code ?? e.message}); is 'forkwatch run' running? (${hint})`));
    });
    req.end();
  });
}
