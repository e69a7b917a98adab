#!/usr/bin/env node
/**
 * Renders the dashboards of dashboards/*.json to PNG without Grafana: every panel's queries are
 * run against a real Prometheus over a time range, drawn as SVG in Grafana's layout and dark
 * theme, and the page is screenshotted by headless Chromium (Debian's `chromium` package).
 * An approximation of what Grafana shows, for docs/dashboards.md; dashboards/render-demo.sh
 * produces the data and calls this.
 *
 *   node dashboards/render.mjs --prometheus http://127.0.0.1:9090 --start UNIX --end UNIX \
 *     [--scrape-interval 15] [--var name=v1,v2] [--var UID.name=v] [--out docs/images] [--html]
 *
 * A variable not given takes every value of its query (Grafana's "All"), or the first one for a
 * single-value variable.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const DIR = path.dirname(fileURLToPath(import.meta.url));
const PAGE_W = 1600;
const CELL_H = 30;
const GAP = 8;
const PAD = 16;
const HEADER_H = 86;

const C = {
  bg: '#111217',
  panel: '#181b1f',
  border: '#2c3235',
  text: '#ccccdc',
  weak: '#8e8e9e',
  grid: 'rgba(204,204,220,0.08)',
};
const NAMED = { green: '#73BF69', red: '#F2495C', orange: '#FF9830', yellow: '#FADE2A', blue: '#5794F2', purple: '#B877D9', text: '#ccccdc', 'dark-orange': '#FA6400' };
const PALETTE = ['#73BF69', '#F2CC0C', '#8AB8FF', '#FF780A', '#F2495C', '#5794F2', '#B877D9', '#705DA0', '#37872D', '#FADE2A', '#447EBC', '#C4162A', '#96D98D', '#FFB357'];
const color = (c) => NAMED[c] ?? c;

// ---- numbers and units -------------------------------------------------------------------------

function fixed(v, sig = 3) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  const d = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : Math.min(6, sig - 1 - Math.floor(Math.log10(a)));
  return Number(v.toFixed(Math.max(0, d))).toString();
}

function scaled(v, base, units) {
  let i = 0;
  while (Math.abs(v) >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  return `${fixed(v)}${units[i]}`;
}

/** A value formatted with a Grafana unit id (the ones the dashboards use). */
export function formatValue(v, unit, decimals) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (decimals !== undefined && (unit === 'short' || unit === 'none')) return v.toFixed(decimals);
  switch (unit) {
    case 'percentunit':
      return `${fixed(v * 100)}%`;
    case 'ops':
      return `${scaled(v, 1000, ['', 'k', 'M', 'B'])} ops/s`;
    case 'bytes':
      return scaled(v, 1024, [' B', ' KiB', ' MiB', ' GiB', ' TiB']);
    case 's': {
      const a = Math.abs(v);
      if (a === 0) return '0 s';
      if (a < 1e-6) return `${fixed(v * 1e9)} ns`;
      if (a < 1e-3) return `${fixed(v * 1e6)} µs`;
      if (a < 1) return `${fixed(v * 1e3)} ms`;
      if (a < 60) return `${fixed(v)} s`;
      if (a < 3600) return `${fixed(v / 60)} min`;
      if (a < 86400) return `${fixed(v / 3600)} hour`;
      return `${fixed(v / 86400)} day`;
    }
    case 'short':
      return scaled(v, 1000, ['', ' K', ' Mil', ' Bil']);
    default:
      return fixed(v);
  }
}

// ---- Prometheus --------------------------------------------------------------------------------

async function api(base, p, params) {
  const res = await fetch(`${base}/api/v1/${p}?${new URLSearchParams(params)}`);
  const body = await res.json();
  if (body.status !== 'success') throw new Error(`${p} ${JSON.stringify(params)}: ${body.error}`);
  return body.data;
}

const regexEscape = (v) => v.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');

function interpolate(expr, ctx) {
  return expr.replace(/\$\{?(__rate_interval|__interval|__range|[A-Za-z_][A-Za-z0-9_]*)\}?/g, (m, name) => {
    if (name in ctx.builtins) return ctx.builtins[name];
    const values = ctx.vars[name];
    if (!values) throw new Error(`no value for $${name}`);
    if (!ctx.multi.has(name)) return values[0];
    return values.length === 1 ? regexEscape(values[0]) : `(${values.map(regexEscape).join('|')})`;
  });
}

