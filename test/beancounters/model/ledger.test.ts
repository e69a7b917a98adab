import { describe, expect, it } from 'vitest';
import type { Action, ResourceLimits, ResourceSpec } from '../../../src/config/types.js';
import { GroupLedger, hookEvent, type LedgerCrossing } from '../../../src/beancounters/model/ledger.js';

const spec = (s: Partial<ResourceSpec>): ResourceSpec => ({ on_barrier: [], on_limit: [], ...s });
const hook: Action = { kind: 'exec', command: ['/bin/true'], timeout_s: 5 };
const short = (cs: readonly LedgerCrossing[]) => cs.map((c) => `${c.group}/${c.resource} ${c.kind}:${c.direction} [${c.actions.map((a) => a.kind).join(',')}]`);

const defaults: ResourceLimits = {
  tasks: spec({ barrier: 100, limit: 200, on_barrier: [hook], on_limit: [{ kind: 'kill' }] }),
  memory_bytes: spec({ limit: 1e9 }),
};

describe('GroupLedger: which beancounters exist', () => {
  const cases: Array<{ name: string; defaults: ResourceLimits; own?: ResourceLimits; resources: string[] }> = [
    { name: 'no limits anywhere: tasks and threads only', defaults: {}, resources: ['tasks', 'threads'] },
    { name: 'defaults add their limited resources', defaults, resources: ['tasks', 'threads', 'memory_bytes'] },
    {
      name: 'a group adds its own',
      defaults,
      own: { cpu_cores: spec({ barrier: 2 }) },
      resources: ['tasks', 'threads', 'cpu_cores', 'memory_bytes'],
    },
    {
      name: 'a group spec without thresholds replaces the default and untracks it',
      defaults,
      own: { memory_bytes: spec({}) },
      resources: ['tasks', 'threads'],
    },
    {
      name: 'a spec with actions but no threshold does not count',
      defaults: { forks_per_second: spec({ on_barrier: [hook] }) },
      resources: ['tasks', 'threads'],
    },
  ];

  it.each(cases)('$name', (tc) => {
    const ledger = new GroupLedger({ defaults: tc.defaults, clock: () => 0 });
    if (tc.own) ledger.configure('web', tc.own);
    else ledger.observe('web', 'tasks', 0, 0);
    expect(ledger.rows(0).map((r) => r.resource)).toEqual(tc.resources);
  });

  it('ignores readings of untracked resources', () => {
    const ledger = new GroupLedger({ clock: () => 0 });
    expect(ledger.observe('web', 'memory_bytes', 5e9, 1)).toEqual([]);
    expect(ledger.addKernelFailures('web', 'memory_bytes', 3, '/web')).toBe(0);
    expect(ledger.rows(1).map((r) => r.resource)).toEqual(['tasks', 'threads']);
  });
});

describe('GroupLedger: defaults and per-group overrides', () => {
  it('applies a group rule per resource and the defaults to the rest', () => {
    const ledger = new GroupLedger({ defaults, clock: () => 0 });
    ledger.configure('db', { tasks: spec({ barrier: 10, limit: 20 }) });
    ledger.observe('web', 'tasks', 0, 0);
    const rows = ledger.rows(0);
    const get = (g: string, r: string) => rows.find((x) => x.group === g && x.resource === r);
    expect(get('db', 'tasks')).toMatchObject({ barrier: 10, limit: 20 });
    expect(get('db', 'memory_bytes')).toMatchObject({ barrier: null, limit: 1e9 });
    expect(get('web', 'tasks')).toMatchObject({ barrier: 100, limit: 200 });
    expect(get('web', 'threads')).toMatchObject({ barrier: null, limit: null });
  });

  it('shows a configured group before it acts, zeroed', () => {
    const ledger = new GroupLedger({ clock: () => 0 });
    ledger.configure('db', {});
    expect(ledger.rows(0)[0]).toEqual({
      group: 'db',
      resource: 'tasks',
      held: 0,
      maxheld: 0,
      minheld: 0,
      barrier: null,
      limit: null,
      barrierHits: 0,
      failcnt: 0,
    });
  });

  it('sorts rows by group, then resource order', () => {
    const ledger = new GroupLedger({ defaults, clock: () => 0 });
    for (const g of ['b', 'c', 'a']) ledger.observe(g, 'tasks', 1, 0);
    expect(ledger.rows(0).map((r) => `${r.group}/${r.resource}`)).toEqual([
      'a/tasks',
      'a/threads',
      'a/memory_bytes',
      'b/tasks',
      'b/threads',
      'b/memory_bytes',
      'c/tasks',
      'c/threads',
      'c/memory_bytes',
    ]);
  });
});

