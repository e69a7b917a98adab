/**
 * The decoder under random and damaged batches: recorded records (test/fixtures/pipeline.bin) and
 * generated ones, mutated. Never a throw, never a hang, never a read outside the record being
 * decoded; what does not parse is skipped and reported, and the batch goes on where it can.
 * Seeded, so a failure names the case that reproduces it.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeBatch, decodeRecord, type BadRecord, RawEvent } from '../../src/events/decode.js';
import { EventType, HDR, LAYOUT } from '../../src/events/layout.js';
import { EventSource } from '../../src/events/source.js';
import { createLogger } from '../../src/log.js';
import type { NativeBinding, NativeProbe } from '../../src/host/binding.js';

const fixture = fs.readFileSync(new URL('../fixtures/pipeline.bin', import.meta.url));
const CASES = 20_000;

/** mulberry32: a small seeded generator, so every case can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] };
}
type Rng = ReturnType<typeof rng>;

/** Records of the fixture, each as its own padded slice. */
function split(batch: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + 4 <= batch.length;) {
    const size = batch.readUInt16LE(at + 2);
    const padded = (size + 7) & ~7;
    out.push(batch.subarray(at, at + padded));
    at += padded;
  }
  return out;
}
const recorded = split(fixture);

/** A well-formed record of a random type with random fields and payload. */
function generate(r: Rng): Buffer {
  const type = 1 + r.int(6);
  const base = type === EventType.MIGRATE ? LAYOUT.fw_event_hdr.size : type === EventType.EXIT ? LAYOUT.fw_exit_event.size : 80;
  let payload = Buffer.alloc(0);
  if (type === EventType.EXEC || type === EventType.CGROUP_MKDIR || type === EventType.CGROUP_RMDIR) {
    payload = Buffer.from(Array.from({ length: r.int(300) }, () => (r.next() < 0.2 ? 0 : 32 + r.int(200))));
  }
  const size = base + payload.length;
  const rec = Buffer.alloc((size + 7) & ~7);
  for (let i = 0; i < base; i++) rec[i] = r.int(256);
  payload.copy(rec, base);
  rec.writeUInt16LE(type, 0);
  rec.writeUInt16LE(size, 2);
  if (type === EventType.EXEC) {
    const f = r.int(payload.length + 1);
    rec.writeUInt16LE(f, LAYOUT.fw_exec_event.fields.filename_len[0]);
    rec.writeUInt16LE(payload.length - f, LAYOUT.fw_exec_event.fields.argv_len[0]);
  } else if (type !== EventType.MIGRATE && type !== EventType.FORK && type !== EventType.EXIT) {
    rec.writeUInt16LE(payload.length, LAYOUT.fw_cgroup_event.fields.path_len[0]);
  }
  return rec;
}

const INTERESTING16 = [0, 1, 7, 8, 71, 72, 73, 79, 80, 87, 88, 4096, 0x7fff, 0xfffe, 0xffff];

/** One damage: flip bits, overwrite bytes, or set a size, type or length field to an edge value. */
function mutate(r: Rng, buf: Buffer): Buffer {
  const b = Buffer.from(buf);
  if (b.length === 0) return b;
  const offsets = [0, 2, LAYOUT.fw_exec_event.fields.filename_len[0], LAYOUT.fw_exec_event.fields.argv_len[0], HDR.comm[0]];
  switch (r.int(5)) {
    case 0:
      b[r.int(b.length)] ^= 1 << r.int(8);
      break;
    case 1:
      for (let i = r.int(16); i >= 0; i--) b[r.int(b.length)] = r.int(256);
      break;
    case 2: {
      const at = r.pick(offsets) + 8 * r.int(Math.max(1, b.length >> 3));
      if (at + 2 <= b.length) b.writeUInt16LE(r.pick(INTERESTING16), at);
      break;
    }
    case 3:
      b.fill(r.pick([0, 0xff, 0x41]), r.int(b.length));
      break;
    default:
      return b.subarray(0, r.int(b.length + 1));
  }
  return b;
}

/** A batch for case `seed`: recorded and generated records, whole or damaged, or noise. */
function batchFor(seed: number): Buffer {
  const r = rng(seed);
  if (r.next() < 0.05) return Buffer.from(Array.from({ length: r.int(512) }, () => r.int(256)));
  const parts: Buffer[] = [];
  for (let n = 1 + r.int(8); n > 0; n--) parts.push(r.next() < 0.5 ? r.pick(recorded) : generate(r));
  let batch: Buffer = Buffer.concat(parts);
  for (let m = r.int(4); m > 0; m--) batch = mutate(r, batch);
  // The batch exactly fills its buffer: any read past its end throws, and is caught below.
  return Buffer.from(batch);
}

