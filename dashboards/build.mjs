#!/usr/bin/env node
/**
 * forkwatch's Grafana dashboards, generated so that every panel gets the same data source,
 * host selection and units. `node dashboards/build.mjs` writes dashboards/*.json (the files to
 * import or provision); `--check` only says whether they are up to date.
 *
 * Every query selects hosts with `instance=~"$instance"` and never names a host, a job or the
 * optional `node` label: aggregations keep `instance`, so the dashboards work with and without
 * `node`. The overview reads the recording rules of deploy/prometheus/forkwatch.rules.yml.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DIR = path.dirname(fileURLToPath(import.meta.url));
const DS = { type: 'prometheus', uid: '${datasource}' };
const I = 'instance=~"$instance"';
/** A label selector body: the host selection plus the given matchers. */
const sel = (...m) => `{${[I, ...m].join(', ')}}`;
const RATE = '$__rate_interval';

// ---- targets ---------------------------------------------------------------------------------

function targets(list) {
  return list.map((t, i) => ({
    datasource: DS,
    editorMode: 'code',
    expr: t.expr,
    ...(t.format ? { format: t.format } : {}),
    instant: t.instant === true,
    legendFormat: t.legend ?? '__auto',
    range: t.instant !== true,
    refId: String.fromCharCode(65 + i),
  }));
}

// ---- panels ----------------------------------------------------------------------------------

const legendList = { calcs: [], displayMode: 'list', placement: 'bottom', showLegend: true };
const legendTable = { calcs: ['mean', 'max', 'lastNotNull'], displayMode: 'table', placement: 'bottom', showLegend: true, sortBy: 'Max', sortDesc: true };
const tooltip = { hideZeros: false, mode: 'multi', sort: 'desc' };
const thresholdsGreen = { mode: 'absolute', steps: [{ color: 'green', value: null }] };
const thresholdsBad = (at = 1) => ({ mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'red', value: at }] });
const fixedColor = (c) => [{ id: 'color', value: { fixedColor: c, mode: 'fixed' } }];
const byName = (name, properties) => ({ matcher: { id: 'byName', options: name }, properties });
const byRefId = (refId, properties) => ({ matcher: { id: 'byFrameRefID', options: refId }, properties });
const dashed = (c) => [...fixedColor(c), { id: 'custom.lineStyle', value: { dash: [10, 10], fill: 'dash' } }, { id: 'custom.fillOpacity', value: 0 }];
const outcomeColors = [byName('success', fixedColor('green')), byName('failure', fixedColor('orange')), byName('signaled', fixedColor('red'))];

function base(type, p) {
  return {
    datasource: DS,
    description: p.description,
    gridPos: { h: p.h, w: p.w, x: 0, y: 0 },
    id: 0,
    type,
    title: p.title,
    targets: targets(p.targets),
    ...(p.transformations ? { transformations: p.transformations } : {}),
  };
}

function timeseries(p) {
  return {
    ...base('timeseries', { h: 8, w: 12, ...p }),
    fieldConfig: {
      defaults: {
        color: { mode: 'palette-classic' },
        custom: {
          axisBorderShow: false,
          axisCenteredZero: false,
          axisColorMode: 'text',
          axisLabel: '',
          axisPlacement: 'auto',
          barAlignment: 0,
          drawStyle: p.bars ? 'bars' : 'line',
          fillOpacity: p.stack || p.bars ? 70 : 10,
          gradientMode: 'none',
          hideFrom: { legend: false, tooltip: false, viz: false },
          insertNulls: false,
          lineInterpolation: 'linear',
          lineWidth: 1,
          pointSize: 4,
          scaleDistribution: { type: 'linear' },
          showPoints: 'never',
          spanNulls: false,
          stacking: { group: 'A', mode: p.stack || p.bars ? 'normal' : 'none' },
          thresholdsStyle: { mode: 'off' },
        },
        mappings: [],
        min: 0,
        thresholds: thresholdsGreen,
        unit: p.unit,
      },
      overrides: p.overrides ?? [],
    },
    options: { legend: p.legend ?? legendList, tooltip },
  };
}

