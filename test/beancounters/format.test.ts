/** `forkwatch beancounters` output, from rows (the command itself is run for real in agent.test.ts). */
import { describe, expect, it } from 'vitest';
import type { BeancounterRow } from '../../src/beancounters/model/ledger.js';
import { filterRows, formatBeancounters } from '../../src/cli/beancounters.js';

const row = (group: string, resource: BeancounterRow['resource'], r: Partial<BeancounterRow> = {}): BeancounterRow => ({
  group,
  resource,
  held: 0,
  maxheld: 0,
  minheld: 0,
  barrier: null,
  limit: null,
  barrierHits: 0,
  failcnt: 0,
  ...r,
});

const rows = [
  row('build', 'tasks', { held: 31, maxheld: 51, barrier: 20, limit: 40, barrierHits: 3, failcnt: 1 }),
  row('build', 'threads', { held: 31, maxheld: 51 }),
  row('build', 'cpu_cores', { held: 1.23456, maxheld: 2, barrier: 0.5 }),
  row('nginx.service', 'tasks', { held: 3, maxheld: 3 }),
  row('nginx.service', 'threads', { held: 9, maxheld: 12 }),
  row('nginx.service', 'memory_bytes', { held: 104857600, maxheld: 209715200, limit: 268435456, failcnt: 12 }),
];

describe('forkwatch beancounters table', () => {
  it('lays rows out like /proc/user_beancounters, the group named once, - for no threshold', () => {
    expect(formatBeancounters(rows)).toBe(
      [
        'GROUP          RESOURCE           HELD    MAXHELD  BARRIER      LIMIT  FAILCNT  BARRIER_HITS',
        'build          tasks                31         51       20         40        1             3',
        '               threads              31         51        -          -        0             0',
        '               cpu_cores         1.235          2      0.5          -        0             0',
        'nginx.service  tasks                 3          3        -          -        0             0',
        '               threads               9         12        -          -        0             0',
        '               memory_bytes  104857600  209715200        -  268435456       12             0',
        '',
      ].join('\n'),
    );
  });

  it('filters by group and to the resources with thresholds', () => {
    expect(filterRows(rows, { group: 'build' }).map((r) => r.resource)).toEqual(['tasks', 'threads', 'cpu_cores']);
    expect(filterRows(rows, { limited: true }).map((r) => `${r.group}/${r.resource}`)).toEqual([
      'build/tasks',
      'build/cpu_cores',
      'nginx.service/memory_bytes',
    ]);
    expect(filterRows(rows, { group: 'nope' })).toEqual([]);
  });

  it('prints only the header for no rows', () => {
    expect(formatBeancounters([])).toBe('GROUP  RESOURCE  HELD  MAXHELD  BARRIER  LIMIT  FAILCNT  BARRIER_HITS\n');
  });
});