const labelText = (fmt, metric) => (fmt && fmt !== '__auto' ? fmt.replace(/\{\{\s*(\w+)\s*\}\}/g, (m, l) => metric[l] ?? '').trim() : Object.entries(metric).filter(([k]) => k !== '__name__').map(([k, v]) => `${k}="${v}"`).join(', ') || metric.__name__ || 'value');

// ---- SVG drawing ---------------------------------------------------------------------------------

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const text = (x, y, s, o = {}) => `<text x="${x}" y="${y}" fill="${o.fill ?? C.text}" font-size="${o.size ?? 11}" text-anchor="${o.anchor ?? 'start'}"${o.weight ? ` font-weight="${o.weight}"` : ''}${o.baseline ? ` dominant-baseline="${o.baseline}"` : ''}>${esc(s)}</text>`;

function niceTicks(max, n = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let t = 0; t <= max + step * 0.001; t += step) ticks.push(t);
  if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

const hhmmss = (t) => new Date(t * 1000).toISOString().slice(11, 19);

function timeAxis(x0, x1, y, start, end) {
  const out = [];
  const n = Math.max(2, Math.floor((x1 - x0) / 110));
  for (let i = 0; i <= n; i++) {
    const t = start + ((end - start) * i) / n;
    const x = x0 + ((x1 - x0) * i) / n;
    out.push(text(x, y, hhmmss(t).slice(0, 5 + ((end - start) < 1200 ? 3 : 0)), { fill: C.weak, size: 10, anchor: i === 0 ? 'start' : i === n ? 'end' : 'middle' }));
  }
  return out.join('');
}

/** Per-series display options from the panel's overrides (colour, dashes, fill). */
function seriesStyle(panel, s, i) {
  const st = { color: PALETTE[i % PALETTE.length], dash: null, fill: panel.fieldConfig.defaults.custom?.fillOpacity ?? 10 };
  for (const o of panel.fieldConfig.overrides ?? []) {
    const hit = (o.matcher.id === 'byName' && o.matcher.options === s.name) || (o.matcher.id === 'byFrameRefID' && o.matcher.options === s.refId);
    if (!hit) continue;
    for (const p of o.properties) {
      if (p.id === 'color') st.color = color(p.value.fixedColor);
      if (p.id === 'custom.lineStyle') st.dash = p.value.dash;
      if (p.id === 'custom.fillOpacity') st.fill = p.value;
    }
  }
  return st;
}

function legend(panel, series, styles, x, y, w, maxH) {
  const unit = panel.fieldConfig.defaults.unit;
  const lg = panel.options.legend;
  const out = [];
  if (lg.displayMode === 'table') {
    const cols = [['Mean', (v) => v.reduce((a, b) => a + b, 0) / v.length], ['Max', (v) => Math.max(...v)], ['Last', (v) => v[v.length - 1]]];
    const by = cols.find(([n]) => n === lg.sortBy)?.[1];
    if (by) {
      const key = (s) => {
        const v = s.values.map((p) => p[1]).filter(Number.isFinite);
        return v.length ? by(v) : -Infinity;
      };
      const order = series.map((s, i) => i).sort((a, b) => (key(series[b]) - key(series[a])) * (lg.sortDesc ? 1 : -1));
      series = order.map((i) => series[i]);
      styles = order.map((i) => styles[i]);
    }
    out.push(...cols.map(([n], j) => text(x + w - (cols.length - 1 - j) * 85 - 4, y + 10, n, { fill: C.weak, size: 10, anchor: 'end' })));
    series.slice(0, Math.floor((maxH - 14) / 15)).forEach((s, i) => {
      const yy = y + 26 + i * 15;
      const vals = s.values.map((p) => p[1]).filter(Number.isFinite);
      out.push(`<rect x="${x}" y="${yy - 8}" width="12" height="3" fill="${styles[i].color}"/>`, text(x + 18, yy, s.name.slice(0, 60), { size: 10 }));
      cols.forEach(([, f], j) => out.push(text(x + w - (cols.length - 1 - j) * 85 - 4, yy, vals.length ? formatValue(f(vals), unit) : '–', { size: 10, anchor: 'end' })));
    });
    return out.join('');
  }
  let cx = x;
  let cy = y + 10;
  series.forEach((s, i) => {
    const label = s.name.slice(0, 48);
    const wItem = 24 + label.length * 6.2;
    if (cx + wItem > x + w && cx > x) {
      cx = x;
      cy += 15;
    }
    if (cy > y + maxH) return;
    out.push(`<rect x="${cx}" y="${cy - 6}" width="12" height="3" fill="${styles[i].color}"/>`, text(cx + 16, cy, label, { size: 10 }));
    cx += wItem;
  });
  return out.join('');
}