function stat(p) {
  return {
    ...base('stat', { h: 4, w: 4, ...p }),
    fieldConfig: {
      defaults: {
        color: { mode: 'thresholds' },
        mappings: p.mappings ?? [],
        thresholds: p.thresholds ?? thresholdsGreen,
        unit: p.unit,
        ...(p.decimals !== undefined ? { decimals: p.decimals } : {}),
      },
      overrides: [],
    },
    options: {
      colorMode: p.colorMode ?? 'value',
      graphMode: p.graph === false ? 'none' : 'area',
      justifyMode: 'auto',
      orientation: 'auto',
      percentChangeColorMode: 'standard',
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      showPercentChange: false,
      textMode: p.textMode ?? 'auto',
      wideLayout: true,
    },
  };
}

function bargauge(p) {
  return {
    ...base('bargauge', { h: 8, w: 12, ...p }),
    fieldConfig: {
      defaults: { color: { mode: 'continuous-BlYlRd' }, mappings: [], min: 0, thresholds: thresholdsGreen, unit: p.unit },
      overrides: [],
    },
    options: {
      displayMode: 'gradient',
      legend: { calcs: [], displayMode: 'list', placement: 'bottom', showLegend: false },
      maxVizHeight: 300,
      minVizHeight: 16,
      minVizWidth: 8,
      namePlacement: 'left',
      orientation: 'horizontal',
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      showUnfilled: true,
      sizing: 'auto',
      valueMode: 'color',
    },
  };
}

function heatmap(p) {
  return {
    ...base('heatmap', { h: 8, w: 12, ...p }),
    fieldConfig: {
      defaults: {
        custom: { hideFrom: { legend: false, tooltip: false, viz: false }, scaleDistribution: { type: 'linear' } },
        unit: p.cellUnit,
      },
      overrides: [],
    },
    options: {
      calculate: false,
      cellGap: 1,
      cellValues: { unit: p.cellUnit },
      color: { exponent: 0.5, fill: 'dark-orange', mode: 'scheme', reverse: false, scale: 'exponential', scheme: 'Oranges', steps: 64 },
      exemplars: { color: 'rgba(255,0,255,0.7)' },
      filterValues: { le: 1e-9 },
      legend: { show: true },
      rowsFrame: { layout: 'auto' },
      showValue: 'never',
      tooltip: { mode: 'single', showColorScale: false, yHistogram: false },
      yAxis: { axisPlacement: 'left', reverse: false, unit: p.unit },
    },
  };
}

function stateTimeline(p) {
  return {
    ...base('state-timeline', { h: 8, w: 24, ...p }),
    fieldConfig: {
      defaults: {
        color: { mode: 'thresholds' },
        custom: { fillOpacity: 80, hideFrom: { legend: false, tooltip: false, viz: false }, lineWidth: 0 },
        mappings: p.mappings,
        thresholds: thresholdsGreen,
        unit: p.unit,
      },
      overrides: [],
    },
    options: {
      alignValue: 'left',
      legend: { calcs: [], displayMode: 'list', placement: 'bottom', showLegend: true },
      mergeValues: true,
      rowHeight: 0.9,
      showValue: 'auto',
      tooltip: { hideZeros: false, mode: 'single', sort: 'none' },
    },
  };
}

function table(p) {
  return {
    ...base('table', { h: 7, w: 24, ...p }),
    fieldConfig: {
      defaults: {
        color: { mode: 'thresholds' },
        custom: { align: 'auto', cellOptions: { type: 'auto' }, inspect: false },
        mappings: [],
        thresholds: thresholdsGreen,
        unit: p.unit,
      },
      overrides: p.overrides ?? [],
    },
    options: { cellHeight: 'sm', frameIndex: 0, showHeader: true },
  };
}

const row = (title) => ({ collapsed: false, gridPos: { h: 1, w: 24, x: 0, y: 0 }, id: 0, panels: [], title, type: 'row' });

