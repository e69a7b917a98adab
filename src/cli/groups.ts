/** `forkwatch groups`: the running agent's groups, with rates over a short interval. */
import type { Argv, CommandModule } from 'yargs';
import type { GroupView } from '../agent/agent.js';
import { UsageError } from '../errors.js';
import { inertJson, inertText } from '../terminal.js';
import { requestJson } from '../client/http.js';
import { resolveTarget } from '../client/target.js';
import { targetOptions, type TargetArgs } from './client.js';

export interface GroupsArgs extends TargetArgs {
  sort?: string;
  interval?: string;
  json?: boolean;
}

export interface GroupRow extends GroupView {
  forks_per_s: number;
  cpu_percent: number;
}

export const SORT_KEYS = ['group', 'tasks', 'threads', 'forks_per_s', 'cpu_percent', 'forks', 'execs', 'failures', 'signaled'] as const;

/** Joins two samples of /api/groups taken intervalS apart into rows with rates. Pure. */
export function groupRows(before: GroupView[], after: GroupView[], intervalS: number): GroupRow[] {
  const prev = new Map(before.map((g) => [g.group, g]));
  return after.map((g) => {
    const p = prev.get(g.group);
    return {
      ...g,
      forks_per_s: p ? Math.max(0, g.forks - p.forks) / intervalS : 0,
      cpu_percent: p ? (Math.max(0, g.cpu_seconds - p.cpu_seconds) / intervalS) * 100 : 0,
    };
  });
}

export function sortRows(rows: GroupRow[], key: (typeof SORT_KEYS)[number]): GroupRow[] {
  const val = (r: GroupRow): number | string =>
    key === 'group' ? r.group : key === 'failures' ? r.exits.failure : key === 'signaled' ? r.exits.signaled : r[key];
  return [...rows].sort((a, b) => {
    const x = val(a);
    const y = val(b);
    if (typeof x === 'string') return x.localeCompare(y as string);
    return (y as number) - x || a.group.localeCompare(b.group);
  });
}

export function formatRows(rows: GroupRow[]): string {
  const head = ['GROUP', 'KIND', 'TASKS', 'THREADS', 'FORKS/S', 'CPU%', 'EXIT OK', 'FAILED', 'SIGNALED'];
  const body = rows.map((r) =>
    [r.group, r.kind, r.tasks, r.threads, r.forks_per_s.toFixed(1), r.cpu_percent.toFixed(1), r.exits.success, r.exits.failure, r.exits.signaled].map(
      inertText,
    ),
  );
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(width[i]) : c.padStart(width[i]))).join('  ');
  return [line(head), ...body.map(line)].join('\n') + '\n';
}

export const groupsCommand: CommandModule<object, GroupsArgs> = {
  command: 'groups',
  describe: "Show the running agent's groups: tasks, fork rate, CPU, exits",
  builder: (y: Argv) =>
    targetOptions(y, 'listen')
      .option('sort', { type: 'string', describe: `column to sort by: ${SORT_KEYS.join(', ')}`, default: 'tasks' })
      .option('interval', { type: 'string', describe: 'seconds between the two samples rates come from', default: '1' })
      .option('json', { type: 'boolean', describe: 'JSON rows' }),
  handler: async (a) => {
    const key = a.sort as (typeof SORT_KEYS)[number];
    if (!SORT_KEYS.includes(key)) throw new UsageError(`--sort "${a.sort}": expected one of ${SORT_KEYS.join(', ')}`);
    const interval = Number(a.interval);
    if (!Number.isFinite(interval) || interval <= 0 || interval > 60) throw new UsageError(`--interval "${a.interval}": expected seconds between 0 and 60`);
    const url = resolveTarget(a, 'listen');
    const before = await requestJson<GroupView[]>(url, 'GET', '/api/groups');
    await new Promise((r) => setTimeout(r, interval * 1000));
    const after = await requestJson<GroupView[]>(url, 'GET', '/api/groups');
    const rows = sortRows(groupRows(before, after, interval), key);
    process.stdout.write(a.json ? inertJson(rows, 2) + '\n' : formatRows(rows));
  },
};