function legendHeight(panel, series, w) {
  const lg = panel.options.legend;
  if (!lg?.showLegend) return 0;
  if (lg.displayMode === 'table') return Math.min(14 + series.length * 15, 110);
  let lines = 1;
  let cx = 0;
  for (const s of series) {
    const wi = 24 + Math.min(48, s.name.length) * 6.2;
    if (cx + wi > w && cx > 0) {
      lines++;
      cx = 0;
    }
    cx += wi;
  }
  return Math.min(lines, 4) * 15 + 4;
}

function drawTimeseries(panel, data, box, range) {
  const { x, y, w, h } = box;
  const unit = panel.fieldConfig.defaults.unit;
  const custom = panel.fieldConfig.defaults.custom;
  const series = data.series;
  const lh = legendHeight(panel, series, w);
  const plot = { x: x + 62, y: y + 6, w: w - 70, h: h - lh - 24 };
  const stacked = custom.stacking?.mode === 'normal';
  const times = [...new Set(series.flatMap((s) => s.values.map((p) => p[0])))].sort((a, b) => a - b);
  const stack = new Map();
  const drawn = series.map((s) => {
    const pts = s.values.filter((p) => Number.isFinite(p[1])).map(([t, v]) => {
      const base = stacked ? (stack.get(t) ?? 0) : 0;
      if (stacked) stack.set(t, base + v);
      return [t, base + v, base];
    });
    return pts;
  });
  let max = Math.max(0, ...drawn.flat().map((p) => p[1]));
  const ticks = niceTicks(max || 1);
  max = ticks[ticks.length - 1];
  const X = (t) => plot.x + ((t - range.start) / (range.end - range.start)) * plot.w;
  const Y = (v) => plot.y + plot.h - (v / max) * plot.h;
  const out = [];
  for (const t of ticks) out.push(`<line x1="${plot.x}" x2="${plot.x + plot.w}" y1="${Y(t)}" y2="${Y(t)}" stroke="${C.grid}"/>`, text(plot.x - 6, Y(t) + 3, formatValue(t, unit), { fill: C.weak, size: 10, anchor: 'end' }));
  out.push(timeAxis(plot.x, plot.x + plot.w, plot.y + plot.h + 14, range.start, range.end));
  const styles = series.map((s, i) => seriesStyle(panel, s, i));
  const step = times.length > 1 ? Math.min(...times.slice(1).map((t, i) => t - times[i])) : range.step;
  drawn.forEach((pts, i) => {
    const st = styles[i];
    if (custom.drawStyle === 'bars') {
      const bw = Math.max(1, (step / (range.end - range.start)) * plot.w * 0.8);
      for (const [t, v, b] of pts) if (v > b) out.push(`<rect x="${X(t) - bw / 2}" y="${Y(v)}" width="${bw}" height="${Y(b) - Y(v)}" fill="${st.color}" fill-opacity="${st.fill / 100}"/>`);
      return;
    }
    // Break the line where samples are missing, as Grafana does without spanNulls.
    const segs = [];
    let cur = [];
    pts.forEach((p, j) => {
      if (j > 0 && p[0] - pts[j - 1][0] > step * 1.5) {
        segs.push(cur);
        cur = [];
      }
      cur.push(p);
    });
    if (cur.length) segs.push(cur);
    for (const seg of segs) {
      const line = seg.map(([t, v]) => `${X(t).toFixed(1)},${Y(v).toFixed(1)}`).join(' ');
      if (st.fill > 0 && seg.length > 1) {
        const baseLine = seg.map(([t, , b]) => `${X(t).toFixed(1)},${Y(b).toFixed(1)}`).reverse().join(' ');
        out.push(`<polygon points="${line} ${baseLine}" fill="${st.color}" fill-opacity="${st.fill / 100}" stroke="none"/>`);
      }
      out.push(seg.length === 1 ? `<circle cx="${X(seg[0][0])}" cy="${Y(seg[0][1])}" r="2" fill="${st.color}"/>` : `<polyline points="${line}" fill="none" stroke="${st.color}" stroke-width="${stacked ? 1 : 1.5}"${st.dash ? ` stroke-dasharray="${st.dash.join(' ')}"` : ''}/>`);
    }
  });
  if (lh) out.push(legend(panel, series, styles, x + 8, plot.y + plot.h + 22, w - 16, lh));
  return out.join('');
}

