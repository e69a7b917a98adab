/**
 * The text of the agent's own metric families, written the way prom-client writes them but
 * without rebuilding every label set for every line. A scrape of 2,000 groups is ~86,000 lines;
 * prom-client's generic path spreads, filters, escapes and joins each line's labels (~4 µs a line).
 * Here a line's label text comes from objects kept across scrapes: `sharedLabels` (the group)
 * and `labels` (le, outcome, resource) are formatted once per object and reused.
 *
 * Output is byte for byte prom-client's (test/metrics/exposition.test.ts holds the two to it);
 * families other than the snapshot's (prom-client's default process metrics) take its own path.
 */
import client from 'prom-client';

export type Labels = Readonly<Record<string, string | number>>;

/** One sample, as prom-client's Metric.get() returns them. */
export interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
  sharedLabels?: Labels;
}

/** A family whose samples can be written by SnapshotRegistry. */
export interface Family {
  name: string;
  help: string;
  type: string;
  samples(): Sample[];
}

function escapeString(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(v: string | number): string {
  return typeof v === 'string' ? escapeString(v).replace(/"/g, '\\"') : String(v);
}

function valueString(v: number): string {
  if (Number.isNaN(v)) return 'Nan';
  if (!Number.isFinite(v)) return v < 0 ? '-Inf' : '+Inf';
  return `${v}`;
}

function formatLabels(labels: Labels, exclude?: Labels): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(labels)) if (!exclude || !Object.prototype.hasOwnProperty.call(exclude, k)) out.push(`${k}="${escapeLabelValue(v)}"`);
  return out;
}

/** A registry that writes Family metrics itself and everything else through prom-client. */
export class SnapshotRegistry extends client.Registry<client.RegistryContentType> {
  private defaults: Labels = {};
  /**
   * label object -> shared-label key set -> its text, default labels merged (prom-client's
   * order: own, then defaults) and shared keys left out.
   */
  private ownText = new WeakMap<Labels, Map<string, string>>();
  /** sharedLabels object -> its text and key set. */
  private sharedText = new WeakMap<Labels, { text: string; keys: string }>();

  override setDefaultLabels(labels: object): void {
    super.setDefaultLabels(labels);
    this.defaults = { ...(labels as Labels) };
    this.ownText = new WeakMap();
  }

  /** prom-client calls this once per registered metric from metrics(). */
  async getMetricsAsString(metric: client.Metric | Family): Promise<string> {
    if (!isFamily(metric)) return (client.Registry.prototype as unknown as GenericFormatter).getMetricsAsString.call(this, metric);
    return this.format(metric);
  }

  /** prom-client's own text for a family (what format() must equal). */
  generic(metric: Family): Promise<string> {
    const asMetric = { name: metric.name, get: () => Promise.resolve({ name: metric.name, help: metric.help, type: metric.type, values: metric.samples() }) };
    return (client.Registry.prototype as unknown as GenericFormatter).getMetricsAsString.call(this, asMetric);
  }

  format(metric: Family): string {
    const om = this.contentType === client.Registry.OPENMETRICS_CONTENT_TYPE;
    const name = escapeString(metric.name);
    const lines = [`# HELP ${name} ${escapeString(metric.help)}`, `# TYPE ${name} ${metric.type}`];
    const suffix = om && metric.type === 'counter' ? '_total' : '';
    for (const s of metric.samples()) {
      const own = this.labelText(s.labels, s.sharedLabels);
      const shared = s.sharedLabels ? this.shared(s.sharedLabels).text : '';
      const all = own && shared ? `${own},${shared}` : own || shared;
      lines.push(`${s.metricName ?? name}${suffix}${all ? `{${all}}` : ''} ${valueString(s.value)}`);
    }
    return lines.join('\n');
  }

  private labelText(labels: Labels, shared: Labels | undefined): string {
    // Which keys are left out depends on the shared labels' keys: cache per key set.
    const keys = shared ? this.shared(shared).keys : '';
    if (Object.isFrozen(labels)) {
      let byKeys = this.ownText.get(labels);
      if (!byKeys) this.ownText.set(labels, (byKeys = new Map<string, string>()));
      let text = byKeys.get(keys);
      if (text === undefined) byKeys.set(keys, (text = this.formatOwn(labels, shared)));
      return text;
    }
    return this.formatOwn(labels, shared);
  }

  private formatOwn(labels: Labels, shared: Labels | undefined): string {
    return formatLabels({ ...labels, ...this.defaults, ...labels }, shared).join(',');
  }

  private shared(labels: Labels): { text: string; keys: string } {
    let entry = this.sharedText.get(labels);
    if (entry === undefined) {
      entry = { text: formatLabels(labels).join(','), keys: Object.keys(labels).join(',') };
      this.sharedText.set(labels, entry);
    }
    return entry;
  }
}

interface GenericFormatter {
  getMetricsAsString(metric: unknown): Promise<string>;
}

function isFamily(m: unknown): m is Family {
  return typeof (m as Family).samples === 'function';
}
