/**
 * The dashboards and rules without a running Prometheus: up to date with their generator, valid
 * against Grafana's published schema, units on every panel, nothing tied to one host, and every
 * metric they read defined in src/metrics/definitions.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildDashboards, render } from '../../dashboards/build.mjs';
import { METRICS } from '../../src/metrics/definitions.js';
import { DASHBOARD_DIR, dataPanels, loadDashboards, loadRules, metricNames, recordedNames, RULE_FILES, selectors, type Dashboard } from './dashboards.js';
import { describeErrors, grafanaValidators, PANEL_TYPES, type Validators } from './schema.js';

const dashboards = loadDashboards();
const entries = Object.entries(dashboards);

/** Metrics that are not forkwatch's own: Prometheus' scrape health and prom-client's process metrics. */
const NOT_IN_DEFINITIONS = new Set(['up', 'process_cpu_seconds_total', 'process_resident_memory_bytes']);

/** A name is defined when it is in METRICS, or is a histogram's _bucket/_sum/_count. */
function defined(name: string): boolean {
  const defs = Object.values(METRICS);
  if (defs.some((m) => m.name === name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return base !== name && defs.some((m) => m.name === base && m.type === 'histogram');
}

describe('dashboards/*.json', () => {
  let v: Validators;
  beforeAll(() => {
    v = grafanaValidators();
  }, 60_000);

  it('are what dashboards/build.mjs generates', () => {
    const built = buildDashboards() as Record<string, unknown>;
    expect(Object.keys(dashboards).sort()).toEqual(Object.keys(built).sort());
    for (const [file, d] of Object.entries(built))
      expect(render(d), `${file}: run node dashboards/build.mjs`).toBe(JSON.stringify(dashboards[file], null, 2) + '\n');
  });

  it.each(entries)("%s validates against @grafana/schema's Dashboard and each panel type's options", (file, d) => {
    const problems: string[] = [];
    if (!v.dashboard(d)) problems.push(...describeErrors(v.dashboard.errors).map((e) => `dashboard ${e}`));
    expect(d.schemaVersion).toBeGreaterThanOrEqual(39);
    for (const p of dataPanels(d)) {
      const t = v.byType[p.type];
      if (!t) {
        problems.push(`panel "${p.title}": type ${p.type} has no schema here; add it to PANEL_TYPES (${Object.keys(PANEL_TYPES).join(', ')})`);
        continue;
      }
      if (!t.options(p.options)) problems.push(...describeErrors(t.options.errors).map((e) => `panel "${p.title}" options${e}`));
      const custom = p.fieldConfig?.defaults.custom;
      if (custom !== undefined && !t.custom) problems.push(`panel "${p.title}": ${p.type} takes no fieldConfig.defaults.custom`);
      if (custom !== undefined && t.custom && !t.custom(custom))
        problems.push(...describeErrors(t.custom.errors).map((e) => `panel "${p.title}" fieldConfig.defaults.custom${e}`));
    }
    expect(problems, `${file}:\n${problems.join('\n')}`).toEqual([]);
  });

  it.each(entries)('%s has a unit on every panel, unique ids and a layout within 24 columns', (file, d) => {
    const problems: string[] = [];
    const ids = new Set<number>();
    for (const p of d.panels) {
      if (ids.has(p.id)) problems.push(`panel "${p.title}": duplicate id ${p.id}`);
      ids.add(p.id);
      if (p.gridPos.x + p.gridPos.w > 24) problems.push(`panel "${p.title}": gridPos beyond 24 columns`);
    }
    for (const p of dataPanels(d)) {
      if (!p.fieldConfig?.defaults.unit) problems.push(`panel "${p.title}": no fieldConfig.defaults.unit`);
      if (p.type === 'heatmap' && !p.options?.yAxis?.unit) problems.push(`panel "${p.title}": heatmap without yAxis.unit`);
      if (!p.description) problems.push(`panel "${p.title}": no description`);
    }
    expect(problems, `${file}:\n${problems.join('\n')}`).toEqual([]);
  });

  it.each(entries)('%s selects hosts only through $instance and data sources only through $datasource', (file, d: Dashboard) => {
    const problems: string[] = [];
    const vars = Object.fromEntries(d.templating.list.map((x) => [x.name, x]));
    expect(vars.datasource?.type).toBe('datasource');
    expect(vars.instance?.type).toBe('query');
    for (const x of d.templating.list)
      if (x.type === 'query' && x.datasource?.uid !== '${datasource}') problems.push(`variable ${x.name}: data source is not $datasource`);
    for (const p of dataPanels(d)) {
      if (p.datasource?.uid !== '${datasource}') problems.push(`panel "${p.title}": data source is not $datasource`);
      if (!p.targets?.length) problems.push(`panel "${p.title}": no query`);
      for (const t of p.targets ?? []) {
        if (t.datasource?.uid !== '${datasource}') problems.push(`panel "${p.title}" ${t.refId}: data source is not $datasource`);
        if (/\d+\.\d+\.\d+\.\d+|:\d{2,5}\b|instance="|node=/.test(t.expr)) problems.push(`panel "${p.title}" ${t.refId}: names a host: ${t.expr}`);
        for (const s of selectors(t.expr))
          if (!s.includes('instance=~"$instance"')) problems.push(`panel "${p.title}" ${t.refId}: selector {${s}} without instance=~"$instance"`);
        for (const name of metricNames(t.expr)) if (!t.expr.includes(`${name}{`)) problems.push(`panel "${p.title}" ${t.refId}: ${name} without a selector`);
      }
    }
    expect(problems, `${file}:\n${problems.join('\n')}`).toEqual([]);
  });

  it('read only metrics defined in src/metrics/definitions.ts or recorded by forkwatch.rules.yml', () => {
    const recorded = recordedNames();
    const problems: string[] = [];
    for (const [file, d] of entries) {
      const exprs = [
        ...dataPanels(d).flatMap((p) => (p.targets ?? []).map((t) => [`panel "${p.title}"`, t.expr])),
        ...d.templating.list.filter((x) => x.type === 'query').map((x) => [`variable ${x.name}`, x.query!.replace(/^label_values\((.*),\s*\w+\)$/, '$1')]),
      ];
      for (const [where, expr] of exprs) {
        const names = metricNames(expr);
        if (names.length === 0) problems.push(`${file} ${where}: reads no metric: ${expr}`);
        for (const n of names) if (!defined(n) && !recorded.has(n) && !NOT_IN_DEFINITIONS.has(n)) problems.push(`${file} ${where}: ${n} is not defined`);
      }
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });
});

describe('dashboards/provisioning', () => {
  it('provisions a Prometheus data source and a file provider for the dashboards', () => {
    const ds = parse(fs.readFileSync(path.join(DASHBOARD_DIR, 'provisioning/datasource.yml'), 'utf8'));
    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources[0]).toMatchObject({ type: 'prometheus', access: 'proxy' });
    expect(ds.datasources[0].jsonData.timeInterval).toMatch(/^\d+s$/);
    const prov = parse(fs.readFileSync(path.join(DASHBOARD_DIR, 'provisioning/dashboards.yml'), 'utf8'));
    expect(prov.apiVersion).toBe(1);
    expect(prov.providers[0]).toMatchObject({ type: 'file', options: { path: expect.stringMatching(/^\//) } });
  });
});

describe('deploy/prometheus rules', () => {
  it('read only metrics defined in src/metrics/definitions.ts, and name recordings level:metric:operations', () => {
    const problems: string[] = [];
    for (const file of RULE_FILES) {
      for (const g of loadRules(file).groups) {
        for (const r of g.rules) {
          const what = r.record ?? r.alert!;
          const texts = [r.expr, ...Object.values(r.annotations ?? {}).flatMap((a) => [...a.matchAll(/"(forkwatch_[a-z_]+)\{/g)].map((m) => m[1]))];
          for (const text of texts)
            for (const n of metricNames(text)) if (!defined(n) && !NOT_IN_DEFINITIONS.has(n)) problems.push(`${what}: ${n} is not defined`);
          if (r.record && !/^[a-z_]+:forkwatch_[a-z_]+:[a-z0-9_]+$/.test(r.record)) problems.push(`${r.record}: not level:metric:operations`);
        }
      }
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('give every alert a severity, a summary and a description', () => {
    const alerts = loadRules(RULE_FILES[1]).groups.flatMap((g) => g.rules);
    expect(alerts.length).toBeGreaterThan(0);
    for (const a of alerts) {
      expect(a.alert, a.expr).toMatch(/^Forkwatch[A-Z]\w+$/);
      expect(a.labels?.severity, a.alert).toMatch(/^(critical|warning|info)$/);
      expect(a.annotations?.summary, a.alert).toBeTruthy();
      expect(a.annotations?.description?.length ?? 0, a.alert).toBeGreaterThan(100);
    }
  });
});