function thresholdColor(th, v) {
  let c = th?.steps?.[0]?.color ?? 'green';
  for (const s of th?.steps ?? []) if (s.value !== null && v >= s.value) c = s.color;
  return color(c);
}

function mapped(mappings, v) {
  for (const m of mappings ?? []) if (m.type === 'value' && m.options[String(v)]) return m.options[String(v)];
  return null;
}

function drawStat(panel, data, box, range) {
  const { x, y, w, h } = box;
  const d = panel.fieldConfig.defaults;
  const o = panel.options;
  const items = data.series.map((s) => {
    const vals = s.values.filter((p) => Number.isFinite(p[1]));
    return { s, vals, last: vals.length ? vals[vals.length - 1][1] : null };
  });
  if (!items.length) return text(x + w / 2, y + h / 2, 'No data', { fill: C.weak, size: 16, anchor: 'middle' });
  const out = [];
  const iw = w / items.length;
  items.forEach((it, i) => {
    const bx = x + i * iw;
    const m = mapped(d.mappings, it.last);
    const c = m?.color ? color(m.color) : thresholdColor(d.thresholds, it.last);
    const valueText = m?.text ?? formatValue(it.last, d.unit, d.decimals);
    if (o.colorMode === 'background') out.push(`<rect x="${bx + 4}" y="${y + 2}" width="${iw - 8}" height="${h - 6}" rx="3" fill="${c}"/>`);
    if (o.graphMode === 'area' && it.vals.length > 1) {
      const max = Math.max(...it.vals.map((p) => p[1])) || 1;
      const pts = it.vals.map(([t, v]) => `${(bx + ((t - range.start) / (range.end - range.start)) * iw).toFixed(1)},${(y + h - 4 - (v / max) * h * 0.4).toFixed(1)}`);
      out.push(`<polygon points="${bx},${y + h - 4} ${pts.join(' ')} ${bx + iw},${y + h - 4}" fill="${c}" fill-opacity="0.15"/>`, `<polyline points="${pts.join(' ')}" fill="none" stroke="${c}" stroke-opacity="0.6"/>`);
    }
    const fg = o.colorMode === 'background' ? '#fff' : c;
    const name = o.textMode === 'value_and_name' ? it.s.name : null;
    const size = Math.min(h * 0.42, (iw / Math.max(3, valueText.length)) * 1.6, 40);
    if (name) out.push(text(bx + iw / 2, y + h * 0.32, name.slice(0, 40), { fill: fg, size: 12, anchor: 'middle' }));
    out.push(text(bx + iw / 2, y + (name ? h * 0.7 : h * 0.55), valueText, { fill: fg, size, anchor: 'middle', weight: 500, baseline: 'middle' }));
  });
  return out.join('');
}