/** Places panels left to right in 24 columns, a row panel starting a new line; numbers them. */
function layout(panels) {
  let x = 0;
  let y = 0;
  let lineH = 0;
  panels.forEach((p, i) => {
    p.id = i + 1;
    const { w, h } = p.gridPos;
    if (p.type === 'row' || x + w > 24) {
      y += lineH;
      x = 0;
      lineH = 0;
    }
    p.gridPos = { h, w, x, y };
    x += w;
    lineH = Math.max(lineH, h);
    if (p.type === 'row') {
      y += h;
      x = 0;
      lineH = 0;
    }
  });
  return panels;
}

// ---- variables -------------------------------------------------------------------------------

const datasourceVar = { hide: 0, includeAll: false, label: 'Data source', multi: false, name: 'datasource', options: [], query: 'prometheus', refresh: 1, regex: '', skipUrlSync: false, type: 'datasource' };

/** A query variable. `All` expands to the list of values (no allValue), so `instance=~"$instance"` never matches other jobs' targets. */
function queryVar(name, label, query, opts = {}) {
  return {
    datasource: DS,
    hide: 0,
    includeAll: opts.multi === true,
    label,
    multi: opts.multi === true,
    name,
    options: [],
    query,
    refresh: 2,
    regex: '',
    skipUrlSync: false,
    sort: 1,
    type: 'query',
  };
}

const instanceVar = queryVar('instance', 'Host', 'label_values(forkwatch_groups, instance)', { multi: true });

function dashboard({ uid, title, description, variables, panels }) {
  return {
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    description,
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    links: [
      { asDropdown: false, icon: 'external link', includeVars: true, keepTime: true, tags: ['forkwatch'], targetBlank: false, title: 'forkwatch', tooltip: '', type: 'dashboards' },
    ],
    panels: layout(panels),
    refresh: '30s',
    schemaVersion: 39,
    tags: ['forkwatch'],
    templating: { list: [datasourceVar, ...variables] },
    time: { from: 'now-1h', to: 'now' },
    timepicker: {},
    timezone: 'browser',
    title,
    uid,
    version: 1,
    weekStart: '',
  };
}

// ---- the overview ------------------------------------------------------------------------------

