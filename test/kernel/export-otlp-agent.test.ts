/**
 * export.otlp through the whole agent (`forkwatch run`): a real workload's processes in a cgroup
 * made here arrive at a real OTLP/HTTP receiver as log records, decoded with the official schema,
 * with the semantic-convention attributes taken from the kernel's records; the exporter is fed
 * like the others (its filter, its counts in /metrics), and a bad filter stops the agent in one line.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedRecord } from '../helpers/otlp-receiver.js';
import { metric, scrapeUntil } from './scrape.js';

describe('export.otlp, through the agent', () => {
  const cg = TestCgroup.create('otlp');
  let rx: OtlpReceiver;
  let agent: TestAgent;

  beforeAll(async () => {
    requireRoot();
    rx = await startOtlpReceiver();
    agent = await TestAgent.start(
      ['node_name: otlp-node', 'export:', '  otlp:', `    endpoint: ${rx.url}`, '    flush_interval: 50ms', '    filter:', `      cgroup: ${cg.path}`].join(
        '\n',
      ),
    );
  });

  afterAll(async () => {
    await agent?.stop();
    await rx?.close();
    await cg.remove();
  });

  it("a workload's exec and exit arrive as records with process.* attributes and the agent's resource", async () => {
    const ran = await cg.exec('/bin/sleep 0.01; exit 3');
    expect(ran.code).toBe(3);
    const mine = (r: ReceivedRecord) => r.attributes['forkwatch.cgroup.path'] === cg.path;
    const find = (pred: (r: ReceivedRecord) => boolean) => rx.accepted.find((r) => mine(r) && pred(r));
    await until(
      () => find((r) => r.record.eventName === 'forkwatch.exit' && r.attributes['process.pid'] === ran.pid) !== undefined,
      () => `the shell's exit among ${rx.accepted.length} records`,
      20_000,
    );
    const sleepExec = find((r) => r.record.eventName === 'forkwatch.exec' && r.attributes['process.executable.path'] === '/bin/sleep');
    expect(sleepExec?.attributes).toMatchObject({
      'process.parent_pid': ran.pid,
      'process.command_args': ['/bin/sleep', '0.01'],
      'process.executable.name': 'sleep',
      'process.user.id': 0,
    });
    const shellExit = find((r) => r.record.eventName === 'forkwatch.exit' && r.attributes['process.pid'] === ran.pid)!;
    expect(shellExit.attributes['process.exit.code']).toBe(3);
    expect(shellExit.record.severityText).toBe('WARN');
    expect(shellExit.resource).toMatchObject({ 'service.name': 'forkwatch', 'host.name': 'otlp-node' });
    // One record per event: the stream's seq numbers are never repeated.
    const seqs = rx.accepted.map((r) => r.attributes['forkwatch.seq']);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('fed through its filter like every exporter: only the cgroup, each record counted sent in /metrics', async () => {
    const text = await scrapeUntil(agent, (t) => metric(t, 'forkwatch_export_queued_events', 'exporter="otlp"') === 0);
    expect(rx.accepted.length).toBeGreaterThan(0);
    expect(rx.accepted.filter((r) => r.attributes['forkwatch.cgroup.path'] !== cg.path)).toEqual([]);
    expect(metric(text, 'forkwatch_export_events_total', 'exporter="otlp",outcome="sent"')).toBe(rx.accepted.length);
    expect(metric(text, 'forkwatch_export_events_total', 'exporter="otlp",outcome="dropped"')).toBe(0);
  });

  it('a bad filter value stops the agent at start: one line, exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-otlp-'));
    try {
      const file = join(dir, 'c.yaml');
      writeFileSync(
        file,
        `listen: "127.0.0.1:${await freePort()}"\napi: { socket: ${join(dir, 'api.sock')} }\nexport:\n  otlp:\n    endpoint: ${rx.url}\n    filter: { events: forks }\n`,
      );
      const r = runCli(['run', '--config', file]);
      expect(r.code).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toEqual([
        'forkwatch: config export.otlp.filter: events: unknown event type "forks"; expected a comma-separated list of fork, exec, exit, migrate, barrier, limit, release, restart, health',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
