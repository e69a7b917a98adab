/** `forkwatch programs` and `forkwatch start|stop|restart NAME`: the running agent's supervisor. */
import fs from 'node:fs';
import http from 'node:http';
import type { Argv, CommandModule } from 'yargs';
import { loadConfig } from '../config/load.js';
import { EnvironmentError, UsageError } from '../errors.js';
import type { ProgramStatus } from '../supervisor/types.js';
import { humanDuration } from '../tail/format.js';
import { inertJson, inertText } from '../terminal.js';

interface TargetArgs {
  socket?: string;
  url?: string;
  'token-file'?: string;
  config?: string;
}

/** Where the agent's API is: --url (TCP, with a token) or the unix socket (root only). */
function target(a: TargetArgs): { socketPath?: string; url?: URL; token?: string } {
  if (a.url !== undefined) {
    let url: URL;
    try {
      url = new URL(a.url);
    } catch {
      throw new UsageError(`--url "${a.url}": expected an http URL such as http://127.0.0.1:10510`);
    }
    let token: string | undefined;
    if (a['token-file'] !== undefined) {
      try {
        token = fs.readFileSync(a['token-file'], 'utf8').trim();
      } catch (err) {
        throw new UsageError(`--token-file "${a['token-file']}": ${(err as NodeJS.ErrnoException).code}; expected a readable file holding the token`);
      }
    }
    return { url, token };
  }
  return { socketPath: a.socket ?? loadConfig(a.config).api.socket };
}

/** One API call; resolves with the JSON body, rejects with a one-line error. */
export function apiCall<T>(a: TargetArgs, method: 'GET' | 'POST', path: string): Promise<T> {
  const t = target(a);
  const where = t.socketPath ? `unix:${t.socketPath}` : t.url!.origin;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        method,
        path,
        ...(t.socketPath ? { socketPath: t.socketPath } : { host: t.url!.hostname.replace(/^\[|\]$/g, ''), port: t.url!.port || 80 }),
        headers: t.token ? { Authorization: `Bearer ${t.token}` } : {},
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => {
          if (res.statusCode === 200) return resolve(JSON.parse(body) as T);
          const msg = body.trim().replace(/^"|"$/g, '');
          if (res.statusCode === 400 || res.statusCode === 404) reject(new UsageError(msg));
          else reject(new EnvironmentError(`the agent at ${where} answered ${res.statusCode}: ${msg}`));
        });
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(new EnvironmentError(`cannot reach the agent at ${where} (${e.code ?? e.message}); is 'forkwatch run' running? (${t.socketPath ? 'the socket is root-only: use sudo, or --url with --token-file' : '--url points elsewhere'})`)),
    );
    req.end();
  });
}

export function formatPrograms(list: ProgramStatus[], nowS = Date.now() / 1000): string {
  const head = ['PROGRAM', 'STATE', 'PID', 'UPTIME', 'RESTARTS', 'LAST EXIT', 'NEXT RETRY'];
  const rows = list.map((p) => [
    inertText(p.name),
    inertText(p.state),
    p.pid === null ? '-' : String(p.pid),
    p.uptime_s === null ? '-' : humanDuration(p.uptime_s),
    String(p.restarts),
    p.last_exit === null ? '-' : p.last_exit.signal ? `signal ${inertText(p.last_exit.signal)}` : `code ${inertText(p.last_exit.code)}`,
    p.next_retry === null ? '-' : `in ${humanDuration(Math.max(0, p.next_retry - nowS))}`,
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(width[i])).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n' + list.filter((p) => p.error).map((p) => `${inertText(p.name)}: ${inertText(p.error)}\n`).join('');
}

const targetOptions = (y: Argv) =>
  y
    .option('socket', { type: 'string', describe: "the agent's unix socket (default: api.socket of --config, /run/forkwatch/api.sock)" })
    .option('url', { type: 'string', describe: 'the agent over TCP instead (needs --token-file with the control token to change state)' })
    .option('token-file', { type: 'string', describe: "file holding the agent's control token, api.control_token_file (with --url)" })
    .option('config', { type: 'string', describe: "the agent's config file, to find its socket" });

export const programsCommand: CommandModule<object, TargetArgs & { json?: boolean }> = {
  command: 'programs',
  describe: 'Show supervised programs: state, pid, uptime, restarts, last exit, next retry',
  builder: (y: Argv) => targetOptions(y).option('json', { type: 'boolean', describe: 'JSON' }) as Argv<TargetArgs & { json?: boolean }>,
  handler: async (a) => {
    const list = await apiCall<ProgramStatus[]>(a, 'GET', '/api/programs');
    process.stdout.write(a.json ? inertJson(list, 2) + '\n' : formatPrograms(list));
  },
};

function control(action: 'start' | 'stop' | 'restart'): CommandModule<object, TargetArgs & { name: string }> {
  return {
    command: `${action} <name>`,
    describe: `${action[0].toUpperCase()}${action.slice(1)} a supervised program through the running agent`,
    builder: (y: Argv) => targetOptions(y).positional('name', { type: 'string', describe: 'program name' }) as Argv<TargetArgs & { name: string }>,
    handler: async (a) => {
      const p = await apiCall<ProgramStatus>(a, 'POST', `/api/programs/${encodeURIComponent(a.name)}/${action}`);
      process.stdout.write(formatPrograms([p]));
    },
  };
}

export const startCommand = control('start');
export const stopCommand = control('stop');
export const restartCommand = control('restart');
