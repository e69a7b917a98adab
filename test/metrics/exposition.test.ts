/**
 * The agent writes its own families' text (src/metrics/exposition.ts) instead of prom-client's
 * generic path: the two must agree byte for byte, for both content types, across scrapes whose
 * groups come and go, with label values that need escaping.
 */
import { describe, expect, it } from 'vitest';
import { LIFETIME_BUCKETS, zeroTotals } from '../../src/groups/registry.js';
import { SnapshotRegistry, type Family } from '../../src/metrics/exposition.js';
import { buildRegistry, type GroupSample, type Snapshot } from '../../src/metrics/registry.js';
import { RESTART_LATENCY_BUCKETS } from '../../src/supervisor/service.js';

function group(name: string, n: number): GroupSample {
  const buckets = new Float64Array(LIFETIME_BUCKETS.length + 1).map((_, i) => (i * n) % 7);
  return {
    name,
    cgroup: `/${name}`,
    kind: 'cgroup',
    tasks: n,
    threads: 2 * n,
    totals: { ...zeroTotals(), forks: 10 * n, execs: n, exitsSuccess: n, exitsFailure: 1, exitsSignaled: 0, cpuNs: 1.5e9 * n },
    lifetime: { buckets, sum: 0.25 * n, count: buckets.reduce((a, b) => a + b, 0) },
    releases: n,
  };
}

function snapshot(names: string[]): Snapshot {
  return {
    groups: names.map((n, i) => group(n, i + 1)),
    eventsRead: { fork: 5, exit: 4 },
    eventsLost: { fork: 0, exit: 0 },
    counterMapFull: 0,
    groupsOverflow: 2,
    resyncs: 3,
    resyncCorrections: { removed: 300, added: 2, updated: 1 },
    bpf: [{ name: 'fw_fork', runTimeNs: 1234, runCount: 10, recursionMisses: 0 }],
    beancounters: names.flatMap((g) => [
      { group: g, resource: 'tasks', held: 3, maxheld: 5, minheld: 0, barrier: 4, limit: 8, barrierHits: 1, failcnt: 0 },
      { group: g, resource: 'cpu_cores', held: 0.5, maxheld: 1, minheld: 0, barrierHits: 0, failcnt: 0 },
    ]),
    programs: [
      {
        name: 'ids',
        state: 'running',
        restarts: 3,
        lastExitCode: 1,
        latency: { buckets: new Float64Array(RESTART_LATENCY_BUCKETS.length + 1).fill(1), sum: 0.02, count: 17 },
      },
      {
        name: 'never',
        state: 'failed',
        restarts: 0,
        lastExitCode: null,
        latency: { buckets: new Float64Array(RESTART_LATENCY_BUCKETS.length + 1), sum: 0, count: 0 },
      },
    ],
  };
}

const NAMES = ['nginx.service', 'web "blue"', 'back\\slash', 'new\nline', '/'];

function families(reg: SnapshotRegistry): Family[] {
  return reg.getMetricsAsArray().filter((m): m is never => typeof (m as unknown as Family).samples === 'function');
}

describe('SnapshotRegistry', () => {
  for (const type of ['prometheus', 'openmetrics'] as const) {
    it(`writes every family of the snapshot exactly as prom-client does (${type})`, async () => {
      let snap = snapshot(NAMES);
      const reg = buildRegistry(type, () => snap, 'node-1') as SnapshotRegistry;
      expect(families(reg).length).toBeGreaterThan(20);
      // Three scrapes: the label objects kept across scrapes must follow groups that come and go.
      const texts: string[] = [];
      for (const names of [NAMES, NAMES.slice(2), ['fresh', ...NAMES.slice(0, 2)]]) {
        snap = snapshot(names);
        texts.push(await reg.metrics()); // renames counters in place for OpenMetrics, as a real scrape does
        for (const f of families(reg)) expect(reg.format(f), f.name).toBe(await reg.generic(f));
      }
      expect(texts[0]).toContain('group="web \\"blue\\""');
      expect(texts[0]).toContain('group="new\\nline"');
      expect(texts[0]).toContain('group="back\\\\slash"');
      expect(texts[1]).not.toContain('group="nginx.service"');
      expect(texts[2]).not.toContain('group="back');
      expect(texts[2]).toContain('forkwatch_forks_total{group="fresh",node="node-1"} 10');
    });
  }

  it('leaves prom-client default metrics to prom-client', async () => {
    const reg = buildRegistry('prometheus', () => snapshot(['a']), 'n') as SnapshotRegistry;
    const text = await reg.metrics();
    expect(text).toMatch(/^process_cpu_seconds_total\{node="n"\} /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes\{node="n"\} /m);
  });
});