function overview() {
  const G = 'group=~"$group"';
  return dashboard({
    uid: 'forkwatch-overview',
    title: 'forkwatch / Overview',
    description: 'Process births, execs and deaths on the selected hosts, the groups doing the most, and what the forkwatch agent itself costs. Needs the recording rules of deploy/prometheus/forkwatch.rules.yml.',
    variables: [instanceVar, queryVar('group', 'Group', `label_values(forkwatch_tasks${sel()}, group)`, { multi: true })],
    panels: [
      row('Hosts'),
      stat({ title: 'Live tasks', unit: 'short', description: 'Processes alive now on the selected hosts.', targets: [{ expr: `sum(instance:forkwatch_tasks:sum${sel()})` }] }),
      stat({ title: 'Forks', unit: 'ops', description: 'New processes per second (fork/clone without CLONE_THREAD), last minute.', targets: [{ expr: `sum(instance:forkwatch_forks:rate1m${sel()})` }] }),
      stat({ title: 'Execs', unit: 'ops', description: 'Successful execve/execveat calls per second, last minute.', targets: [{ expr: `sum(instance:forkwatch_execs:rate1m${sel()})` }] }),
      stat({
        title: 'Failed exits',
        unit: 'ops',
        description: 'Processes per second that exited with a non-zero status or were killed by a signal, last minute.',
        thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'orange', value: 1 }] },
        targets: [{ expr: `sum(instance_outcome:forkwatch_exits:rate1m${sel('outcome=~"failure|signaled"')})` }],
      }),
      stat({
        title: 'Events lost',
        decimals: 0,
        unit: 'short',
        description: 'Kernel records dropped in the time range because the ring buffer was full. Counters, live tasks, lifetimes and releases of groups of whole cgroups stay exact (the kernel keeps them); groups defined by command name, executable or user may drift. See the ForkwatchEventsLost alert.',
        thresholds: thresholdsBad(1),
        graph: false,
        targets: [{ expr: `sum(increase(forkwatch_events_lost_total${sel()}[$__range]))` }],
      }),
      stat({
        title: 'Agents down',
        unit: 'short',
        description: 'Selected forkwatch agents that Prometheus failed to scrape at the last attempt.',
        thresholds: thresholdsBad(1),
        graph: false,
        targets: [{ expr: `sum(up${sel()} == bool 0)` }],
      }),
      row('Activity'),
      timeseries({ title: 'Forks per second', unit: 'ops', description: 'New processes per second, per host.', targets: [{ expr: `sum by (instance) (instance:forkwatch_forks:rate1m${sel()})`, legend: '{{instance}}' }] }),
      timeseries({ title: 'Execs per second', unit: 'ops', description: 'Successful execs per second, per host.', targets: [{ expr: `sum by (instance) (instance:forkwatch_execs:rate1m${sel()})`, legend: '{{instance}}' }] }),
      timeseries({
        title: 'Exits per second by outcome',
        unit: 'ops',
        stack: true,
        description: 'success: status 0; failure: non-zero status; signaled: killed by a signal.',
        overrides: outcomeColors,
        targets: [{ expr: `sum by (outcome) (instance_outcome:forkwatch_exits:rate1m${sel()})`, legend: '{{outcome}}' }],
      }),
      timeseries({
        title: 'Live tasks and threads',
        unit: 'short',
        description: 'Processes and threads alive, per host.',
        targets: [
          { expr: `sum by (instance) (instance:forkwatch_tasks:sum${sel()})`, legend: 'tasks {{instance}}' },
          { expr: `sum by (instance) (instance:forkwatch_threads:sum${sel()})`, legend: 'threads {{instance}}' },
        ],
      }),
      row('Groups'),
      timeseries({
        title: 'CPU by group (top 10)',
        unit: 'percentunit',
        stack: true,
        legend: legendTable,
        description: 'CPU used by the ten busiest groups at each moment, summed over the selected hosts (100% = one core).',
        targets: [{ expr: `topk(10, sum by (group) (instance_group:forkwatch_cpu:rate1m${sel(G)}))`, legend: '{{group}}' }],
      }),
      timeseries({
        title: 'Forks per second by group (top 10)',
        unit: 'ops',
        legend: legendTable,
        description: 'The ten groups creating the most processes at each moment, summed over the selected hosts.',
        targets: [{ expr: `topk(10, sum by (group) (instance_group:forkwatch_forks:rate1m${sel(G)}))`, legend: '{{group}}' }],
      }),
      bargauge({
        title: 'Top groups by forks',
        unit: 'short',
        description: 'Processes created in the time range, the ten groups that created the most.',
        targets: [{ expr: `topk(10, sum by (group) (increase(forkwatch_forks_total${sel(G)}[$__range])))`, legend: '{{group}}', instant: true }],
      }),
      bargauge({
        title: 'Top groups by CPU',
        unit: 'percentunit',
        description: 'Average CPU over the time range, the ten groups that used the most (100% = one core).',
        targets: [{ expr: `topk(10, sum by (group) (rate(forkwatch_cpu_seconds_total${sel(G)}[$__range])))`, legend: '{{group}}', instant: true }],
      }),
      heatmap({
        title: 'Process lifetime',
        unit: 's',
        cellUnit: 'ops',
        w: 24,
        description: 'How long processes lived, observed when they exited: exits per second in each lifetime bucket, all groups of the selected hosts.',
        targets: [{ expr: `sum by (le) (instance_le:forkwatch_process_lifetime_seconds_bucket:rate1m${sel()})`, legend: '{{le}}', format: 'heatmap' }],
      }),
      row('Agent'),
      timeseries({
        title: 'Events lost per second',
        unit: 'ops',
        description: 'Kernel records dropped because the ring buffer was full, by record type. Anything above zero: raise bpf.ring_buffer_bytes, look at the agent CPU below, and at which group is forking.',
        targets: [{ expr: `sum by (instance, type) (rate(forkwatch_events_lost_total${sel()}[${RATE}]))`, legend: '{{type}} {{instance}}' }],
      }),
      timeseries({
        title: 'Events read per second',
        unit: 'ops',
        description: 'Kernel records the agent read, by type.',
        targets: [{ expr: `sum by (instance, type) (rate(forkwatch_events_total${sel()}[${RATE}]))`, legend: '{{type}} {{instance}}' }],
      }),
      timeseries({
        title: 'Agent CPU',
        unit: 'percentunit',
        description: 'CPU of the agent process, and time the kernel spent in forkwatch BPF programs (needs kernel.bpf_stats_enabled or forkwatch run --bpf-stats). 100% = one core.',
        targets: [
          { expr: `rate(process_cpu_seconds_total${sel()}[${RATE}])`, legend: 'agent process {{instance}}' },
          { expr: `sum by (instance) (rate(forkwatch_bpf_program_run_seconds_total${sel()}[${RATE}]))`, legend: 'BPF programs {{instance}}' },
        ],
      }),
      timeseries({
        title: 'Agent memory',
        unit: 'bytes',
        description: 'Resident memory of the agent process.',
        targets: [{ expr: `process_resident_memory_bytes${sel()}`, legend: '{{instance}}' }],
      }),
      timeseries({
        title: 'BPF program time per run',
        unit: 's',
        description: 'Average time one run of each forkwatch BPF program takes (needs kernel.bpf_stats_enabled or --bpf-stats).',
        targets: [
          {
            expr: `sum by (instance, program) (rate(forkwatch_bpf_program_run_seconds_total${sel()}[${RATE}])) / sum by (instance, program) (rate(forkwatch_bpf_program_runs_total${sel()}[${RATE}]))`,
            legend: '{{program}} {{instance}}',
          },
        ],
      }),
      timeseries({
        title: 'Groups tracked',
        unit: 'short',
        description: 'Groups the agent exports, and groups refused because group_settings.max_groups was reached (their processes count in group "other").',
        targets: [
          { expr: `forkwatch_groups${sel()}`, legend: 'groups {{instance}}' },
          { expr: `increase(forkwatch_groups_overflow_total${sel()}[${RATE}])`, legend: 'refused {{instance}}' },
        ],
      }),
    ],
  });
}