function drawBarGauge(panel, data, box) {
  const { x, y, w, h } = box;
  const unit = panel.fieldConfig.defaults.unit;
  const items = data.series.map((s) => ({ name: s.name, v: s.values.at(-1)?.[1] })).filter((i) => Number.isFinite(i.v)).sort((a, b) => b.v - a.v);
  if (!items.length) return text(x + w / 2, y + h / 2, 'No data', { fill: C.weak, size: 16, anchor: 'middle' });
  const max = Math.max(...items.map((i) => i.v)) || 1;
  const rowH = Math.min(28, (h - 8) / items.length);
  const nameW = Math.min(260, w * 0.35);
  const valW = 90;
  const out = ['<defs><linearGradient id="blylrd" x1="0" x2="1"><stop offset="0" stop-color="#3274D9"/><stop offset="0.5" stop-color="#FADE2A"/><stop offset="1" stop-color="#F2495C"/></linearGradient></defs>'];
  items.forEach((it, i) => {
    const yy = y + 4 + i * rowH;
    const bw = (w - nameW - valW - 16) * (it.v / max);
    out.push(
      text(x + 8, yy + rowH / 2 + 4, it.name.length > 38 ? '…' + it.name.slice(-37) : it.name, { size: 11 }),
      `<rect x="${x + nameW}" y="${yy + 2}" width="${w - nameW - valW - 16}" height="${rowH - 5}" fill="rgba(204,204,220,0.06)"/>`,
      `<rect x="${x + nameW}" y="${yy + 2}" width="${Math.max(1, bw)}" height="${rowH - 5}" fill="url(#blylrd)"/>`,
      text(x + w - 8, yy + rowH / 2 + 4, formatValue(it.v, unit), { size: 12, anchor: 'end', weight: 500 }),
    );
  });
  return out.join('');
}

const orange = (f) => {
  // Grafana's "Oranges" scheme as the dark theme shows it: few exits dark, many bright.
  const a = [70, 30, 8];
  const b = [255, 160, 60];
  return `rgb(${a.map((c, i) => Math.round(c + (b[i] - c) * f)).join(',')})`;
};

function drawHeatmap(panel, data, box, range) {
  const { x, y, w, h } = box;
  const unit = panel.options.yAxis.unit;
  const buckets = data.series.map((s) => ({ le: s.metric.le === '+Inf' ? Infinity : Number(s.metric.le), values: new Map(s.values.map(([t, v]) => [t, v])) })).sort((a, b) => a.le - b.le);
  if (!buckets.length) return text(x + w / 2, y + h / 2, 'No data', { fill: C.weak, size: 16, anchor: 'middle' });
  const times = [...new Set(buckets.flatMap((b) => [...b.values.keys()]))].sort((a, b) => a - b);
  // Prometheus buckets are cumulative; a heatmap cell is one bucket.
  const cells = [];
  for (const t of times) {
    let prev = 0;
    buckets.forEach((b, i) => {
      const v = b.values.get(t);
      if (!Number.isFinite(v)) return;
      cells.push({ t, i, c: Math.max(0, v - prev) });
      prev = v;
    });
  }
  const max = Math.max(...cells.map((c) => c.c)) || 1;
  const plot = { x: x + 62, y: y + 6, w: w - 70, h: h - 46 };
  const rowH = plot.h / buckets.length;
  const step = times.length > 1 ? Math.min(...times.slice(1).map((t, i) => t - times[i])) : range.step;
  const cw = Math.max(1, (step / (range.end - range.start)) * plot.w);
  const X = (t) => plot.x + ((t - range.start) / (range.end - range.start)) * plot.w;
  const out = [];
  for (const c of cells) {
    if (c.c <= 1e-9) continue;
    const f = Math.pow(c.c / max, 0.5);
    out.push(`<rect x="${(X(c.t) - cw).toFixed(1)}" y="${(plot.y + plot.h - (c.i + 1) * rowH).toFixed(1)}" width="${(cw - 1).toFixed(1)}" height="${(rowH - 1).toFixed(1)}" fill="${orange(f)}"/>`);
  }
  const every = Math.ceil(buckets.length / Math.max(1, Math.floor(plot.h / 14)));
  buckets.forEach((b, i) => {
    if (i % every) return;
    out.push(text(plot.x - 6, plot.y + plot.h - i * rowH - rowH / 2 + 3, b.le === Infinity ? '+Inf' : formatValue(b.le, unit), { fill: C.weak, size: 10, anchor: 'end' }));
  });
  out.push(timeAxis(plot.x, plot.x + plot.w, plot.y + plot.h + 14, range.start, range.end));
  // Colour scale.
  const lx = x + w - 200;
  const ly = y + h - 12;
  out.push(`<defs><linearGradient id="oranges-${panel.id}" x1="0" x2="1"><stop offset="0" stop-color="${orange(0)}"/><stop offset="1" stop-color="${orange(1)}"/></linearGradient></defs>`);
  out.push(text(lx - 6, ly + 4, '0', { fill: C.weak, size: 10, anchor: 'end' }), `<rect x="${lx}" y="${ly - 4}" width="120" height="8" fill="url(#oranges-${panel.id})"/>`, text(lx + 126, ly + 4, formatValue(max, panel.options.cellValues?.unit ?? 'short'), { fill: C.weak, size: 10 }));
  return out.join('');
}

