/**
 * `forkwatch run` scraped by a real Prometheus while this test drives workloads in cgroups it
 * makes: PromQL must return exactly what the workloads did.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { memoryLimit, requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { TestPrometheus } from '../helpers/prometheus.js';
import { workload } from '../helpers/workloads.js';

describe('forkwatch run, scraped by Prometheus', () => {
  let agent: TestAgent;
  let prom: TestPrometheus;
  let pre: TestCgroup;
  const wl = TestCgroup.create('wl');
  const burn = TestCgroup.create('burn');
  const churn = TestCgroup.create('churn');
  const dying = TestCgroup.create('dying');
  const cleanup: TestCgroup[] = [wl, burn, churn, dying];

  beforeAll(async () => {
    requireRoot();
    // A process that runs before the agent starts must be counted from the first scrape.
    pre = TestCgroup.create('pre');
    cleanup.push(pre);
    pre.run('exec sleep 300');
    await until(() => pre.pids().length === 1, 'the pre-existing sleep');
    agent = await TestAgent.start(
      [
        'groups:',
        '  - name: idle-configured',
        '    match: { cgroup: /forkwatch-never-used }',
        '  - name: workload',
        `    match: { cgroup: "${wl.path}" }`,
        '  - name: burner',
        `    match: { cgroup: "${burn.path}" }`,
        '  - name: dying',
        `    match: { cgroup: "${dying.path}" }`,
        'group_settings:',
        '  max_groups: 50',
      ].join('\n'),
    );
    prom = await TestPrometheus.start([`127.0.0.1:${agent.port}`]);
    await prom.waitFor('up{job="forkwatch"}', (v) => v === 1);
  });

  afterAll(async () => {
    await prom?.stop();
    await agent?.stop();
    for (const cg of cleanup) await cg.remove();
  });

  it('counts exactly the forks, execs and exits by outcome of a workload, and live tasks', async () => {
    const script = [
      'for ((i = 0; i < 60; i++)); do ( exit 0 ); done',
      'for ((i = 0; i < 30; i++)); do ( exit 3 ); done',
      'for ((i = 0; i < 10; i++)); do ( kill -KILL $BASHPID ); done',
      'for ((i = 0; i < 20; i++)); do /bin/true; done',
      'sleep 300 & sleep 300 & sleep 300 &',
      'exit 0',
    ].join('\n');
    const run = await wl.exec(script);
    expect(run.code).toBe(0);
    const g = 'group="workload"';
    await prom.waitFor(`forkwatch_exits_total{${g},outcome="success"}`, (v) => v === 81);
    expect(await prom.value(`forkwatch_forks_total{${g}}`)).toBe(123);
    expect(await prom.value(`forkwatch_execs_total{${g}}`)).toBe(24);
    expect(await prom.value(`forkwatch_exits_total{${g},outcome="failure"}`)).toBe(30);
    expect(await prom.value(`forkwatch_exits_total{${g},outcome="signaled"}`)).toBe(10);
    expect(await prom.value(`forkwatch_tasks{${g}}`)).toBe(wl.pids().length);
    expect(wl.pids()).toHaveLength(3);
    expect(await prom.value(`forkwatch_process_lifetime_seconds_count{${g}}`)).toBe(121);
    expect(await prom.value(`forkwatch_group_info{${g}}`)).toBe(1);
  });

  it('counts OOM kills and exits by signal exactly, from the kernel rows (no records flow for the group)', async () => {
    const limit = memoryLimit(dying, 32 << 20);
    try {
      const script = [
        'ulimit -c 0',
        'for ((i = 0; i < 3; i++)); do ( kill -KILL $BASHPID ); done',
        'for ((i = 0; i < 2; i++)); do ( kill -TERM $BASHPID ); done',
        '( kill -HUP $BASHPID )',
        `( ${limit.enter}; exec /usr/bin/python3 -c 'b = b"x" * (256 << 20)' )`,
        'exit 0',
      ].join('\n');
      const run = await dying.exec(script);
      expect(run.code).toBe(0);
      const g = 'group="dying"';
      await prom.waitFor(`forkwatch_exits_total{${g},outcome="signaled"}`, (v) => v === 7);
      expect(await prom.value(`forkwatch_oom_kills_total{${g}}`)).toBe(1);
      expect(await prom.value(`forkwatch_exits_signaled_total{${g},signal="SIGKILL"}`)).toBe(4);
      expect(await prom.value(`forkwatch_exits_signaled_total{${g},signal="SIGTERM"}`)).toBe(2);
      expect(await prom.value(`forkwatch_exits_signaled_total{${g},signal="SIGHUP"}`)).toBe(1);
      // Always there at zero, so a rate starts at the first one; others only once seen.
      expect(await prom.value(`forkwatch_exits_signaled_total{${g},signal="SIGSEGV"}`)).toBe(0);
      expect(await prom.query(`forkwatch_exits_signaled_total{${g},signal="SIGUSR1"}`)).toEqual([]);
      expect(await prom.value(`sum(forkwatch_exits_signaled_total{${g}})`)).toBe(7);
      expect(await prom.value(`forkwatch_oom_kills_total{group="workload"}`)).toBe(0);
    } finally {
      await limit.remove();
    }
  });

  it('counts processes that were running before the agent started', async () => {
    expect(await prom.value(`forkwatch_tasks{group="${pre.path}"}`)).toBe(1);
    const info = await prom.query(`forkwatch_group_info{group="${pre.path}"}`);
    expect(info[0]?.metric).toMatchObject({ cgroup: pre.path, kind: 'cgroup' });
  });

  it('exports a configured group that never had a process, with zeros', async () => {
    const g = 'group="idle-configured"';
    expect(await prom.value(`forkwatch_tasks{${g}}`)).toBe(0);
    expect(await prom.value(`forkwatch_forks_total{${g}}`)).toBe(0);
    expect(await prom.value(`sum(forkwatch_exits_total{${g}})`)).toBe(0);
    expect(await prom.value(`forkwatch_cpu_seconds_total{${g}}`)).toBe(0);
  });

  it("accounts CPU within 3% of the kernel's own cpu.stat", async () => {
    const run = await burn.exec(`${workload('burn')} 2`);
    expect(run.code).toBe(0);
    const usage = Number(/usage_usec (\d+)/.exec(fs.readFileSync(path.join(burn.dir, 'cpu.stat'), 'utf8'))![1]) / 1e6;
    expect(usage).toBeGreaterThan(1.5);
    await prom.nextScrape();
    const got = (await prom.value('forkwatch_cpu_seconds_total{group="burner"}'))!;
    expect(Math.abs(got - usage) / usage).toBeLessThan(0.03);
  });

  it('keeps the series count bounded by the group cap while 5,000 short-lived cgroups come and go', async () => {
    const churner = workload('cgchurn');
    const r = await churn.exec(`${churner} ${churn.dir} 5000`);
    expect(r.code).toBe(0);
    await prom.nextScrape();
    await prom.nextScrape();
    const overflow = (await prom.value('forkwatch_groups_overflow_total'))!;
    expect(overflow).toBeGreaterThan(0);
    // 50 dynamic groups at most, plus the 4 configured ones and "other".
    const maxGroups = (await prom.value('max_over_time(forkwatch_groups[5m])'))!;
    expect(maxGroups).toBeLessThanOrEqual(55);
    const series = (await prom.value('max_over_time(scrape_series_added[5m])'))!;
    expect(series).toBeLessThan(5000);
    expect((await prom.value('count(forkwatch_tasks)'))!).toBeLessThanOrEqual(55);
  });
});
