/**
 * tail --json lines built from records (src/tail/json-line.ts) against the reference they replace:
 * inertJson(toProcessEvent(...)), byte for byte, on recorded kernel records and on hostile values.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeBatch, RawEvent } from '../../src/events/decode.js';
import { isoMicros } from '../../src/events/clock.js';
import { EventType, Flags, SenderFlags } from '../../src/events/layout.js';
import { toProcessEvent } from '../../src/events/model.js';
import { ProcessTable } from '../../src/process/table.js';
import { IsoCache, JsonLines, jsonString } from '../../src/tail/json-line.js';
import { inertJson } from '../../src/terminal.js';

const OFFSET_NS = 1_764_000_000 * 1e9 + 123_456_789; // boot clock -> wall clock, as WallClock keeps it

function harness(paths: Map<number, string>) {
  const cgroupPath = (id: number) => paths.get(id) ?? `/unknown-${id}`;
  const reference = (e: RawEvent, from?: number) => {
    const p = toProcessEvent(e, { iso: (ns) => isoMicros(ns + OFFSET_NS), cgroupPath }, from);
    return p && inertJson(p);
  };
  const lines = new JsonLines({ wallNs: (ns) => ns + OFFSET_NS, cgroupPath });
  return { reference, lines };
}

function raw(fields: Partial<RawEvent>): RawEvent {
  return Object.assign(new RawEvent(), { pid: 7, tid: 7, ppid: 1, uid: 1000, nsPid: 7, cgroupId: 42, ts: 5e9, startNs: 4e9, comm: 'sh' }, fields);
}

// Every kind of text src/terminal.ts must keep inert, and JSON must escape.
const HOSTILE = [
  '',
  'plain',
  'with "quotes" and \\backslash',
  '\x1b[2J\x1b]0;title\x07',
  '\x1b]52;c;cHduZWQ=\x07',
  'tab\there\nnewline\rcr',
  'del\x7f c1\u0085\u009b',
  'bidi \u202eevil\u202c \u2066iso\u2069 \u200e\u200f\u061c',
  'zero\u200bwidth \ufeffbom',
  'sep\u2028line\u2029para',
  'lone \ud800 surrogate \udfff',
  'café ünïcödé 进程 🚀',
  'latin1 \xff\xe9\xa0',
  '\ufffd replaced',
];

describe('JsonLines on recorded records', () => {
  it('gives every record of test/fixtures/pipeline.bin the bytes of inertJson(toProcessEvent)', () => {
    const bytes = fs.readFileSync(new URL('../fixtures/pipeline.bin', import.meta.url));
    const events: RawEvent[] = [];
    decodeBatch(bytes, (e) => events.push(e));
    const paths = new Map<number, string>();
    for (const e of events) if (e.type === EventType.CGROUP_MKDIR) paths.set(e.cgroupId, e.path);
    const { reference, lines } = harness(paths);
    const table = new ProcessTable();
    let compared = 0;
    for (const e of events) {
      const from = table.apply(e).before?.cgroupId;
      expect(lines.line(e, from)).toBe(reference(e, from));
      if (reference(e, from) !== undefined) compared++;
    }
    // The fixture holds forks, execs, exits (a code, a signal) and a migrate.
    expect(compared).toBeGreaterThanOrEqual(10);
    expect(new Set(events.map((e) => e.type))).toEqual(new Set([1, 2, 3, 4, 5, 6]));
  });
});

describe('JsonLines on hostile and edge values', () => {
  const paths = new Map<number, string>(HOSTILE.map((p, i) => [100 + i, `/x/${p}`]));
  const { reference, lines } = harness(paths);

  it.each(HOSTILE)('comm, file name, argv and cgroup %j', (s) => {
    const cg = 100 + HOSTILE.indexOf(s);
    const cases: [RawEvent, number | undefined][] = [
      [raw({ type: EventType.FORK, comm: s, cgroupId: cg }), undefined],
      [raw({ type: EventType.EXEC, comm: s, filename: s, argv: [s, 'x', s], flags: Flags.ARGV_TRUNC, cgroupId: cg }), undefined],
      [raw({ type: EventType.EXEC, filename: s, argv: null }), undefined],
      [raw({ type: EventType.MIGRATE, comm: s, cgroupId: 42 }), cg],
    ];
    for (const [e, from] of cases) {
      const line = lines.line(e, from);
      expect(line).toBe(reference(e, from));
      // Inert: nothing a terminal acts on, and JSON gives the values back.
      expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
      expect((JSON.parse(line!) as { comm: string }).comm).toBe(e.comm);
    }
  });

  it.each([
    ['exit 0', { status: 0 }],
    ['exit 3', { status: 3 << 8 }],
    ['SIGKILL', { status: 9 }],
    ['SIGSEGV with core', { status: 11 | 0x80 }],
    ['unknown signal 77', { status: 77 }],
    ['thread exit', { flags: Flags.THREAD, status: 0, tid: 8 }],
    ['started after the record (clock skew)', { startNs: 9e9 }],
    ['odd durations', { ts: 5_000_000_001, startNs: 1, cpuNs: 123_456_789_123 }],
    ['u64 cgroup id', { cgroupId: 2 ** 64 - 1 }],
    ['SIGTERM sent by a process', { status: 15, flags: Flags.SENDER, senderPid: 812, senderComm: 'killer', senderCgroupId: 42, senderStartNs: 3e9 }],
    ['SIGSEGV from the kernel', { status: 11, flags: Flags.SENDER, senderFlags: SenderFlags.KERNEL }],
    ['OOM kill in a memory cgroup', { status: 9, flags: Flags.SENDER | Flags.OOM, senderFlags: SenderFlags.KERNEL | SenderFlags.OOM, oomMemcgId: 4091 }],
    ['OOM kill of the whole system', { status: 9, flags: Flags.SENDER | Flags.OOM, senderFlags: SenderFlags.KERNEL | SenderFlags.OOM }],
  ])('exit: %s', (_name, fields) => {
    const e = raw({ type: EventType.EXIT, cpuNs: 1_500_000, ...fields });
    expect(lines.line(e)).toBe(reference(e));
  });

  it.each(HOSTILE)('signal sender comm and cgroup %j', (s) => {
    const e = raw({ type: EventType.EXIT, status: 9, flags: Flags.SENDER, senderPid: 3, senderComm: s, senderCgroupId: 100 + HOSTILE.indexOf(s) });
    const line = lines.line(e);
    expect(line).toBe(reference(e));
    expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    expect((JSON.parse(line!) as { signal_sender: { comm: string } }).signal_sender.comm).toBe(s);
  });

  it('marks thread forks, omits from_cgroup when the previous cgroup is unknown, skips cgroup records', () => {
    for (const e of [raw({ type: EventType.FORK, flags: Flags.THREAD, tid: 9 }), raw({ type: EventType.MIGRATE })]) expect(lines.line(e)).toBe(reference(e));
    expect(lines.line(raw({ type: EventType.MIGRATE }))).not.toContain('from_cgroup');
    expect(lines.line(raw({ type: EventType.CGROUP_MKDIR }))).toBeUndefined();
  });

  it('follows a cgroup id whose path changed (a reused id)', () => {
    const p = new Map([[5, '/a']]);
    const h = harness(p);
    expect(h.lines.line(raw({ type: EventType.FORK, cgroupId: 5 }))).toContain('"cgroup":"/a"');
    p.set(5, '/b');
    expect(h.lines.line(raw({ type: EventType.FORK, cgroupId: 5 }))).toContain('"cgroup":"/b"');
  });
});

describe('jsonString and IsoCache', () => {
  it.each(HOSTILE)('jsonString(%j) is inertJson of the string', (s) => expect(jsonString(s)).toBe(inertJson(s)));

  it('writes isoMicros exactly, across seconds, days and back in time', () => {
    const cache = new IsoCache();
    const start = 1_764_000_000_000_000_000;
    // Steps that stay within a second, cross one, cross midnight, go back, and land on boundaries.
    const steps = [0, 1, 999, 1_000, 999_999, 1_000_000, 999_999_999, 1e9, 86_399e9, 86_400e9, -5e9, 123_456_789_012, -1];
    let t = start;
    for (let round = 0; round < 200; round++) {
      t += steps[round % steps.length] + round * 7_919;
      expect(cache.iso(t)).toBe(isoMicros(t));
    }
    for (const ns of [0, 999, 1_000_000, 253_402_300_799 * 1e9 + 999_999_000]) expect(new IsoCache().iso(ns)).toBe(isoMicros(ns));
  });
});