function drawStateTimeline(panel, data, box, range) {
  const { x, y, w, h } = box;
  const d = panel.fieldConfig.defaults;
  const series = data.series;
  if (!series.length) return text(x + w / 2, y + h / 2, 'No data', { fill: C.weak, size: 16, anchor: 'middle' });
  const labelW = Math.min(220, Math.max(...series.map((s) => s.name.length)) * 6.5 + 12);
  const states = d.mappings.flatMap((m) => Object.values(m.options)).sort((a, b) => a.index - b.index);
  const plot = { x: x + labelW, y: y + 4, w: w - labelW - 8, h: h - 48 };
  const rowH = plot.h / series.length;
  const X = (t) => plot.x + ((t - range.start) / (range.end - range.start)) * plot.w;
  const out = [];
  series.forEach((s, i) => {
    const yy = plot.y + i * rowH;
    out.push(text(plot.x - 8, yy + rowH / 2 + 4, s.name, { size: 11, anchor: 'end' }));
    const pts = s.values.filter((p) => Number.isFinite(p[1]));
    for (let j = 0; j < pts.length; ) {
      let k = j;
      while (k + 1 < pts.length && pts[k + 1][1] === pts[j][1] && pts[k + 1][0] - pts[k][0] <= range.step * 1.5) k++;
      const m = mapped(d.mappings, pts[j][1]);
      const x0 = X(pts[j][0]);
      const x1 = Math.min(plot.x + plot.w, k + 1 < pts.length ? X(pts[k + 1][0]) : X(pts[k][0] + range.step));
      out.push(`<rect x="${x0.toFixed(1)}" y="${(yy + rowH * 0.05).toFixed(1)}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="${(rowH * 0.9).toFixed(1)}" fill="${m ? color(m.color) : C.weak}" fill-opacity="0.8"/>`);
      if (m && x1 - x0 > m.text.length * 7 + 8) out.push(text(x0 + 4, yy + rowH / 2 + 4, m.text, { size: 11, fill: '#111' }));
      j = k + 1;
    }
  });
  out.push(timeAxis(plot.x, plot.x + plot.w, plot.y + plot.h + 14, range.start, range.end));
  let lx = x + 8;
  for (const s of states) {
    out.push(`<rect x="${lx}" y="${y + h - 18}" width="12" height="8" fill="${color(s.color)}"/>`, text(lx + 16, y + h - 10, s.text, { size: 10 }));
    lx += 28 + s.text.length * 6;
  }
  return out.join('');
}

