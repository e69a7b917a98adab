/** `forkwatch programs` and `forkwatch start|stop|restart NAME`: the running agent's supervisor. */
import type { Argv, CommandModule } from 'yargs';
import { requestJson } from '../client/http.js';
import { resolveTarget } from '../client/target.js';
import type { ProgramStatus } from '../supervisor/types.js';
import { humanDuration } from '../tail/format.js';
import { inertJson, inertText } from '../terminal.js';
import { targetOptions, type TargetArgs } from './client.js';

/** One call to the running agent's supervisor, by default through its unix socket. */
export function apiCall<T>(a: TargetArgs, method: 'GET' | 'POST', path: string): Promise<T> {
  return requestJson<T>(resolveTarget(a, 'socket'), method, path);
}

export function formatPrograms(list: ProgramStatus[], nowS = Date.now() / 1000): string {
  const head = ['PROGRAM', 'STATE', 'HEALTH', 'PID', 'UPTIME', 'RESTARTS', 'LAST EXIT', 'NEXT RETRY'];
  const rows = list.map((p) => [
    inertText(p.name),
    inertText(p.state),
    p.health === null || p.health === undefined ? '-' : inertText(p.health),
    p.pid === null ? '-' : String(p.pid),
    p.uptime_s === null ? '-' : humanDuration(p.uptime_s),
    String(p.restarts),
    p.last_exit === null ? '-' : lastExit(p.last_exit),
    p.next_retry === null ? '-' : `in ${humanDuration(Math.max(0, p.next_retry - nowS))}`,
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (c: string[]) =>
    c
      .map((x, i) => x.padEnd(width[i]))
      .join('  ')
      .trimEnd();
  return (
    [line(head), ...rows.map(line)].join('\n') +
    '\n' +
    list
      .filter((p) => p.error)
      .map((p) => `${inertText(p.name)}: ${inertText(p.error)}\n`)
      .join('')
  );
}

function lastExit(e: NonNullable<ProgramStatus['last_exit']>): string {
  const how = e.signal ? `signal ${inertText(e.signal)}` : `code ${inertText(e.code)}`;
  return e.unhealthy ? `${how} (unhealthy)` : how;
}

export const programsCommand: CommandModule<object, TargetArgs & { json?: boolean }> = {
  command: 'programs',
  describe: 'Show supervised programs: state, health, pid, uptime, restarts, last exit, next retry',
  builder: (y: Argv) => targetOptions(y, 'socket').option('json', { type: 'boolean', describe: 'JSON' }),
  handler: async (a) => {
    const list = await apiCall<ProgramStatus[]>(a, 'GET', '/api/programs');
    process.stdout.write(a.json ? inertJson(list, 2) + '\n' : formatPrograms(list));
  },
};

function control(action: 'start' | 'stop' | 'restart'): CommandModule<object, TargetArgs & { name: string }> {
  return {
    command: `${action} <name>`,
    describe: `${action[0].toUpperCase()}${action.slice(1)} a supervised program through the running agent`,
    builder: (y: Argv) => targetOptions(y, 'socket').positional('name', { type: 'string', describe: 'program name' }) as Argv<TargetArgs & { name: string }>,
    handler: async (a) => {
      const p = await apiCall<ProgramStatus>(a, 'POST', `/api/programs/${encodeURIComponent(a.name)}/${action}`);
      process.stdout.write(formatPrograms([p]));
    },
  };
}

export const startCommand = control('start');
export const stopCommand = control('stop');
export const restartCommand = control('restart');
