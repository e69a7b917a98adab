/**
 * The tail session on recorded records through a stand-in event source: one write per ring batch,
 * batches held while the sink pushes back and written together when it drains, filtered and
 * unfiltered --json lines equal to inertJson(toProcessEvent) of the records they show.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeBatch, RawEvent } from '../../src/events/decode.js';
import { isoMicros } from '../../src/events/clock.js';
import type { EventSource } from '../../src/events/source.js';
import { EventType } from '../../src/events/layout.js';
import { parseFilter, type FilterInput } from '../../src/events/filter.js';
import { toProcessEvent } from '../../src/events/model.js';
import { exitIdentity } from '../../src/process/identity.js';
import { ProcessTable } from '../../src/process/table.js';
import { runTail, type TailIO } from '../../src/tail/session.js';
import { inertJson } from '../../src/terminal.js';

const OFFSET_NS = 1_764_000_000 * 1e9;
const records: RawEvent[] = [];
decodeBatch(fs.readFileSync(new URL('../fixtures/pipeline.bin', import.meta.url)), (e) => records.push(e));
const paths = new Map(records.filter((e) => e.type === EventType.CGROUP_MKDIR).map((e) => [e.cgroupId, e.path]));
const cgroupPath = (id: number) => paths.get(id) ?? `cgroup:${id}`;

/** What EventSource gives the session: batches on demand, a clock, cgroup names. */
function fakeSource() {
  let onBatch: ((events: RawEvent[]) => void) | undefined;
  const source = {
    attached: ['handle_fork'],
    clock: { iso: (ns: number) => isoMicros(ns + OFFSET_NS), wallNs: (ns: number) => ns + OFFSET_NS },
    names: { path: cgroupPath },
    start: (cb: (events: RawEvent[]) => void) => (onBatch = cb),
    drain: () => 0,
    stats: () => ({ lostTotal: 0 }),
    close: () => {},
  };
  return { source: source as unknown as EventSource, batch: (events: RawEvent[]) => onBatch!(events) };
}

/** A sink that takes writes, or pushes back (returns false) until drained. */
function sink() {
  const writes: string[] = [];
  let full = false;
  let ready: (() => void) | undefined;
  let interrupt: (() => void) | undefined;
  const io: TailIO = {
    out: (text) => {
      writes.push(text);
      return !full;
    },
    whenDrained: (cb) => (ready = cb),
    err: () => {},
    onInterrupt: (stop) => {
      interrupt = stop;
      return () => {};
    },
  };
  return {
    io,
    writes,
    fill: () => (full = true),
    drain: () => {
      full = false;
      const r = ready;
      ready = undefined;
      r?.();
    },
    interrupt: () => interrupt!(),
  };
}

/** The reference lines: every process record the filter takes, as inertJson(toProcessEvent). */
function expected(filter: FilterInput): string {
  const table = new ProcessTable();
  const spec = parseFilter(filter);
  let out = '';
  for (const e of records) {
    if (e.type === EventType.CGROUP_MKDIR || e.type === EventType.CGROUP_RMDIR) continue;
    const before = table.apply(e).before;
    // An exit carries what the table knew of the process (exitIdentity, without ancestors).
    const identity = e.type === EventType.EXIT && before ? exitIdentity(table, before, e.ppid, false) : undefined;
    const p = toProcessEvent(e, { iso: (ns) => isoMicros(ns + OFFSET_NS), cgroupPath }, before?.cgroupId, identity);
    if (!p) continue;
    const ok = (spec.comm === undefined || spec.comm.test(p.comm)) && (spec.events === undefined || spec.events.has(p.type));
    if (ok) out += inertJson(p) + '\n';
  }
  return out;
}

describe('tail session', () => {
  it.each<[string, FilterInput]>([
    ['no filter', {}],
    ['--events exit', { events: 'exit' }],
    ['--comm', { comm: 'echo' }],
  ])('--json with %s: the reference lines, one write per batch', async (_name, filter) => {
    const { source, batch } = fakeSource();
    const s = sink();
    const done = runTail(source, new ProcessTable(), { filter: parseFilter(filter), json: true }, s.io);
    batch(records.slice(0, 7));
    batch(records.slice(7));
    s.interrupt();
    expect(await done).toBe(0);
    const want = expected(filter);
    expect(want.length).toBeGreaterThan(0);
    expect(s.writes.join('')).toBe(want);
    expect(s.writes.length).toBeLessThanOrEqual(2);
  });

  it('holds batches while the sink pushes back and writes them in one go when it drains', async () => {
    const { source, batch } = fakeSource();
    const s = sink();
    const done = runTail(source, new ProcessTable(), { filter: parseFilter({}), json: true }, s.io);
    s.fill();
    batch(records.slice(0, 4)); // written, and the sink says it is full
    batch(records.slice(4, 8));
    batch(records.slice(8, 12));
    expect(s.writes).toHaveLength(1);
    s.drain();
    expect(s.writes).toHaveLength(2);
    s.fill();
    batch(records.slice(12)); // written, and the sink is full again: nothing is left to hold
    expect(s.writes).toHaveLength(3);
    s.interrupt();
    await done;
    expect(s.writes.join('')).toBe(expected({}));
  });

  it('writes what a full sink still holds when it stops', async () => {
    const { source, batch } = fakeSource();
    const s = sink();
    const done = runTail(source, new ProcessTable(), { filter: parseFilter({}), json: true }, s.io);
    s.fill();
    batch(records.slice(0, 5));
    batch(records.slice(5));
    expect(s.writes).toHaveLength(1);
    s.interrupt();
    await done;
    expect(s.writes).toHaveLength(2);
    expect(s.writes.join('')).toBe(expected({}));
  });
});