function drawTable(panel, data, box) {
  const { x, y, w, h } = box;
  const d = panel.fieldConfig.defaults;
  const multi = panel.targets.length > 1;
  const rows = new Map();
  for (const s of data.series) {
    const key = JSON.stringify(Object.entries(s.metric).filter(([k]) => k !== '__name__').sort());
    const row = rows.get(key) ?? { ...Object.fromEntries(Object.entries(s.metric).filter(([k]) => k !== '__name__')) };
    row[multi ? `Value #${s.refId}` : 'Value'] = s.values.at(-1)?.[1];
    rows.set(key, row);
  }
  const org = panel.transformations?.find((t) => t.id === 'organize')?.options ?? { excludeByName: {}, renameByName: {} };
  const valueCols = multi ? panel.targets.map((t) => `Value #${t.refId}`) : ['Value'];
  const labelCols = [...new Set([...rows.values()].flatMap((r) => Object.keys(r)))].filter((k) => !valueCols.includes(k)).sort();
  const cols = [...labelCols, ...valueCols].filter((c) => !org.excludeByName?.[c]);
  const name = (c) => org.renameByName?.[c] || c;
  const colorFor = (c, v) => {
    for (const o of panel.fieldConfig.overrides ?? []) if (o.matcher.id === 'byName' && o.matcher.options === name(c)) for (const p of o.properties) if (p.id === 'thresholds') return thresholdColor(p.value, v);
    return C.text;
  };
  if (!rows.size) return text(x + w / 2, y + h / 2, 'No data', { fill: C.weak, size: 16, anchor: 'middle' });
  const cw = (w - 16) / cols.length;
  const out = [`<rect x="${x}" y="${y}" width="${w}" height="24" fill="rgba(204,204,220,0.04)"/>`];
  cols.forEach((c, i) => out.push(text(x + 8 + i * cw, y + 16, name(c), { size: 11, fill: '#6e9fff', weight: 500 })));
  [...rows.values()].slice(0, Math.floor((h - 28) / 24)).forEach((r, j) => {
    const yy = y + 24 + j * 24;
    out.push(`<line x1="${x}" x2="${x + w}" y1="${yy}" y2="${yy}" stroke="${C.border}"/>`);
    cols.forEach((c, i) => {
      const v = r[c];
      const isVal = valueCols.includes(c);
      const s = isVal ? formatValue(v, d.unit) : v === undefined || v === '' ? '' : String(v);
      const maxChars = Math.floor(cw / 6.3);
      out.push(text(x + 8 + i * cw, yy + 16, s.length > maxChars ? s.slice(0, maxChars - 1) + '…' : s, { size: 11, fill: isVal ? colorFor(c, v) : C.text }));
    });
  });
  return out.join('');
}

const DRAW = { timeseries: drawTimeseries, stat: drawStat, bargauge: drawBarGauge, heatmap: drawHeatmap, 'state-timeline': drawStateTimeline, table: drawTable };

// ---- a dashboard -----------------------------------------------------------------------------------

async function fillVariables(prom, d, given, range) {
  const ctx = { vars: { datasource: ['prometheus'] }, multi: new Set(), builtins: {} };
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    if (v.multi || v.includeAll) ctx.multi.add(v.name);
    const want = given[`${d.uid}.${v.name}`] ?? given[v.name];
    let values = want;
    if (!values) {
      const m = /^label_values\((.*),\s*(\w+)\)$/.exec(v.query);
      const all = (await api(prom, `label/${m[2]}/values`, { 'match[]': interpolate(m[1], ctx), start: range.start, end: range.end })).sort();
      values = v.multi || v.includeAll ? all : all.slice(0, 1);
      ctx.all = { ...(ctx.all ?? {}), [v.name]: v.includeAll };
    }
    ctx.vars[v.name] = values;
  }
  return ctx;
}

async function panelData(prom, panel, ctx, range) {
  const series = [];
  for (const t of panel.targets) {
    const expr = interpolate(t.expr, ctx);
    if (t.instant) {
      const r = await api(prom, 'query', { query: expr, time: range.end });
      for (const s of r.result) series.push({ refId: t.refId, metric: s.metric, name: labelText(t.legendFormat, s.metric), values: [[Number(s.value[0]), Number(s.value[1])]] });
    } else {
      const r = await api(prom, 'query_range', { query: expr, start: range.start, end: range.end, step: range.step });
      for (const s of r.result) series.push({ refId: t.refId, metric: s.metric, name: labelText(t.legendFormat, s.metric), values: s.values.map(([ts, v]) => [Number(ts), Number(v)]) });
    }
  }
  return { series };
}

