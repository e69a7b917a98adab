/**
 * Batched wake-ups with per-CPU bookkeeping (bpf/proc.bpf.c wake_flag): each CPU wakes the reader
 * with its first record once a flush interval has passed since its own last wake-up; records it
 * submits sooner ride on the reader's timer drains. The last record of a burst from one CPU that
 * then goes idle must still be read within the flush bound (about two intervals), never left
 * until some other record wakes the reader.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectHierarchy } from '../../src/host/cgroupfs.js';
import type { RawEvent } from '../../src/events/decode.js';
import { EventType } from '../../src/events/layout.js';
import { EventSource } from '../../src/events/source.js';
import { createLogger } from '../../src/log.js';
import { loadBinding } from '../../src/host/binding.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';

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
});
