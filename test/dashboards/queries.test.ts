/**
 * Every panel of every dashboard, with its variables filled in as Grafana would, run against a
 * real Prometheus (with forkwatch.rules.yml and forkwatch.alerts.yml loaded) scraping real agents
 * while this test drives a workload that exercises each panel. A panel whose queries come back
 * empty is named in the failure.
 *
 * Two agents run: "main" (BPF stats on, a group with a tasks barrier and limit, one of whose
 * processes the OOM killer ends, three supervised programs) and "lossy" (a 4 KiB ring buffer woken once a second, and a cap of 5 groups), which
 * loses events and overflows its group cap under a burst of execs, and is then stopped so that
 * "agents down" has something to show.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderDashboard } from '../../dashboards/render.mjs';
import { TestAgent } from '../helpers/agent.js';
import { memoryLimit, requireRoot, TestCgroup } from '../helpers/cgroup.js';
import { TestPrometheus } from '../helpers/prometheus.js';
import { dataPanels, interpolate, loadDashboards, RULE_FILES, type Dashboard, type Interpolation } from './dashboards.js';

const GROUP = 'fw-dash';
const PROGRAMS = ['fw-dash-steady', 'fw-dash-crashloop', 'fw-dash-fails'];
const dashboards = loadDashboards();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One round in the group: forks with each outcome, execs, CPU, and 8 sleeps above barrier 4 and limit 6. */
const ROUND = [
  'for ((i = 0; i < 20; i++)); do ( exit 0 ); done',
  'for ((i = 0; i < 10; i++)); do ( exit 3 ); done',
  'for ((i = 0; i < 5; i++)); do ( kill -KILL $BASHPID ); done',
  'for ((i = 0; i < 10; i++)); do /bin/true; done',
  'end=$((SECONDS + 1)); while (( SECONDS < end )); do :; done',
  'for ((i = 0; i < 8; i++)); do sleep 1.5 & done',
  'wait',
].join('\n');

interface Series {
  metric: Record<string, string>;
  values: [number, string][];
}

