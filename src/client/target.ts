/**
 * Where an agent is and how to authenticate to it, resolved once per command: an http(s) URL or
 * the unix socket, and the token read from its file. Every client (the CLI's commands, tail
 * --from, watch()) goes through here, so they accept the same addresses and fail the same way.
 */
import { loadConfig } from '../config/load.js';
import { UsageError } from '../errors.js';
import { readTokenFile } from './token.js';

/** An agent's API: over TCP (http or https) or the unix socket. */
export type AgentTarget = ({ kind: 'tcp'; url: URL } | { kind: 'unix'; socketPath: string }) & {
  /** The address as the user gave it, for messages. */
  label: string;
  token?: string;
};

export const URL_EXPECTED = 'http://HOST:PORT, https://HOST:PORT or unix:/path/to/api.sock';

/** Parses an agent address; `input` names it in the message (e.g. `--url "x"`). */
export function parseAgentUrl(url: string, input = `url ${JSON.stringify(url)}`): AgentTarget {
  if (url.startsWith('unix:')) {
    const socketPath = url.slice(5);
    if (!socketPath.startsWith('/')) throw new UsageError(`${input}: a unix socket needs an absolute path; expected ${URL_EXPECTED}`);
    return { kind: 'unix', socketPath, label: url };
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`${input}: expected ${URL_EXPECTED}`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname === '') throw new UsageError(`${input}: expected ${URL_EXPECTED}`);
  if (u.username !== '' || u.password !== '') throw new UsageError(`${input}: credentials in the URL are not sent; use --token-file`);
  return { kind: 'tcp', url: u, label: url.replace(/\/$/, '') };
}

/** The flags every command that talks to an agent takes. */
export interface TargetArgs {
  url?: string;
  socket?: string;
  'token-file'?: string;
  config?: string;
}

/**
 * Resolves a command's flags: --url, else --socket, else the agent's config (--config, or the
 * embedded default): its unix socket when the command changes state (`via: 'socket'`, root's,
 * no token needed), else its listen address (reads that need no token). The token file is read
 * here, once.
 */
export function resolveTarget(a: TargetArgs, via: 'listen' | 'socket'): AgentTarget {
  let t: AgentTarget;
  if (a.url !== undefined) t = parseAgentUrl(a.url, `--url ${JSON.stringify(a.url)}`);
  else if (a.socket !== undefined) t = parseAgentUrl(`unix:${a.socket}`, `--socket ${JSON.stringify(a.socket)}`);
  else if (via === 'socket') t = { kind: 'unix', socketPath: loadConfig(a.config).api.socket, label: '' };
  else t = parseAgentUrl(listenUrl(loadConfig(a.config).listen));
  if (t.label === '' && t.kind === 'unix') t.label = `unix:${t.socketPath}`;
  if (a['token-file'] !== undefined) t.token = readTokenFile(a['token-file']);
  return t;
}

/** The URL a client on this host uses for a listen address (a wildcard means this host). */
export function listenUrl(listen: { host: string; port: number }): string {
  const h = listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${listen.port}`;
}
