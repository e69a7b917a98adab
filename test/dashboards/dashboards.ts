/**
 * The committed dashboards and rules as the tests read them: panels and their queries, Grafana's
 * variable interpolation for Prometheus, and the metric names a PromQL expression uses.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../helpers/cli.js';

export const DASHBOARD_DIR = path.join(ROOT, 'dashboards');
export const RULES_DIR = path.join(ROOT, 'deploy/prometheus');
export const RULE_FILES = ['forkwatch.rules.yml', 'forkwatch.alerts.yml'].map((f) => path.join(RULES_DIR, f));

export interface Target {
  refId: string;
  expr: string;
  instant?: boolean;
  range?: boolean;
  format?: string;
  legendFormat?: string;
  datasource?: { type?: string; uid?: string };
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  fieldConfig?: { defaults: { unit?: string; custom?: Record<string, unknown> }; overrides: unknown[] };
  options?: Record<string, unknown> & { yAxis?: { unit?: string } };
  panels?: Panel[];
}

export interface Variable {
  name: string;
  type: string;
  query?: string;
  multi?: boolean;
  includeAll?: boolean;
  datasource?: { type?: string; uid?: string };
}

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

/** Every dashboard JSON file, parsed, by file name. */
export function loadDashboards(): Record<string, Dashboard> {
  const out: Record<string, Dashboard> = {};
  for (const f of fs
    .readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    out[f] = JSON.parse(fs.readFileSync(path.join(DASHBOARD_DIR, f), 'utf8')) as Dashboard;
  }
  return out;
}

/** Panels that show data (rows left out, panels inside collapsed rows included). */
export function dataPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => (p.type === 'row' ? (p.panels ?? []) : [p]));
}

export interface RuleFile {
  groups: {
    name: string;
    rules: { record?: string; alert?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[];
  }[];
}

export function loadRules(file: string): RuleFile {
  return parse(fs.readFileSync(file, 'utf8')) as RuleFile;
}

/** Recording rule names of forkwatch.rules.yml. */
export function recordedNames(): Set<string> {
  return new Set(loadRules(RULE_FILES[0]).groups.flatMap((g) => g.rules.map((r) => r.record).filter((r): r is string => !!r)));
}

/**
 * Regex-escapes a value the way Grafana's Prometheus data source does for multi-value variables:
 * two backslashes in the query text, one for the PromQL string and one for the regex.
 */
export function regexEscape(v: string): string {
  return v.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');
}

export interface Interpolation {
  /** Variable name -> selected values. A multi-value variable becomes `(a|b)`, regex-escaped. */
  vars: Record<string, string[]>;
  multi: Set<string>;
  rateInterval: string;
  interval: string;
  range: string;
}

/** Replaces Grafana variables in a query as the Prometheus data source would. */
export function interpolate(expr: string, i: Interpolation): string {
  return expr.replace(/\$\{?(__rate_interval|__interval|__range|[A-Za-z_][A-Za-z0-9_]*)\}?/g, (m, name: string) => {
    if (name === '__rate_interval') return i.rateInterval;
    if (name === '__interval') return i.interval;
    if (name === '__range') return i.range;
    const values = i.vars[name];
    if (!values) throw new Error(`no value for variable $${name} in ${expr}`);
    if (!i.multi.has(name)) return values[0];
    return values.length === 1 ? regexEscape(values[0]) : `(${values.map(regexEscape).join('|')})`;
  });
}

const PROMQL_WORDS = new Set(['bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan', 'Inf', 'NaN']);

/**
 * Metric names an expression reads. Strings, label matchers, ranges and grouping clauses are
 * removed first; what is left that is neither a function call nor a keyword is a metric name.
 */
export function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of s.matchAll(/(?<![\w.$])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    if (m[2] || PROMQL_WORDS.has(m[1])) continue;
    names.add(m[1]);
  }
  return [...names];
}

/** Every label selector `{...}` of an expression (bodies only). */
export function selectors(expr: string): string[] {
  return [...expr.replace(/"(?:[^"\\]|\\.)*"/g, (q) => q.replace(/[{}]/g, '')).matchAll(/\{([^}]*)\}/g)].map((m) => m[1]);
}
