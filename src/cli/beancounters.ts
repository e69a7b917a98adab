/** `forkwatch beancounters`: the running agent's beancounters, laid out like /proc/user_beancounters. */
import type { Argv, CommandModule } from 'yargs';
import type { BeancounterRow } from '../beancounters/model/ledger.js';
import { requestJson } from '../client/http.js';
import { resolveTarget } from '../client/target.js';
import { inertJson, inertText } from '../terminal.js';
import { targetOptions, type TargetArgs } from './client.js';

export interface BeancountersArgs extends TargetArgs {
  group?: string;
  limited?: boolean;
  json?: boolean;
}

/** Rows of one group (exact name) and/or only those with a barrier or a limit. Pure. */
export function filterRows(rows: BeancounterRow[], opts: { group?: string; limited?: boolean }): BeancounterRow[] {
  return rows.filter((r) => (opts.group === undefined || r.group === opts.group) && (!opts.limited || r.barrier !== null || r.limit !== null));
}

// Counts print as integers, rates and cores with up to three decimals; no threshold is `-`.
function num(v: number | null): string {
  if (v === null) return '-';
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
}

/** The table: one line per (group, resource), the group named on its first line only. Pure. */
export function formatBeancounters(rows: BeancounterRow[]): string {
  const head = ['GROUP', 'RESOURCE', 'HELD', 'MAXHELD', 'BARRIER', 'LIMIT', 'FAILCNT', 'BARRIER_HITS'];
  let last: string | undefined;
  const body = rows.map((r) => {
    const group = r.group === last ? '' : r.group;
    last = r.group;
    return [inertText(group), inertText(r.resource), num(r.held), num(r.maxheld), num(r.barrier), num(r.limit), num(r.failcnt), num(r.barrierHits)];
  });
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < 2 ? c.padEnd(width[i]) : c.padStart(width[i])))
      .join('  ')
      .trimEnd();
  return [line(head), ...body.map(line)].join('\n') + '\n';
}

export const beancountersCommand: CommandModule<object, BeancountersArgs> = {
  command: 'beancounters',
  describe: "Show the running agent's beancounters: held, maxheld, barrier, limit, failcnt per group and resource",
  builder: (y: Argv) =>
    targetOptions(y, 'listen')
      .option('group', { type: 'string', describe: 'only this group (its exact name)' })
      .option('limited', { type: 'boolean', describe: 'only resources with a barrier or a limit' })
      .option('json', { type: 'boolean', describe: 'JSON rows' }),
  handler: async (a) => {
    const rows = filterRows(await requestJson<BeancounterRow[]>(resolveTarget(a, 'listen'), 'GET', '/api/beancounters'), a);
    process.stdout.write(a.json ? inertJson(rows, 2) + '\n' : formatBeancounters(rows));
  },
};