// ---- one group ---------------------------------------------------------------------------------

function groupView() {
  const S = (...m) => sel('group="$group"', ...m);
  const bean = (metric, refId) => ({ expr: `${metric}${S()}`, format: 'table', instant: true, refId });
  const beanNames = { 'Value #A': 'held', 'Value #B': 'max held', 'Value #C': 'min held', 'Value #D': 'barrier', 'Value #E': 'limit', 'Value #F': 'barrier hits', 'Value #G': 'failcnt' };
  return dashboard({
    uid: 'forkwatch-group',
    title: 'forkwatch / Group',
    description: 'One group: its tasks against its barrier and limit, threshold crossings, CPU, exits and releases, OOM kills and the signals that ended its processes.',
    variables: [instanceVar, queryVar('group', 'Group', `label_values(forkwatch_tasks${sel()}, group)`)],
    panels: [
      row('$group'),
      stat({ title: 'Live tasks', unit: 'short', description: 'Processes alive in the group now.', targets: [{ expr: `sum(forkwatch_tasks${S()})` }] }),
      stat({ title: 'Live threads', unit: 'short', description: 'Threads alive in the group now.', targets: [{ expr: `sum(forkwatch_threads${S()})` }] }),
      stat({ title: 'CPU', unit: 'percentunit', description: 'CPU the group uses now (100% = one core).', targets: [{ expr: `sum(rate(forkwatch_cpu_seconds_total${S()}[${RATE}]))` }] }),
      stat({
        title: 'Barrier hits',
        decimals: 0,
        unit: 'short',
        graph: false,
        thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'orange', value: 1 }] },
        description: 'Times in the time range a resource of the group rose above its barrier (soft limit).',
        targets: [{ expr: `sum(increase(forkwatch_resource_barrier_hits_total${S()}[$__range]))` }],
      }),
      stat({
        title: 'Limit hits (failcnt)',
        decimals: 0,
        unit: 'short',
        graph: false,
        thresholds: thresholdsBad(1),
        description: 'Times in the time range a resource rose above its limit, plus refusals the kernel counted (pids.events, memory.events max).',
        targets: [{ expr: `sum(increase(forkwatch_resource_failcnt_total${S()}[$__range]))` }],
      }),
      stat({
        title: 'Releases',
        unit: 'short',
        graph: false,
        decimals: 0,
        description: 'Times in the time range the last process of the group exited.',
        targets: [{ expr: `sum(increase(forkwatch_group_releases_total${S()}[$__range]))` }],
      }),
      row('Beancounters'),
      timeseries({
        title: 'Tasks against barrier and limit',
        unit: 'short',
        description: 'Live processes of the group, the most it held in the accounting period, and the barrier and limit set for the tasks resource (absent when not configured).',
        overrides: [byRefId('B', [...fixedColor('purple'), { id: 'custom.fillOpacity', value: 0 }]), byRefId('C', dashed('orange')), byRefId('D', dashed('red'))],
        targets: [
          { expr: `sum by (instance) (forkwatch_tasks${S()})`, legend: 'tasks {{instance}}' },
          { expr: `forkwatch_resource_maxheld${S('resource="tasks"')}`, legend: 'max held {{instance}}' },
          { expr: `forkwatch_resource_barrier${S('resource="tasks"')}`, legend: 'barrier {{instance}}' },
          { expr: `forkwatch_resource_limit${S('resource="tasks"')}`, legend: 'limit {{instance}}' },
        ],
      }),
      timeseries({
        title: 'Barrier and limit hits',
        unit: 'short',
        bars: true,
        description: 'Crossings of the barrier and of the limit, by resource, per interval.',
        overrides: [byRefId('A', fixedColor('orange')), byRefId('B', fixedColor('red'))],
        targets: [
          { expr: `sum by (resource) (increase(forkwatch_resource_barrier_hits_total${S()}[${RATE}]))`, legend: 'barrier hits {{resource}}' },
          { expr: `sum by (resource) (increase(forkwatch_resource_failcnt_total${S()}[${RATE}]))`, legend: 'failcnt {{resource}}' },
        ],
      }),
      table({
        title: 'Beancounters',
        unit: 'short',
        description: 'Every resource with a beancounter: held now, most and least held in the period, thresholds, and crossings since the agent started.',
        transformations: [
          { id: 'merge', options: {} },
          { id: 'organize', options: { excludeByName: { Time: true, __name__: true, job: true, group: true }, indexByName: {}, renameByName: beanNames } },
        ],
        targets: [
          bean('forkwatch_resource_held'),
          bean('forkwatch_resource_maxheld'),
          bean('forkwatch_resource_minheld'),
          bean('forkwatch_resource_barrier'),
          bean('forkwatch_resource_limit'),
          bean('forkwatch_resource_barrier_hits_total'),
          bean('forkwatch_resource_failcnt_total'),
        ],
      }),
      row('Activity'),
      timeseries({ title: 'CPU', unit: 'percentunit', description: 'CPU used by the group (100% = one core).', targets: [{ expr: `sum by (instance) (rate(forkwatch_cpu_seconds_total${S()}[${RATE}]))`, legend: '{{instance}}' }] }),
      timeseries({
        title: 'Forks and execs per second',
        unit: 'ops',
        description: 'Processes created and successful execs in the group.',
        targets: [
          { expr: `sum by (instance) (rate(forkwatch_forks_total${S()}[${RATE}]))`, legend: 'forks {{instance}}' },
          { expr: `sum by (instance) (rate(forkwatch_execs_total${S()}[${RATE}]))`, legend: 'execs {{instance}}' },
        ],
      }),
      timeseries({
        title: 'Exits per second by outcome',
        unit: 'ops',
        stack: true,
        description: 'success: status 0; failure: non-zero status; signaled: killed by a signal.',
        overrides: outcomeColors,
        targets: [{ expr: `sum by (outcome) (rate(forkwatch_exits_total${S()}[${RATE}]))`, legend: '{{outcome}}' }],
      }),
      timeseries({
        title: 'Releases',
        unit: 'short',
        bars: true,
        description: 'Times the last process of the group exited (the group became empty), per interval.',
        targets: [{ expr: `sum by (instance) (increase(forkwatch_group_releases_total${S()}[${RATE}]))`, legend: '{{instance}}' }],
      }),
      heatmap({
        title: 'Process lifetime',
        unit: 's',
        cellUnit: 'ops',
        description: 'How long the group\'s processes lived, observed when they exited: exits per second in each lifetime bucket.',
        targets: [{ expr: `sum by (le) (rate(forkwatch_process_lifetime_seconds_bucket${S()}[${RATE}]))`, legend: '{{le}}', format: 'heatmap' }],
      }),
      table({
        title: 'What the group is',
        unit: 'none',
        w: 12,
        h: 8,
        description: 'The group\'s cgroup path, runtime kind, container id and pod uid.',
        transformations: [{ id: 'organize', options: { excludeByName: { Time: true, Value: true, __name__: true, job: true }, indexByName: {}, renameByName: {} } }],
        targets: [{ expr: `forkwatch_group_info${S()}`, format: 'table', instant: true }],
      }),
      row('Why processes died'),
      timeseries({
        title: 'OOM kills',
        unit: 'short',
        bars: true,
        overrides: [byRefId('A', fixedColor('red'))],
        description:
          'Processes of the group the OOM killer ended, per interval: a memory cgroup at its memory.max, or the whole host out of memory. `forkwatch tail --failed` on the host names each one and whose memory ran out. See the ForkwatchOOMKills alert.',
        targets: [{ expr: `sum by (instance) (increase(forkwatch_oom_kills_total${S()}[${RATE}]))`, legend: 'OOM kills {{instance}}' }],
      }),
      timeseries({
        title: 'Killed by signal',
        unit: 'short',
        bars: true,
        description:
          'Processes of the group a signal ended, per interval, by signal (OOM kills are among the SIGKILLs). `forkwatch tail --failed` on the host says who sent each (a process, or the kernel for a fault or the OOM killer).',
        targets: [{ expr: `sum by (signal) (increase(forkwatch_exits_signaled_total${S()}[${RATE}]))`, legend: '{{signal}}' }],
      }),
    ],
  });
}

