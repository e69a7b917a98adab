/**
 * tail --json lines built from records (src/tail/json-line.ts) against the reference they replace:
 * inertJson(toProcessEvent(...)), byte for byte, on recorded kernel records and on hostile values.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeBatch, RawEvent } from '../../src/events/decode.js';
import { isoMicros } from '../../src/events/clock.js';
import { EventType, Flags, HDR, LAYOUT, SenderFlags } from '../../src/events/layout.js';
import { toProcessEvent, type ExitIdentity } from '../../src/events/model.js';
import { ProcessTable } from '../../src/process/table.js';
import { JsonLines, jsonString } from '../../src/tail/json-line.js';
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

  it.each(HOSTILE)('exit identity (file name, argv, cwd, parent, ancestors) %j, its JSON reused for the same values', (s) => {
    const ctx = { iso: (ns: number) => isoMicros(ns + OFFSET_NS), cgroupPath: (id: number) => paths.get(id) ?? `/unknown-${id}` };
    const argv = [s, '-c', `${s} "q" \\`];
    const identities: ExitIdentity[] = [
      { filename: s, argv, argv_truncated: false, cwd: `/home/${s}`, parent_comm: s, parent_filename: s },
      { filename: s, argv, argv_truncated: false, cwd: `/home/${s}`, parent_comm: s, parent_filename: s }, // the same array again
      { argv: [...argv], argv_truncated: true, cwd: s }, // an equal array that is another one
      {
        filename: '/bin/sh',
        parent_comm: 'bash',
        ancestors: [
          { id: 'b-1-2', pid: 1, comm: s, filename: s },
          { pid: 2, comm: 'init' },
        ],
      },
      {},
    ];
    for (const identity of identities) {
      const e = raw({ type: EventType.EXIT, status: 1 << 8, comm: s });
      const line = lines.line(e, undefined, identity);
      expect(line).toBe(inertJson(toProcessEvent(e, ctx, undefined, identity)));
      expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
      expect(JSON.parse(line!)).toEqual(JSON.parse(JSON.stringify(toProcessEvent(e, ctx, undefined, identity))));
    }
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

describe('jsonString', () => {
  it.each(HOSTILE)('jsonString(%j) is inertJson of the string', (s) => expect(jsonString(s)).toBe(inertJson(s)));
});

/** A fork or exec record as the kernel writes it: comm, file name and argv as raw bytes. */
function recordBytes(type: number, pid: number, comm: Buffer, exec?: { filename: Buffer; argv: Buffer }): Buffer {
  const base = type === EventType.EXEC ? LAYOUT.fw_exec_event.size : LAYOUT.fw_fork_event.size;
  const payload = exec ? Buffer.concat([exec.filename, Buffer.from([0]), exec.argv]) : Buffer.alloc(0);
  const size = base + payload.length;
  const b = Buffer.alloc((size + 7) & ~7);
  b.writeUInt16LE(type, HDR.type[0]);
  b.writeUInt16LE(size, HDR.size[0]);
  b.writeBigUInt64LE(5_000_000_000n + BigInt(pid), HDR.ts_ns[0]);
  b.writeBigUInt64LE(42n, HDR.cgroup_id[0]);
  b.writeBigUInt64LE(4_000_000_000n, HDR.start_ns[0]);
  for (const f of ['pid', 'tid', 'ns_pid'] as const) b.writeUInt32LE(pid, HDR[f][0]);
  b.writeUInt32LE(1, HDR.ppid[0]);
  comm.copy(b, HDR.comm[0], 0, Math.min(comm.length, HDR.comm[1]));
  if (exec) {
    const f = LAYOUT.fw_exec_event.fields;
    b.writeUInt16LE(exec.filename.length + 1, f.filename_len[0]);
    b.writeUInt16LE(exec.argv.length, f.argv_len[0]);
    payload.copy(b, base);
  }
  return b;
}

describe('JsonLines on records decoded from hostile bytes', () => {
  // What a process can put in its name, its file name and its argv, byte for byte.
  const BYTES = [
    Buffer.from('plain'),
    Buffer.from('q"uo\\te'),
    Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0x0a, 0x0d, 0x09, 0x07, 0x7f]),
    Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xff, 0xfe]), // invalid UTF-8
    Buffer.from([0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x9a]), // a UTF-8 surrogate, a cut 4-byte sequence
    Buffer.from([0xc2, 0x85, 0xc2, 0x9b, 0xe2, 0x80, 0xae, 0xe2, 0x80, 0xa8]), // C1, bidi override, U+2028 as UTF-8
    Buffer.from('café 进程 🚀'),
    Buffer.from('exactly-15-chr!'),
  ];
  const { reference, lines } = harness(new Map([[42, '/x/"q\\\x1b\u2028']]));

  it('gives each the bytes of inertJson(toProcessEvent) and JSON that parses back to that event', () => {
    const parts: Buffer[] = [];
    BYTES.forEach((b, i) => {
      parts.push(recordBytes(EventType.FORK, 100 + i, b));
      parts.push(recordBytes(EventType.EXEC, 200 + i, b, { filename: b, argv: Buffer.concat([b, Buffer.from([0]), Buffer.from('x'), Buffer.from([0]), b]) }));
    });
    const events: RawEvent[] = [];
    const bad: string[] = [];
    decodeBatch(
      Buffer.concat(parts),
      (e) => events.push(e),
      undefined,
      (r) => bad.push(r.reason),
    );
    expect(bad).toEqual([]);
    expect(events).toHaveLength(2 * BYTES.length);
    for (const e of events) {
      const line = lines.line(e)!;
      expect(line).toBe(reference(e));
      const obj = toProcessEvent(e, { iso: (ns) => isoMicros(ns + OFFSET_NS), cgroupPath: () => '/x/"q\\\x1b\u2028' })!;
      expect(JSON.parse(line)).toEqual(JSON.parse(JSON.stringify(obj)));
      expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    }
    // Invalid UTF-8 in file names and argv is U+FFFD, visible and valid; comm is its bytes as latin1.
    const bytesExec = events.find((e) => e.type === EventType.EXEC && e.pid === 203)!;
    expect(bytesExec.filename).toContain('\ufffd');
    expect(bytesExec.comm).toBe(BYTES[3].toString('latin1'));
  });
});