describe('GroupLedger: crossings and their actions', () => {
  it('plans event first, then the configured actions; release runs hooks again', () => {
    const ledger = new GroupLedger({ defaults, clock: () => 0 });
    const seen: string[] = [];
    for (const [t, held] of [
      [1, 50],
      [2, 150],
      [3, 250],
      [4, 180],
      [5, 90],
    ] as const)
      seen.push(...short(ledger.observe('web', 'tasks', held, t)));
    expect(seen).toEqual([
      'web/tasks barrier:up [event,exec]',
      'web/tasks limit:up [event,kill]',
      'web/tasks limit:down [event]',
      'web/tasks barrier:down [event,exec]',
    ]);
    // With kill, failcnt counts the kills the caller reports, not the held past the limit.
    expect(ledger.rows(6)[0]).toMatchObject({ held: 90, maxheld: 250, minheld: 50, barrierHits: 1, failcnt: 0 });
    ledger.addRefusals('web', 'tasks', 3);
    expect(ledger.rows(6)[0]?.failcnt).toBe(3);
  });

  it('does not repeat an event action the user wrote', () => {
    const ledger = new GroupLedger({ defaults: { threads: spec({ limit: 1, on_limit: [{ kind: 'event' }, hook] }) }, clock: () => 0 });
    expect(short(ledger.observe('g', 'threads', 2, 1))).toEqual(['g/threads limit:up [event,exec]']);
  });

  it('carries what a hook needs', () => {
    const ledger = new GroupLedger({ defaults, clock: () => 0 });
    const [c] = ledger.observe('web', 'tasks', 150, 1);
    expect(c).toMatchObject({ group: 'web', resource: 'tasks', held: 150, barrier: 100, limit: 200 });
    expect(hookEvent(c)).toBe('barrier');
    expect(hookEvent({ kind: 'limit', direction: 'down' })).toBe('release');
  });

  // Freeze on the limit is thawed when held falls back to the barrier, not just under the limit.
  const freezeCases: Array<{ name: string; spec: ResourceSpec; held: number[]; expected: string[] }> = [
    {
      name: 'freeze at the limit, thaw at the barrier',
      spec: spec({ barrier: 10, limit: 20, on_limit: [{ kind: 'freeze' }] }),
      held: [25, 15, 5],
      expected: ['barrier:up [event]', 'limit:up [event,freeze]', 'limit:down [event]', 'barrier:down [event,thaw]'],
    },
    {
      name: 'no barrier: thaw under the limit',
      spec: spec({ limit: 20, on_limit: [{ kind: 'freeze' }] }),
      held: [25, 15],
      expected: ['limit:up [event,freeze]', 'limit:down [event,thaw]'],
    },
    {
      name: 'no thaw for a barrier excursion that never froze',
      spec: spec({ barrier: 10, limit: 20, on_limit: [{ kind: 'freeze' }] }),
      held: [15, 5],
      expected: ['barrier:up [event]', 'barrier:down [event]'],
    },
    {
      name: 'freeze at the barrier thaws at the barrier',
      spec: spec({ barrier: 10, on_barrier: [{ kind: 'freeze' }] }),
      held: [11, 10, 11],
      expected: ['barrier:up [event,freeze]', 'barrier:down [event,thaw]', 'barrier:up [event,freeze]'],
    },
  ];
  it.each(freezeCases)('$name', (tc) => {
    const ledger = new GroupLedger({ defaults: { memory_bytes: tc.spec }, clock: () => 0 });
    const seen = tc.held.flatMap((h, i) => short(ledger.observe('g', 'memory_bytes', h, i)).map((s) => s.replace('g/memory_bytes ', '')));
    expect(seen).toEqual(tc.expected);
  });
});