function sane(e: RawEvent): boolean {
  const numbers = [
    e.flags,
    e.ts,
    e.cgroupId,
    e.startNs,
    e.pid,
    e.tid,
    e.ppid,
    e.uid,
    e.nsPid,
    e.cpu,
    e.parentStartNs,
    e.oldTid,
    e.status,
    e.cpuNs,
    e.hierarchyId,
  ];
  return e.type >= 1 && e.type <= 6 && numbers.every((x) => Number.isFinite(x) && x >= 0) && typeof e.comm === 'string' && typeof e.path === 'string';
}

describe('decoder fuzz', () => {
  it(`decodes ${CASES} random and damaged batches without a throw, reading only inside each record`, () => {
    let decoded = 0;
    let bad = 0;
    for (let seed = 1; seed <= CASES; seed++) {
      const batch = batchFor(seed);
      const events: RawEvent[] = [];
      const reports: BadRecord[] = [];
      let n: number;
      try {
        n = decodeBatch(
          batch,
          (e) => events.push(e),
          batch.length,
          (b) => reports.push(b),
        );
      } catch (err) {
        throw new Error(`case ${seed}: decodeBatch threw ${String(err)}`, { cause: err });
      }
      expect(n, `case ${seed}`).toBe(events.length);
      decoded += n;
      bad += reports.length;
      for (const e of events) expect(sane(e), `case ${seed}: ${JSON.stringify(e)}`).toBe(true);
      for (const b of reports) expect(b.at, `case ${seed}`).toBeLessThan(batch.length);
    }
    // The cases exercise both paths: most records decode, many are skipped.
    expect(decoded).toBeGreaterThan(CASES);
    expect(bad).toBeGreaterThan(CASES / 4);
  });

  it('decodes each record the same alone in a buffer of exactly its size: nothing read outside it', () => {
    for (let seed = 1; seed <= CASES / 4; seed++) {
      const batch = batchFor(seed);
      const got: [RawEvent, number][] = [];
      decodeBatch(
        batch,
        (e, recordAt) => got.push([e, recordAt]),
        batch.length,
        () => {},
      );
      got.forEach(([e, recordAt]) => {
        const size = batch.readUInt16LE(recordAt + 2);
        const alone = Buffer.from(batch.subarray(recordAt, recordAt + size));
        let again: RawEvent | undefined;
        try {
          again = decodeRecord(alone, 0, size);
        } catch (err) {
          throw new Error(`case ${seed}, record at ${recordAt}: alone it threw ${String(err)}`, { cause: err });
        }
        expect(again, `case ${seed}, record at ${recordAt}`).toEqual(e);
      });
    }
  });

  it('does not slow down on megabytes without a NUL', { timeout: 10_000 }, () => {
    // 8 MB of small exec records with no NUL anywhere: in comm, filename or argv.
    const rec = Buffer.alloc(LAYOUT.fw_exec_event.size + 16, 0x41);
    rec.writeUInt16LE(EventType.EXEC, 0);
    rec.writeUInt16LE(rec.length, 2);
    rec.writeUInt16LE(8, LAYOUT.fw_exec_event.fields.filename_len[0]);
    rec.writeUInt16LE(8, LAYOUT.fw_exec_event.fields.argv_len[0]);
    const batch = Buffer.concat(Array.from({ length: 90_000 }, () => rec));
    const t0 = performance.now();
    let n = 0;
    decodeBatch(batch, () => n++);
    expect(n).toBe(90_000);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('keeps the event source running: a bad batch is counted and reported, the next one delivered', () => {
    let deliver: (buf: Buffer, records: number, bytes: number) => void = () => {};
    const probe = {
      attached: [],
      skipped: [],
      exitDecision: 'group_dead',
      start: (cb: typeof deliver) => (deliver = cb),
      drain: () => 0,
      close: () => {},
    } as unknown as NativeProbe;
    const binding = {
      Probe: function () {
        return probe;
      },
      clocks: () => [0n, 0n],
    } as unknown as NativeBinding;
    const warnings: string[] = [];
    const log = { ...createLogger({ quiet: true }), warn: (m: string) => warnings.push(m) };
    const source = new EventSource(binding, { probe: {}, hierarchy: { name: 'v2', id: 0, mount: '/nonexistent' }, log });
    const got: RawEvent[][] = [];
    source.start((events) => got.push(events));
    for (let seed = 1; seed <= 2000; seed++) {
      const b = batchFor(seed);
      expect(() => deliver(b, 0, b.length), `case ${seed}`).not.toThrow();
    }
    deliver(fixture, recorded.length, fixture.length);
    expect(got.at(-1)).toHaveLength(recorded.length);
    expect(source.badRecords).toBeGreaterThan(100);
    // Reported, but not once per record: a flood of bad records is not a flood of log lines.
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.length).toBeLessThan(20);
    expect(warnings[0]).toMatch(/skipped .*record/);
  });
});
