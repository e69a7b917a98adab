/**
 * The Grafana types the dashboards are checked against, all from the published @grafana/schema
 * package: the dashboard model, and per panel type its options and custom field config. A JSON
 * schema is generated from these aliases (ts-json-schema-generator) and applied with ajv.
 * Panel types without a custom field config in the package have none here (Grafana's own stat
 * and bar gauge panels take no `fieldConfig.defaults.custom`).
 */
export type GrafanaDashboard = import('../../node_modules/@grafana/schema/dist/types/raw/dashboard/x/types.gen.js').Dashboard;

export type TimeseriesOptions = import('../../node_modules/@grafana/schema/dist/types/raw/composable/timeseries/panelcfg/x/types.gen.js').Options;
export type TimeseriesFieldConfig = import('../../node_modules/@grafana/schema/dist/types/raw/composable/timeseries/panelcfg/x/types.gen.js').FieldConfig;
export type StatOptions = import('../../node_modules/@grafana/schema/dist/types/raw/composable/stat/panelcfg/x/types.gen.js').Options;
export type BargaugeOptions = import('../../node_modules/@grafana/schema/dist/types/raw/composable/bargauge/panelcfg/x/types.gen.js').Options;
export type HeatmapOptions = import('../../node_modules/@grafana/schema/dist/types/raw/composable/heatmap/panelcfg/x/types.gen.js').Options;
export type HeatmapFieldConfig = import('../../node_modules/@grafana/schema/dist/types/raw/composable/heatmap/panelcfg/x/types.gen.js').FieldConfig;
export type StateTimelineOptions = import('../../node_modules/@grafana/schema/dist/types/raw/composable/statetimeline/panelcfg/x/types.gen.js').Options;
export type StateTimelineFieldConfig = import('../../node_modules/@grafana/schema/dist/types/raw/composable/statetimeline/panelcfg/x/types.gen.js').FieldConfig;
export type TableOptions = import('../../node_modules/@grafana/schema/dist/types/raw/composable/table/panelcfg/x/types.gen.js').Options;
export type TableFieldConfig = import('../../node_modules/@grafana/schema/dist/types/raw/composable/table/panelcfg/x/types.gen.js').FieldConfig;