describe('dashboard queries against a real agent scraped by a real Prometheus', () => {
  let main: TestAgent;
  let lossy: TestAgent | undefined;
  let prom: TestPrometheus;
  let start = 0;
  const wl = TestCgroup.create('dash');
  const burst = TestCgroup.create('dash-burst');

  beforeAll(async () => {
    requireRoot();
    main = await TestAgent.start(
      [
        'groups:',
        `  - name: ${GROUP}`,
        `    match: { cgroup: "${wl.path}" }`,
        '    resources:',
        '      tasks: { barrier: 4, limit: 6 }',
        'programs:',
        `  - name: ${PROGRAMS[0]}`,
        '    command: [/bin/sleep, "300"]',
        '    restart: always',
        `  - name: ${PROGRAMS[1]}`,
        '    command: [/bin/sh, -c, "sleep 0.5; exit 3"]',
        '    restart: always',
        '    backoff: { initial: 1s, factor: 1, max: 1s }',
        '    start_limit: { burst: 0 }',
        `  - name: ${PROGRAMS[2]}`,
        '    command: [/bin/false]',
        '    backoff: { initial: 50ms, factor: 1 }',
        '    start_limit: { burst: 3, interval: 10s }',
      ].join('\n'),
      ['--bpf-stats'],
    );
    lossy = await TestAgent.start(
      ['bpf: { ring_buffer_bytes: 4096, flush_interval: 1s, records_on_demand: false }', 'group_settings: { max_groups: 5 }'].join('\n'),
    );
    prom = await TestPrometheus.start([`127.0.0.1:${main.port}`, `127.0.0.1:${lossy.port}`], { ruleFiles: RULE_FILES });
    start = Date.now() / 1000;
    await prom.waitFor('count(up == 1)', (v) => v === 2);

    // A burst of execs the lossy agent cannot keep up with, then it stops.
    const b = await burst.exec('for ((i = 0; i < 1500; i++)); do /bin/true; done');
    expect(b.code).toBe(0);
    await prom.nextScrape();
    await prom.nextScrape();
    await lossy.stop();
    lossy = undefined;

    // Three runs of the workload: the group empties (a release) after each.
    for (let run = 0; run < 3; run++) {
      const r = await wl.exec(`${ROUND}\n${ROUND}`);
      expect(r.code).toBe(0);
      await sleep(1000);
    }
    // One process of the group the OOM killer ends (its memory cgroup at a 32 MiB limit).
    const limit = memoryLimit(wl, 32 << 20);
    try {
      const r = await wl.exec(`ulimit -c 0; ( ${limit.enter}; exec /usr/bin/python3 -c 'b = b"x" * (256 << 20)' ); exit 0`);
      expect(r.code).toBe(0);
    } finally {
      await limit.remove();
    }
    await prom.waitFor(`forkwatch_oom_kills_total{group="${GROUP}"}`, (v) => v === 1);
    await prom.nextScrape();
    await prom.nextScrape();
  }, 120_000);

  afterAll(async () => {
    await prom?.stop();
    await lossy?.stop();
    await main?.stop();
    await wl.remove();
    await burst.remove();
  });

  async function queryRange(expr: string): Promise<Series[]> {
    const end = Date.now() / 1000;
    const url = `http://127.0.0.1:${prom.port}/api/v1/query_range?query=${encodeURIComponent(expr)}&start=${start}&end=${end}&step=1`;
    const body = (await (await fetch(url)).json()) as { status: string; error?: string; data: { result: Series[] } };
    if (body.status !== 'success') throw new Error(`${body.error}`);
    return body.data.result;
  }

  /** Values of a Grafana `label_values(selector, label)` variable query. */
  async function labelValues(query: string, i: Interpolation): Promise<string[]> {
    const m = /^label_values\((.*),\s*(\w+)\)$/.exec(query);
    if (!m) throw new Error(`unsupported variable query ${query}`);
    // As Grafana does: the label values API, limited to the series of the dashboard's time range.
    const q = new URLSearchParams({ 'match[]': interpolate(m[1], i), start: String(start), end: String(Date.now() / 1000) });
    const body = (await (await fetch(`http://127.0.0.1:${prom.port}/api/v1/label/${m[2]}/values?${q}`)).json()) as {
      status: string;
      error?: string;
      data: string[];
    };
    if (body.status !== 'success') throw new Error(`${query}: ${body.error}`);
    return body.data.sort();
  }

  /** Fills a dashboard's variables: fixed values where given, else every value of its query (All). */
  async function fill(d: Dashboard, fixed: Record<string, string[]>): Promise<{ interp: Interpolation; problems: string[] }> {
    const elapsed = Math.ceil(Date.now() / 1000 - start) + 5;
    const interp: Interpolation = { vars: { datasource: ['prometheus'] }, multi: new Set(), rateInterval: '4s', interval: '1s', range: `${elapsed}s` };
    const problems: string[] = [];
    for (const v of d.templating.list) {
      if (v.type !== 'query') continue;
      if (v.multi || v.includeAll) interp.multi.add(v.name);
      const values = await labelValues(v.query!, interp);
      for (const want of fixed[v.name] ?? [])
        if (!values.includes(want)) problems.push(`variable ${v.name}: ${want} not among its values [${values.join(', ')}]`);
      interp.vars[v.name] = fixed[v.name] ?? values;
      if (!interp.vars[v.name].length) problems.push(`variable ${v.name}: its query ${v.query} returned nothing`);
    }
    return { interp, problems };
  }

  /** Runs every query of every panel; returns the panels (and queries) that came back empty. */
  async function emptyPanels(d: Dashboard, fixed: Record<string, string[]>): Promise<string[]> {
    const { interp, problems } = await fill(d, fixed);
    if (problems.length) return problems;
    const out: string[] = [];
    for (const p of dataPanels(d)) {
      let nonZero = false;
      const empty: string[] = [];
      for (const t of p.targets ?? []) {
        const expr = interpolate(t.expr, interp);
        const values = t.instant ? (await prom.query(expr)).map((s) => s.value) : (await queryRange(expr)).flatMap((s) => s.values.map((v) => Number(v[1])));
        const finite = values.filter(Number.isFinite);
        if (finite.length === 0) empty.push(`${t.refId}: ${expr}`);
        if (finite.some((x) => x !== 0)) nonZero = true;
      }
      if (empty.length) out.push(`panel "${p.title}" has no data for\n      ${empty.join('\n      ')}`);
      else if (!nonZero) out.push(`panel "${p.title}" shows only zeros: the workload did not exercise it`);
    }
    return out;
  }

  const check = (file: string, fixed: () => Record<string, string[]>) => async () => {
    const d = dashboards[file];
    const empty = await emptyPanels(d, fixed());
    expect(empty, `${d.title}: ${empty.length} panel(s) without data:\n  ${empty.join('\n  ')}`).toEqual([]);
  };

  it(
    'overview: every panel has data for both agents and all groups',
    check('forkwatch-overview.json', () => ({})),
    60_000,
  );

  it(
    `group: every panel has data for group ${GROUP}`,
    check('forkwatch-group.json', () => ({ instance: [`127.0.0.1:${main.port}`], group: [GROUP] })),
    60_000,
  );

  it(
    'programs: every panel has data for the supervised programs',
    check('forkwatch-programs.json', () => ({ instance: [`127.0.0.1:${main.port}`] })),
    60_000,
  );

  it('dashboards/render.mjs draws every panel of every dashboard from that Prometheus', async () => {
    for (const [file, d] of Object.entries(dashboards)) {
      const given = {
        'forkwatch-group.group': [GROUP],
        'forkwatch-group.instance': [`127.0.0.1:${main.port}`],
        'forkwatch-programs.instance': [`127.0.0.1:${main.port}`],
      };
      const { html } = await renderDashboard(`http://127.0.0.1:${prom.port}`, d, given, { start, end: Date.now() / 1000, scrape: 1 });
      expect(html, file).toContain('<svg');
      expect(html.match(/>No data</g) ?? [], `${file}: panels drawn without data`).toEqual([]);
    }
  });

  it('every recording and alerting rule evaluates without error', async () => {
    const res = (await (await fetch(`http://127.0.0.1:${prom.port}/api/v1/rules`)).json()) as {
      data: { groups: { file: string; rules: { name: string; health: string; lastError?: string }[] }[] };
    };
    const rules = res.data.groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThanOrEqual(15);
    const bad = rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`);
    expect(bad, bad.join('\n')).toEqual([]);
  });

  it('the alerts the workload provokes are pending or firing', async () => {
    const res = (await (await fetch(`http://127.0.0.1:${prom.port}/api/v1/alerts`)).json()) as {
      data: { alerts: { labels: Record<string, string>; state: string }[] };
    };
    const names = new Set(res.data.alerts.map((a) => a.labels.alertname));
    for (const a of ['ForkwatchBarrierHit', 'ForkwatchLimitHit', 'ForkwatchEventsLost', 'ForkwatchOOMKills']) expect([...names], a).toContain(a);
  });
});
