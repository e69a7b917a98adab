/**
 * Fork and exit records are written in place into per-CPU staging areas and merged with the ring's
 * records by time (bpf/proc.bpf.c stage_reserve, addon/ring_reader.cc). What that must keep: a
 * child's records in the order they happened when they come from two CPUs, and records that find
 * no room counted as lost per type while the counters stay exact.
 */
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectHierarchy } from '../../src/host/cgroupfs.js';
import type { RawEvent } from '../../src/events/decode.js';
import { EventType } from '../../src/events/layout.js';
import { EventSource } from '../../src/events/source.js';
import { createLogger } from '../../src/log.js';
import { loadBinding } from '../../src/host/binding.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { workload } from '../helpers/workloads.js';

const CHILDREN = 300;

function newSource(probe: Record<string, unknown>): EventSource {
  return new EventSource(loadBinding(), {
    hierarchy: detectHierarchy('v2'),
    log: createLogger({ quiet: true }),
    probe: { threadEvents: false, cpuAccounting: false, ...probe },
  });
}

describe('staged fork and exit records', () => {
  const cg = TestCgroup.create('stage');
  let source: EventSource | undefined;

  beforeAll(() => requireRoot());
  afterAll(async () => {
    source?.close();
    await cg.remove();
  });

  /** Runs CHILDREN children that fork on CPU 0 and end on CPU 1; returns those whose records came out of order. */
  async function outOfOrder(gapUs: number): Promise<[number, { type: number; cpu: number }[]][]> {
    source?.close();
    source = newSource({ stageGapUs: gapUs });
    const events: RawEvent[] = [];
    source.start((batch) => events.push(...batch));
    // The shell stays on CPU 0 and forks; each child execs taskset there, which moves it to CPU 1
    // and execs true, which exits there.
    const run = await cg.exec(`exec taskset -c 0 bash -c 'for ((i = 0; i < ${CHILDREN}; i++)); do taskset -c 1 /bin/true; done'`);
    expect(run.code).toBe(0);
    await until(() => events.some((e) => e.type === EventType.EXIT && e.pid === run.pid), 'the shell exit');

    const byPid = new Map<number, { type: number; cpu: number }[]>();
    for (const e of events) {
      if (e.cgroupId !== cg.id || e.pid === run.pid || e.tid !== e.pid) continue;
      const seq = byPid.get(e.pid) ?? [];
      seq.push({ type: e.type, cpu: e.cpu });
      byPid.set(e.pid, seq);
    }
    expect(byPid.size).toBe(CHILDREN);
    // The premise: forks were staged on CPU 0, exits on CPU 1.
    const seqs = [...byPid.values()];
    expect(seqs.filter((s) => s[0].cpu === 0 && s.at(-1)!.cpu === 1).length).toBeGreaterThan(CHILDREN * 0.9);
    expect(source.stats().lostTotal).toBe(0);
    const want = [EventType.FORK, EventType.EXEC, EventType.EXEC, EventType.EXIT].join();
    return [...byPid].filter(([, seq]) => seq.map((s) => s.type).join() !== want);
  }

  it("delivers a child's fork, execs and exit in that order when it forks on one CPU and ends on another", async () => {
    expect(os.availableParallelism()).toBeGreaterThanOrEqual(2);
    expect(await outOfOrder(0)).toEqual([]);
  });

  it("keeps that order when a drain reads CPU 1's stage well after CPU 0's (the reader's cut)", async () => {
    // A 3 ms pause between the two CPUs, longer than a child's life here: many children fork on
    // CPU 0 after its stage was read and end on CPU 1 before its stage is. Without the cut their
    // exits went out a drain before their forks (checked by hand: Release(UINT64_MAX) fails this).
    expect(await outOfOrder(3000)).toEqual([]);
  });

  it('counts fork and exit records that find no room as lost, per type, and the counters stay exact', async () => {
    source?.close();
    // Never started: nothing takes the staged records, so each CPU's area (4 KiB, the least)
    // fills after about 50 of them and the rest are lost.
    source = newSource({ ringBytes: 4096 });
    const forks = 4000;
    const r = await cg.exec(`exec ${workload('forkn')} ${forks}`);
    expect(r.code).toBe(0);
    const lost = source.stats().lost;
    expect(lost.fork).toBeGreaterThan(forks / 4);
    expect(lost.exit).toBeGreaterThan(forks / 4);
    const row = source.counters().find((c) => c.cgroupId === cg.id)!;
    expect(row.forks).toBe(forks);
    expect(row.exitsSuccess).toBe(forks + 1);
  });
});
