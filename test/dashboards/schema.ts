/**
 * Validators for Grafana dashboard JSON, generated from the published @grafana/schema types
 * (test/dashboards/grafana-types.ts) with ts-json-schema-generator and applied with ajv. Nothing
 * here is a hand-written guess at Grafana's model: a field the package does not know is an error.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { createGenerator } from 'ts-json-schema-generator';

const TYPES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'grafana-types.ts');

/** Per panel type: the @grafana/schema alias of its options and of its custom field config. */
export const PANEL_TYPES: Record<string, { options: string; custom?: string }> = {
  timeseries: { options: 'TimeseriesOptions', custom: 'TimeseriesFieldConfig' },
  stat: { options: 'StatOptions' },
  bargauge: { options: 'BargaugeOptions' },
  heatmap: { options: 'HeatmapOptions', custom: 'HeatmapFieldConfig' },
  'state-timeline': { options: 'StateTimelineOptions', custom: 'StateTimelineFieldConfig' },
  table: { options: 'TableOptions', custom: 'TableFieldConfig' },
};

export interface Validators {
  dashboard: ValidateFunction;
  byType: Record<string, { options: ValidateFunction; custom?: ValidateFunction }>;
}

/** Builds every validator (one TypeScript program, a few seconds). */
export function grafanaValidators(): Validators {
  const gen = createGenerator({ path: TYPES, type: '*', skipTypeCheck: true, expose: 'export', topRef: false, jsDoc: 'none' });
  const ajv = new Ajv({ allErrors: true, strict: false });
  const compile = (type: string) => ajv.compile(gen.createSchema(type));
  const byType: Validators['byType'] = {};
  for (const [t, s] of Object.entries(PANEL_TYPES)) byType[t] = { options: compile(s.options), custom: s.custom ? compile(s.custom) : undefined };
  return { dashboard: compile('GrafanaDashboard'), byType };
}

/** ajv errors as one line each, with the JSON path. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}${e.params && Object.keys(e.params).length ? ' ' + JSON.stringify(e.params) : ''}`);
}