describe('GroupLedger: reload', () => {
  it('keeps counters and judges held against the new limits', () => {
    const ledger = new GroupLedger({ defaults, clock: () => 0 });
    ledger.observe('web', 'tasks', 150, 1);
    ledger.observe('web', 'tasks', 50, 2);
    ledger.observe('web', 'tasks', 120, 3);
    expect(short(ledger.configure('web', { tasks: spec({ barrier: 100, limit: 110, on_limit: [{ kind: 'kill' }] }) }))).toEqual([
      'web/tasks limit:up [event,kill]',
    ]);
    // The new spec kills: failcnt will count the kills (none reported here).
    expect(ledger.rows(4)[0]).toMatchObject({ held: 120, maxheld: 150, minheld: 50, barrier: 100, limit: 110, barrierHits: 2, failcnt: 0 });
  });

  it('releases and drops a resource whose thresholds are gone, thawing it', () => {
    const frozen: ResourceLimits = { memory_bytes: spec({ limit: 100, on_limit: [{ kind: 'freeze' }] }) };
    const ledger = new GroupLedger({ defaults: frozen, clock: () => 0 });
    ledger.observe('g', 'memory_bytes', 150, 1);
    expect(short(ledger.setDefaults({}))).toEqual(['g/memory_bytes limit:down [event,thaw]']);
    expect(ledger.rows(2).map((r) => r.resource)).toEqual(['tasks', 'threads']);
    // Configured again later, it starts afresh.
    ledger.setDefaults(frozen);
    expect(ledger.rows(3).find((r) => r.resource === 'memory_bytes')).toMatchObject({ held: 0, failcnt: 0 });
  });

  it('updates every group when the defaults change, except where a rule overrides', () => {
    const ledger = new GroupLedger({ defaults, clock: () => 0 });
    ledger.configure('db', { tasks: spec({ limit: 1000 }) });
    ledger.observe('db', 'tasks', 300, 1);
    ledger.observe('web', 'tasks', 300, 1);
    expect(short(ledger.setDefaults({ tasks: spec({ barrier: 400, limit: 500, on_barrier: [hook] }) }))).toEqual([
      'web/tasks limit:down [event]',
      'web/tasks barrier:down [event,exec]',
    ]);
  });
});

describe('GroupLedger: rates, periods, kernel failures, forget', () => {
  it('computes forks_per_second per fork and lets it fall on tick', () => {
    const ledger = new GroupLedger({
      defaults: { forks_per_second: spec({ barrier: 50, on_barrier: [hook] }) },
      clock: () => 0,
    });
    const seen: string[] = [];
    for (let i = 0; i < 60; i++) seen.push(...short(ledger.recordForks('build', i * 5)));
    expect(seen).toEqual(['build/forks_per_second barrier:up [event,exec]']);
    expect(ledger.rows(300).find((r) => r.resource === 'forks_per_second')).toMatchObject({ held: 60, barrierHits: 1 });
    expect(short(ledger.tick(500))).toEqual([]);
    expect(short(ledger.tick(2000))).toEqual(['build/forks_per_second barrier:down [event,exec]']);
    expect(ledger.rows(2000).find((r) => r.resource === 'forks_per_second')?.held).toBe(0);
  });

  it('does not keep a fork rate for a group without one configured', () => {
    const ledger = new GroupLedger({ clock: () => 0 });
    expect(ledger.recordForks('web', 1)).toEqual([]);
    expect(ledger.tick(2)).toEqual([]);
  });

  it('computes cpu_cores from cumulative seconds', () => {
    const ledger = new GroupLedger({ defaults: { cpu_cores: spec({ limit: 1.5 }) }, cpu_window_ms: 2000, clock: () => 0 });
    expect(ledger.recordCpu('g', 10, 0)).toEqual([]);
    expect(ledger.recordCpu('g', 11, 1000)).toEqual([]);
    expect(short(ledger.recordCpu('g', 14, 2000))).toEqual(['g/cpu_cores limit:up [event]']);
    expect(ledger.rows(2000).find((r) => r.resource === 'cpu_cores')?.held).toBe(2);
  });

  it('aligns the periods of all beancounters', () => {
    let now = 0;
    const ledger = new GroupLedger({ clock: () => now, period_ms: 1000 });
    now = 700;
    ledger.observe('a', 'tasks', 9, 700);
    ledger.observe('a', 'tasks', 3, 800);
    expect(ledger.rows(999)[0]).toMatchObject({ maxheld: 9, minheld: 3 });
    expect(ledger.rows(1000)[0]).toMatchObject({ maxheld: 3, minheld: 3 });
    ledger.setPeriod(null, 1100);
    ledger.observe('a', 'tasks', 30, 1e9);
    expect(ledger.rows(2e9)[0]).toMatchObject({ maxheld: 30, minheld: 3 });
  });

  it('adds kernel refusals to failcnt', () => {
    const ledger = new GroupLedger({ clock: () => 0 });
    expect(ledger.addKernelFailures('g', 'tasks', 2, '/g/a')).toBe(0);
    expect(ledger.addKernelFailures('g', 'tasks', 5, '/g/a')).toBe(3);
    expect(ledger.rows(0)[0]?.failcnt).toBe(3);
  });

  it('forgets a group entirely', () => {
    const ledger = new GroupLedger({ defaults, clock: () => 0 });
    ledger.configure('db', { tasks: spec({ limit: 5 }) });
    ledger.observe('db', 'tasks', 10, 1);
    expect(ledger.forget('db')).toBe(true);
    expect(ledger.forget('db')).toBe(false);
    expect(ledger.groups()).toEqual([]);
    ledger.observe('db', 'tasks', 1, 2);
    expect(ledger.rows(2)[0]).toMatchObject({ held: 1, maxheld: 1, failcnt: 0, limit: 200 });
  });
});