// ---- supervised programs ----------------------------------------------------------------------

/** Program states as numbers for the state timeline, in forkwatch_program_state's order. */
export const PROGRAM_STATES = ['running', 'starting', 'backoff', 'stopping', 'stopped', 'failed'];
const STATE_COLORS = { running: 'green', starting: 'blue', backoff: 'orange', stopping: 'yellow', stopped: 'text', failed: 'red' };

function programsView() {
  const P = (...m) => sel('program=~"$program"', ...m);
  const stateCode = PROGRAM_STATES.map((s, i) => `(forkwatch_program_state${P(`state="${s}"`)} == 1) * ${i + 1}`).join(' or ');
  const stateMappings = [
    { options: Object.fromEntries(PROGRAM_STATES.map((s, i) => [String(i + 1), { color: STATE_COLORS[s], index: i, text: s }])), type: 'value' },
  ];
  return dashboard({
    uid: 'forkwatch-programs',
    title: 'forkwatch / Programs',
    description: 'Programs the forkwatch supervisor runs (`programs:` in the config): up or down, their states over time, restarts and how long a restart takes.',
    variables: [instanceVar, queryVar('program', 'Program', `label_values(forkwatch_program_up${sel()}, program)`, { multi: true })],
    panels: [
      row('Now'),
      stat({
        title: 'Up',
        unit: 'none',
        w: 12,
        colorMode: 'background',
        graph: false,
        textMode: 'value_and_name',
        description: 'Whether each program has a running process.',
        mappings: [{ options: { 0: { color: 'red', index: 0, text: 'down' }, 1: { color: 'green', index: 1, text: 'up' } }, type: 'value' }],
        targets: [{ expr: `forkwatch_program_up${P()}`, legend: '{{program}} {{instance}}' }],
      }),
      stat({
        title: 'Failed',
        unit: 'short',
        graph: false,
        thresholds: thresholdsBad(1),
        description: 'Programs the supervisor gave up on (more starts than start_limit allows). They stay failed until retry_failed_after or a manual start.',
        targets: [{ expr: `sum(forkwatch_program_state${P('state="failed"')})` }],
      }),
      stat({
        title: 'In backoff',
        unit: 'short',
        graph: false,
        thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }, { color: 'orange', value: 1 }] },
        description: 'Programs waiting to be restarted after an exit.',
        targets: [{ expr: `sum(forkwatch_program_state${P('state="backoff"')})` }],
      }),
      stat({
        title: 'Restarts',
        decimals: 0,
        unit: 'short',
        graph: false,
        description: 'Restarts in the time range, all selected programs.',
        targets: [{ expr: `sum(increase(forkwatch_program_restarts_total${P()}[$__range]))` }],
      }),
      stateTimeline({
        title: 'State',
        unit: 'none',
        description: 'Each program\'s state over time: running, starting, backoff (waiting to restart), stopping, stopped, failed (given up).',
        mappings: stateMappings,
        targets: [{ expr: `max by (instance, program) (${stateCode})`, legend: '{{program}} {{instance}}' }],
      }),
      row('Restarts'),
      timeseries({
        title: 'Restarts per interval',
        unit: 'short',
        bars: true,
        description: 'Restarts by the supervisor, per program.',
        targets: [{ expr: `sum by (instance, program) (increase(forkwatch_program_restarts_total${P()}[${RATE}]))`, legend: '{{program}} {{instance}}' }],
      }),
      timeseries({
        title: 'Restart latency',
        unit: 's',
        description: 'From the exit the supervisor saw to the new process running (backoff delay included): the mean, exact, and the median estimated from the histogram buckets, of the restarts in each interval (gaps: no restart).',
        targets: [
          {
            expr: `sum by (instance, program) (rate(forkwatch_program_restart_latency_seconds_sum${P()}[${RATE}])) / sum by (instance, program) (rate(forkwatch_program_restart_latency_seconds_count${P()}[${RATE}]))`,
            legend: 'mean {{program}} {{instance}}',
          },
          { expr: `histogram_quantile(0.5, sum by (instance, program, le) (rate(forkwatch_program_restart_latency_seconds_bucket${P()}[${RATE}])))`, legend: 'p50 {{program}} {{instance}}' },
        ],
      }),
      table({
        title: 'Last exit',
        unit: 'none',
        h: 6,
        description: 'Exit status of each program\'s last run (128 + signal number when killed by a signal); absent before the first exit.',
        transformations: [{ id: 'organize', options: { excludeByName: { Time: true, __name__: true, job: true }, indexByName: {}, renameByName: { Value: 'exit status' } } }],
        overrides: [byName('exit status', [{ id: 'thresholds', value: thresholdsBad(1) }, { id: 'custom.cellOptions', value: { type: 'color-text' } }])],
        targets: [{ expr: `forkwatch_program_last_exit_code${P()}`, format: 'table', instant: true }],
      }),
    ],
  });
}

/** Every dashboard, by file name. */
export function buildDashboards() {
  return {
    'forkwatch-overview.json': overview(),
    'forkwatch-group.json': groupView(),
    'forkwatch-programs.json': programsView(),
  };
}

/** The JSON text of a dashboard as committed. */
export const render = (d) => JSON.stringify(d, null, 2) + '\n';

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [file, d] of Object.entries(buildDashboards())) {
    const out = path.join(DIR, file);
    const text = render(d);
    if (check) {
      const have = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
      if (have !== text) {
        console.error(`${path.relative(process.cwd(), out)} is out of date: run node dashboards/build.mjs`);
        stale++;
      }
    } else {
      fs.writeFileSync(out, text);
      console.log(`wrote ${path.relative(process.cwd(), out)}`);
    }
  }
  process.exitCode = stale ? 1 : 0;
}