/** The dashboard as one HTML page of SVG panels laid out on Grafana's grid. */
export async function renderDashboard(prom, d, given, range) {
  const ctx = await fillVariables(prom, d, given, range);
  const span = range.end - range.start;
  const interval = Math.max(range.scrape, Math.ceil(span / 1000));
  ctx.builtins = { __interval: `${interval}s`, __rate_interval: `${Math.max(interval + range.scrape, 4 * range.scrape)}s`, __range: `${Math.round(span)}s` };
  range = { ...range, step: interval };
  const colW = (PAGE_W - 2 * PAD + GAP) / 24;
  const bottom = Math.max(...d.panels.map((p) => p.gridPos.y + p.gridPos.h));
  const height = HEADER_H + bottom * (CELL_H + GAP) + PAD;
  const out = [];
  const varText = d.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => `${v.label}: ${ctx.all?.[v.name] ? 'All' : ctx.vars[v.name].join(', ')}`)
    .join('     ');
  out.push(text(PAD, 30, d.title, { size: 20, weight: 500 }), text(PAD, 56, `Data source: Prometheus     ${varText}`, { fill: C.weak, size: 12 }), text(PAGE_W - PAD, 30, `${new Date(range.start * 1000).toISOString().slice(0, 19).replace('T', ' ')} to ${new Date(range.end * 1000).toISOString().slice(11, 19)} UTC`, { fill: C.weak, size: 12, anchor: 'end' }));
  for (const p of d.panels) {
    const px = PAD + p.gridPos.x * colW;
    const py = HEADER_H + p.gridPos.y * (CELL_H + GAP);
    const pw = p.gridPos.w * colW - GAP;
    const ph = p.gridPos.h * CELL_H + (p.gridPos.h - 1) * GAP;
    const title = interpolate(p.title, { ...ctx, multi: new Set() });
    if (p.type === 'row') {
      out.push(text(px, py + 20, title, { size: 15, weight: 500 }));
      continue;
    }
    const data = await panelData(prom, p, ctx, range);
    out.push(`<rect x="${px}" y="${py}" width="${pw}" height="${ph}" rx="2" fill="${C.panel}" stroke="${C.border}"/>`, text(px + 8, py + 18, title, { size: 13, weight: 500 }));
    // A nested <svg> per panel clips whatever a panel draws to the panel.
    out.push(`<svg x="${px + 4}" y="${py + 28}" width="${pw - 8}" height="${ph - 32}" overflow="hidden">${DRAW[p.type](p, data, { x: 0, y: 0, w: pw - 8, h: ph - 32 }, range)}</svg>`);
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${PAGE_W}" height="${height}" font-family="Inter, 'DejaVu Sans', Helvetica, Arial, sans-serif">${out.join('\n')}</svg>`;
  return { html: `<!doctype html><html><head><meta charset="utf-8"><style>html,body{margin:0;background:${C.bg}}</style></head><body>${svg}</body></html>`, height };
}

/** Headless Chromium's screenshot of an HTML file. */
function screenshot(htmlFile, png, height) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-chromium-'));
  try {
    execFileSync(
      'chromium',
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--hide-scrollbars', '--force-device-scale-factor=1', `--user-data-dir=${profile}`, `--window-size=${PAGE_W},${height}`, `--screenshot=${png}`, `file://${htmlFile}`],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 },
    );
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      prometheus: { type: 'string', default: 'http://127.0.0.1:9090' },
      start: { type: 'string' },
      end: { type: 'string' },
      'scrape-interval': { type: 'string', default: '15' },
      var: { type: 'string', multiple: true, default: [] },
      out: { type: 'string', default: path.join(DIR, '../docs/images') },
      dashboard: { type: 'string', multiple: true },
      html: { type: 'boolean', default: false },
    },
  });
  const end = values.end ? Number(values.end) : Date.now() / 1000;
  const start = values.start ? Number(values.start) : end - 3600;
  const given = {};
  for (const v of values.var) {
    const m = /^([\w.-]+)=(.*)$/.exec(v);
    if (!m) throw new Error(`--var ${v}: expected name=value[,value] or UID.name=value`);
    given[m[1]] = m[2].split(',');
  }
  const files = values.dashboard ?? fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
  fs.mkdirSync(values.out, { recursive: true });
  for (const f of files) {
    const d = JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'));
    const { html, height } = await renderDashboard(values.prometheus, d, given, { start, end, scrape: Number(values['scrape-interval']) });
    const base = path.join(values.out, f.replace(/\.json$/, ''));
    fs.writeFileSync(`${base}.html`, html);
    if (!values.html) {
      screenshot(path.resolve(`${base}.html`), path.resolve(`${base}.png`), height);
      fs.rmSync(`${base}.html`);
    }
    console.log(`rendered ${path.relative(process.cwd(), base)}.${values.html ? 'html' : 'png'}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`render: ${err.message}`);
    process.exitCode = 1;
  });
}
