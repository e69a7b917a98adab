/**
 * The per-cgroup counter map under cgroup churn, with a map much smaller than the churn and rmdir
 * records lost: rows of removed cgroups must still be retired (their final counts returned to be
 * folded into their group), so new cgroups keep finding room, and no live cgroup's row is touched.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectHierarchy } from '../../src/host/cgroupfs.js';
import { EventSource } from '../../src/events/source.js';
import type { CounterRow } from '../../src/events/decode.js';
import { createLogger } from '../../src/log.js';
import { loadBinding } from '../../src/host/binding.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup } from '../helpers/cgroup.js';
import { workload } from '../helpers/workloads.js';
import { metric, scrapeUntil } from './scrape.js';

const ROUNDS = 8;
const PER_ROUND = 100;

describe('counter map under churn, records lost', () => {
  let source: EventSource;
  const live = TestCgroup.create('rows-live');
  const parent = TestCgroup.create('rows-churn');

  beforeAll(() => {
    requireRoot();
    // Never started: nothing reads the 4 KiB ring, so all but the first records are lost.
    source = new EventSource(loadBinding(), {
      hierarchy: detectHierarchy('v2'),
      log: createLogger({ quiet: true }),
      probe: { ringBytes: 4096, counterEntries: 256, cpuAccounting: false },
    });
  });

  afterAll(async () => {
    source?.close();
    await live.remove();
    await parent.remove();
  });

  it("retires every removed cgroup's row with its final counts, and keeps live rows exact", async () => {
    const churned = new Set<number>();
    const taken: CounterRow[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const dir = TestCgroup.create(`r${round}`, { parent: parent.path });
      const r = await parent.exec(`exec ${workload('cgchurn')} ${dir.dir} ${PER_ROUND}`);
      expect(r.code).toBe(0);
      for (const id of r.stdout.trim().split('\n').map(Number)) churned.add(id);
      await dir.remove();
      // What the agent's tick does, with no rmdir record read.
      expect((await live.exec(`exec ${workload('forkn')} 50`)).code).toBe(0);
      taken.push(...source.retireCounters([]));
    }
    expect(churned.size).toBe(ROUNDS * PER_ROUND);
    expect(source.stats().lost.cgroup_rmdir).toBeGreaterThan((ROUNDS * PER_ROUND) / 2);

    // Room was never short, though the churn was three times the map.
    expect(source.stats().counterFull).toBe(0);
    const left = source.counters();
    expect(left.filter((row) => churned.has(row.cgroupId))).toEqual([]);
    expect(left.length).toBeLessThan(64);

    // Each churned cgroup's row came back once, final: the one exit of the child that ran in it.
    const mine = taken.filter((row) => churned.has(row.cgroupId));
    expect(new Set(mine.map((row) => row.cgroupId)).size).toBe(mine.length);
    expect(mine).toHaveLength(ROUNDS * PER_ROUND);
    expect(mine.every((row) => row.removed && row.exitsSuccess === 1 && row.forks === 0)).toBe(true);

    // The live cgroup's row was never taken, and it is exact: per round sh exec'd bash exec'd
    // forkn, which forked 50 children; each of the 51 exited 0.
    expect(taken.some((row) => row.cgroupId === live.id)).toBe(false);
    const l = left.find((row) => row.cgroupId === live.id)!;
    expect(l).toMatchObject({ forks: ROUNDS * 50, execs: ROUNDS * 2, exitsSuccess: ROUNDS * 51, exitsFailure: 0, exitsSignaled: 0, removed: false });
    // The churn's parent, live too: cgchurn forked each child there.
    expect(left.find((row) => row.cgroupId === parent.id)).toMatchObject({ forks: ROUNDS * PER_ROUND, removed: false });
  });
});

describe('counter map under churn, through the agent', () => {
  const flood = TestCgroup.create('rows-agent-flood');
  const parent = TestCgroup.create('rows-agent-churn');
  let agent: TestAgent;

  beforeAll(async () => {
    requireRoot();
    // A 16 KiB ring read every 100 ms: a fork storm fills it, and the rmdir records made meanwhile
    // are lost; the mkdir records, made at a gentle pace, are read (so the cgroups are named).
    agent = await TestAgent.start(
      [
        'bpf:',
        '  ring_buffer_bytes: 16KiB',
        '  flush_interval: 100ms',
        '  counter_entries: 256',
        '  cpu_accounting: false',
        'groups:',
        '  - name: flood',
        `    match: { cgroup: "${flood.path}" }`,
        '  - name: churn',
        `    match: { cgroup: "${parent.path}/**" }`,
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await agent?.stop();
    await flood.remove();
    await parent.remove();
  });

  it('retires rows whose rmdir records were lost: 1,200 cgroups through 256 rows, every count kept', async () => {
    const waves = 6;
    const per = 200;
    const storm = 5000;
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
    for (let w = 0; w < waves; w++) {
      const dirs = Array.from({ length: per }, (_, i) => path.join(parent.dir, `w${w}-${i}`));
      for (let i = 0; i < per; i++) {
        fs.mkdirSync(dirs[i]);
        if (i % 50 === 49) await pause(150);
      }
      // One process in each: forked in the parent, it moves itself and exits there.
      const moves = [...dirs.map((d) => `sh -c 'echo $$ > ${d}/cgroup.procs; exit 0'`), 'exit 0'].join('\n');
      expect((await parent.exec(moves)).code).toBe(0);
      // All removed while a fork storm fills the ring.
      const storming = flood.exec(`exec ${workload('forkn')} ${storm}`);
      await pause(100);
      for (const d of dirs) fs.rmdirSync(d);
      expect((await storming).code).toBe(0);
      await pause(1200); // a retirement tick
    }
    const churnExits = waves * (per + 1);
    const g = 'group="churn"';
    const text = await scrapeUntil(agent, (t) => metric(t, 'forkwatch_exits_total', `${g},outcome="success"`) === churnExits);
    // The premise: more rmdir records were lost than the map has rows.
    expect(metric(text, 'forkwatch_events_lost_total', 'type="cgroup_rmdir"')).toBeGreaterThan(256);
    // No count was refused for want of a row, the removed cgroups' counts are all in their group,
    // and the storm's cgroup, live throughout, counted every fork and exit.
    expect(metric(text, 'forkwatch_cgroup_map_full_total')).toBe(0);
    expect(metric(text, 'forkwatch_exits_total', `${g},outcome="success"`)).toBe(churnExits);
    expect(metric(text, 'forkwatch_forks_total', g)).toBe(waves * per);
    expect(metric(text, 'forkwatch_forks_total', 'group="flood"')).toBe(waves * storm);
    expect(metric(text, 'forkwatch_exits_total', 'group="flood",outcome="success"')).toBe(waves * (storm + 1));
    expect(metric(text, 'forkwatch_cgroup_map_rows')).toBeLessThan(64);
  });
});
