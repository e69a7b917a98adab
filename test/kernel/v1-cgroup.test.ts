/**
 * Grouping by a cgroup v1 hierarchy (name=systemd, no controller): the cgroup id of a task is found
 * by walking its css_set's links once per css_set a CPU meets, then cached per CPU (bpf/proc.bpf.c
 * v1_cgroup_id). A process that moves between cgroups changes css_set, so its records must follow
 * it at once: the counters of both cgroups are exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectHierarchy } from '../../src/host/cgroupfs.js';
import type { RawEvent } from '../../src/events/decode.js';
import { EventType } from '../../src/events/layout.js';
import { EventSource } from '../../src/events/source.js';
import { createLogger } from '../../src/log.js';
import { loadBinding } from '../../src/host/binding.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';

describe('v1 grouping hierarchy', () => {
  let source: EventSource;
  const events: RawEvent[] = [];

  beforeAll(() => {
    requireRoot();
    source = new EventSource(loadBinding(), {
      hierarchy: detectHierarchy('name=systemd'),
      log: createLogger({ quiet: true }),
      probe: { threadEvents: false, cpuAccounting: true },
    });
    source.start((batch) => events.push(...batch));
  });

  afterAll(() => source?.close());

  it('attaches the switch program, which charges CPU on v1', () => {
    expect(source.attached).toContain('handle_switch');
  });

  it('follows a process that moves between two v1 cgroups, fork by fork', async () => {
    const a = TestCgroup.create('v1a', { hierarchy: 'name=systemd' });
    const b = TestCgroup.create('v1b', { hierarchy: 'name=systemd' });
    try {
      // 200 forks in a, the shell moves itself to b, 300 forks there, back to a for 50 more.
      const script = [
        'for ((i = 0; i < 200; i++)); do ( exit 0 ); done',
        `echo $BASHPID > ${b.dir}/cgroup.procs`,
        'for ((i = 0; i < 300; i++)); do ( exit 0 ); done',
        `echo $BASHPID > ${a.dir}/cgroup.procs`,
        'for ((i = 0; i < 50; i++)); do ( exit 1 ); done',
        'exit 0',
      ].join('\n');
      const run = await a.exec(script);
      expect(run.code).toBe(0);
      await until(() => events.some((e) => e.type === EventType.EXIT && e.pid === run.pid), 'the script exit');
      const row = (id: number) => source.counters().find((r) => r.cgroupId === id)!;
      expect(row(a.id)).toMatchObject({ forks: 250, exitsSuccess: 201, exitsFailure: 50 });
      expect(row(b.id)).toMatchObject({ forks: 300, exitsSuccess: 300, exitsFailure: 0 });
      const forks = events.filter((e) => e.type === EventType.FORK && e.ppid === run.pid);
      expect(forks.filter((e) => e.cgroupId === a.id)).toHaveLength(250);
      expect(forks.filter((e) => e.cgroupId === b.id)).toHaveLength(300);
      expect(source.stats().lostTotal).toBe(0);
    } finally {
      await a.remove();
      await b.remove();
    }
  });
});
