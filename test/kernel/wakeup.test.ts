/**
 * Batched wake-ups with per-CPU bookkeeping (bpf/proc.bpf.c wake_flag): each CPU wakes the reader
 * with its first record once a flush interval has passed since its own last wake-up; records it
 * submits sooner ride on the reader's timer drains. The last record of a burst from one CPU that
 * then goes idle must still be read within the flush bound (about two intervals), never left
 * until some other record wakes the reader. While the reader drains on its timer (records keep
 * coming), the kernel forces no wake-up at all: the reader says so in the object's reader_on_timer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectHierarchy } from '../../src/host/cgroupfs.js';
import type { RawEvent } from '../../src/events/decode.js';
import { EventType } from '../../src/events/layout.js';
import { EventSource } from '../../src/events/source.js';
import { createLogger } from '../../src/log.js';
import { loadBinding } from '../../src/host/binding.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { workload } from '../helpers/workloads.js';

/** A long interval, so a record read by a later wake-up rather than the timer shows as a late read. */
const FLUSH_MS = 300;

describe('batched wake-ups, per CPU', () => {
  let source: EventSource;
  const seen = new Map<number, number>(); // pid of an exit record -> when it was read (ms)

  beforeAll(() => {
    requireRoot();
    source = new EventSource(loadBinding(), {
      hierarchy: detectHierarchy('v2'),
      log: createLogger({ quiet: true }),
      probe: { threadEvents: false, cpuAccounting: false, wakeupNs: FLUSH_MS * 1e6 },
    });
    source.start((batch: RawEvent[]) => {
      const now = performance.now();
      for (const e of batch) if (e.type === EventType.EXIT && !seen.has(e.pid)) seen.set(e.pid, now);
    });
  });

  afterAll(() => source?.close());

  it('reads the last record of a burst from one CPU that then idles within two flush intervals', async () => {
    const cg = TestCgroup.create('wake');
    try {
      // Pinned to one CPU: the first fork there wakes the reader (its own last wake-up is old), the
      // next records come within the interval and do not; the script's own exit is the last one.
      for (let round = 0; round < 3; round++) {
        const run = await cg.exec(`exec taskset -c ${round % 2} /bin/bash -c '( exit 3 ); ( exit 4 ); ( exit 5 ); exit 0'`);
        const exited = performance.now();
        expect(run.code).toBe(0);
        await until(() => seen.has(run.pid), `the exit record of round ${round}`, 10 * FLUSH_MS);
        // Read by the reader's timer at worst: one interval after the wake-up that found the first
        // record (itself read at once), plus scheduling slack on a loaded 2-CPU machine.
        expect(seen.get(run.pid)! - exited).toBeLessThan(2 * FLUSH_MS + 200);
      }
      expect(source.stats().wakeups).toBeGreaterThan(0);
    } finally {
      await cg.remove();
    }
  });

  it('forces no wake-up while the reader drains on its timer, and still reads a lone record after the storm in time', async () => {
    const cg = TestCgroup.create('wake-storm');
    try {
      for (let round = 0; round < 3; round++) {
        // A storm on both CPUs that lasts several intervals: its first record wakes the reader,
        // whose timer then finds records at every drain, so it never waits on the ring meanwhile.
        const before = source.stats().wakeups;
        const storm = await cg.exec(`${workload('forkn')} 1500 & ${workload('forkn')} 1500 & wait`);
        expect(storm.code).toBe(0);
        const during = source.stats().wakeups - before;
        // Per-CPU bookkeeping alone would wake once per CPU per interval (several over the storm):
        // one wake-up per CPU at its start is all that may happen.
        expect(during).toBeLessThanOrEqual(2);
        // The reader goes back to waiting once a drain finds nothing; a lone process then is read
        // by the wake-up its exit forces, within the same bound as above.
        await new Promise((r) => setTimeout(r, 3 * FLUSH_MS));
        const lone = await cg.exec(`exec taskset -c ${round % 2} /bin/true`);
        const exited = performance.now();
        await until(() => seen.has(lone.pid), `the lone exit record of round ${round}`, 10 * FLUSH_MS);
        expect(seen.get(lone.pid)! - exited).toBeLessThan(2 * FLUSH_MS + 200);
      }
    } finally {
      await cg.remove();
    }
  });
});
