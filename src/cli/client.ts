/** Talking to a running agent from the CLI. */
import { loadConfig } from '../config/load.js';
import { EnvironmentError, UsageError } from '../errors.js';

/** The agent's base URL: --url, else the listen address of --config, else the default. */
export function agentUrl(url?: string, configPath?: string): string {
  if (url !== undefined) {
    try {
      return new URL(url).toString().replace(/\/$/, '');
    } catch {
      throw new UsageError(`--url "${url}": expected an http URL such as http://127.0.0.1:10510`);
    }
  }
  const { host, port } = loadConfig(configPath).listen;
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

export async function fetchJson<T>(base: string, path: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(base + path);
  } catch (err) {
    // undici puts the socket error in `cause` (an AggregateError when several addresses failed).
    const c = (err as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
    const cause = c?.code ?? c?.errors?.[0]?.code ?? c?.message ?? (err as Error).message;
    throw new EnvironmentError(`cannot reach the agent at ${base} (${cause}); is 'forkwatch run' running? (--url points elsewhere)`);
  }
  if (!res.ok) throw new EnvironmentError(`the agent at ${base} answered ${res.status} for ${path}`);
  return (await res.json()) as T;
}
