/**
 * export.otlp through the whole agent (`forkwatch run`): a real workload's processes in a cgroup
 * made here arrive at a real OTLP/HTTP receiver as log records, decoded with the official schema,
 * with the semantic-convention attributes taken from the kernel's records.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedRecord } from '../helpers/otlp-receiver.js';

describe('export.otlp, through the agent', () => {
  const cg = TestCgroup.create('otlp');
  let rx: OtlpReceiver;
  let agent: TestAgent;

  beforeAll(async () => {
    requireRoot();
    rx = await startOtlpReceiver();
    agent = await TestAgent.start(['node_name: otlp-node', 'export:', '  otlp:', `    endpoint: ${rx.url}`, '    flush_interval: 50ms'].join('\n'));
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
});
