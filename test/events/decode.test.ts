/** The decoder on recorded kernel bytes (test/fixtures/pipeline.bin, made by record.mjs). */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeBatch, decodeCensus, decodeCounters, withCensus, zeroCounterRow, type BadRecord, type RawEvent } from '../../src/events/decode.js';
import { EventType, Flags, LAYOUT, LIFETIME_SLOTS, SIGNAL_SLOTS } from '../../src/events/layout.js';
import { decodeStatus, toProcessEvent } from '../../src/events/model.js';

const bytes = fs.readFileSync(new URL('../fixtures/pipeline.bin', import.meta.url));
const events: RawEvent[] = [];
decodeBatch(bytes, (e) => events.push(e));
const T = EventType;

describe('decodeBatch on recorded records', () => {
  it('decodes every record, in ring order', () => {
    expect(events.map((e) => e.type)).toEqual([
      T.CGROUP_MKDIR,
      T.MIGRATE,
      T.EXEC,
      T.FORK,
      T.EXIT, // ( exit 3 )
      T.FORK,
      T.EXEC,
      T.EXIT, // /bin/echo
      T.FORK,
      T.EXIT, // ( kill -SEGV )
      T.FORK,
      T.EXEC,
      T.CGROUP_MKDIR,
      T.EXIT, // mkdir child
      T.FORK,
      T.EXEC,
      T.CGROUP_RMDIR,
      T.EXIT, // rmdir child
      T.EXIT, // bash
    ]);
    for (let i = 1; i < events.length; i++) expect(events[i].ts).toBeGreaterThanOrEqual(events[i - 1].ts);
  });

  it.each([
    ['exit 3', 4, { exit_code: 3, signal: null, core_dumped: false }],
    ['SIGSEGV', 9, { exit_code: null, signal: 'SIGSEGV', core_dumped: false }],
    ['bash exit 0', 18, { exit_code: 0, signal: null, core_dumped: false }],
  ])('exit status: %s', (_name, index, want) => {
    expect(decodeStatus(events[index].status)).toEqual(want);
  });

  it('carries exec filename and argv, with spaces inside an argument kept', () => {
    const echo = events[6];
    expect(echo.filename).toBe('/bin/echo');
    expect(echo.argv).toEqual(['/bin/echo', 'fixture', 'two words']);
    expect(echo.comm).toBe('echo');
    expect(echo.flags & Flags.ARGV_TRUNC).toBe(0);
  });

  it('links forks to their parent and their own exit', () => {
    const bash = events[2];
    const fork = events[3];
    expect(fork.ppid).toBe(bash.pid);
    expect(fork.pid).not.toBe(bash.pid);
    expect(events[4].pid).toBe(fork.pid);
    expect(fork.startNs).toBeGreaterThan(bash.startNs);
    expect(fork.parentStartNs).toBe(bash.startNs);
    expect(events[4].ts - events[4].startNs).toBeGreaterThan(0);
  });

  it('names cgroups made and removed, and flags whole-process migrates', () => {
    expect(events[0].path).toBe('/forkwatch-fixture');
    expect(events[12].path).toBe('/forkwatch-fixture/child');
    expect(events[16].cgroupId).toBe(events[12].cgroupId);
    expect(events[1].flags & Flags.THREADGROUP).toBe(Flags.THREADGROUP);
    expect(events[1].cgroupId).toBe(events[0].cgroupId);
  });

  it('turns records into the public event model', () => {
    const ctx = { iso: () => '2026-01-01T00:00:00.000000Z', cgroupPath: (id: number) => (id === events[0].cgroupId ? '/forkwatch-fixture' : '/') };
    const exit = toProcessEvent(events[9], ctx)!;
    expect(exit).toMatchObject({ type: 'exit', signal: 'SIGSEGV', exit_code: null, cgroup: '/forkwatch-fixture', comm: 'bash' });
    expect(exit.lifetime_s).toBeGreaterThan(0);
    const mig = toProcessEvent(events[1], ctx, 1)!;
    expect(mig).toMatchObject({ type: 'migrate', cgroup: '/forkwatch-fixture', from_cgroup: '/' });
    expect(toProcessEvent(events[0], ctx)).toBeUndefined(); // cgroup records are not process events
  });
});

describe('decodeBatch on damaged input', () => {
  it('reports a record whose size runs past the batch, and ends the batch there', () => {
    const cut = bytes.subarray(0, 90); // the first record is longer
    const bad: BadRecord[] = [];
    expect(
      decodeBatch(
        cut,
        () => {},
        cut.length,
        (b) => bad.push(b),
      ),
    ).toBe(0);
    expect(bad).toEqual([{ at: 0, reason: expect.stringMatching(/bad record size \d+ at offset 0/) as unknown }]);
  });
  it('skips a record of an unknown type, and decodes the ones after it', () => {
    const copy = Buffer.from(bytes);
    copy.writeUInt16LE(99, 0);
    const bad: BadRecord[] = [];
    const got: RawEvent[] = [];
    decodeBatch(
      copy,
      (e) => got.push(e),
      copy.length,
      (b) => bad.push(b),
    );
    expect(bad).toEqual([{ at: 0, reason: 'unknown record type 99 at offset 0' }]);
    expect(got).toEqual(events.slice(1));
  });
  it('skips a record too short for its type instead of reading the next one', () => {
    const copy = Buffer.from(bytes);
    const at = 0; // the first record, a cgroup mkdir, claims the bare header's size
    copy.writeUInt16LE(LAYOUT.fw_event_hdr.size, at + 2);
    const bad: BadRecord[] = [];
    decodeBatch(
      copy,
      () => {},
      copy.length,
      (b) => bad.push(b),
    );
    expect(bad[0].reason).toMatch(/type 5 at offset 0 has 72 bytes, fewer than its 80/);
  });
  it('skips an exit record that says a sender follows but is too short to hold one, and decodes the rest', () => {
    const copy = Buffer.from(bytes);
    let at = 0;
    while (copy.readUInt16LE(at) !== EventType.EXIT) at += (copy.readUInt16LE(at + 2) + 7) & ~7;
    copy.writeUInt32LE(copy.readUInt32LE(at + 4) | Flags.SENDER, at + 4); // the flag, without the 56 bytes
    const bad: BadRecord[] = [];
    const got: RawEvent[] = [];
    decodeBatch(
      copy,
      (e) => got.push(e),
      copy.length,
      (b) => bad.push(b),
    );
    expect(bad).toEqual([{ at, reason: `exit record with a sender has ${LAYOUT.fw_exit_event.size} bytes at offset ${at}` }]);
    expect(got).toHaveLength(events.length - 1);
  });
});

describe('decodeCounters', () => {
  it('reads rows of cgroup id + fw_cg_counters: the lifetime slots, releases, OOM kills, exits by signal (live counts: the census)', () => {
    const f = LAYOUT.fw_cg_counters.fields;
    const row = Buffer.alloc(8 + LAYOUT.fw_cg_counters.size);
    row.writeBigUInt64LE(405n, 0);
    const plain = ['forks', 'threads', 'execs', 'exits_success', 'exits_failure', 'exits_signaled', 'thread_exits', 'cpu_ns', 'removed'] as const;
    plain.forEach((name, i) => row.writeBigUInt64LE(BigInt(i + 1) * 1000n, 8 + f[name][0]));
    for (let i = 0; i < LIFETIME_SLOTS; i++) row.writeBigUInt64LE(BigInt(i * 3), 8 + f.lifetime[0] + 8 * i);
    row.writeBigUInt64LE(123_456_789_012n, 8 + f.lifetime_sum_ns[0]);
    row.writeBigUInt64LE(17n, 8 + f.releases[0]);
    row.writeBigUInt64LE(3n, 8 + f.oom_kills[0]);
    for (let i = 0; i < SIGNAL_SLOTS; i++) row.writeBigUInt64LE(BigInt(i + 100), 8 + f.signals[0] + 8 * i);
    const want = {
      cgroupId: 405,
      forks: 1000,
      threads: 2000,
      execs: 3000,
      exitsSuccess: 4000,
      exitsFailure: 5000,
      exitsSignaled: 6000,
      threadExits: 7000,
      cpuNs: 8000,
      removed: true,
      liveTasks: 0,
      liveThreads: 0,
      lifetime: Array.from({ length: LIFETIME_SLOTS }, (_, i) => i * 3),
      lifetimeSumNs: 123_456_789_012,
      releases: 17,
      oomKills: 3,
      signals: Array.from({ length: SIGNAL_SLOTS }, (_, i) => i + 100),
    };
    expect(decodeCounters(Buffer.concat([row, row]))).toEqual([want, want]);
  });
});

describe('decodeCensus and withCensus', () => {
  const line = (cgroupId: bigint, threads: number) => {
    const f = LAYOUT.fw_census.fields;
    const b = Buffer.alloc(LAYOUT.fw_census.size, 0xee); // padding is not read
    b.writeBigUInt64LE(cgroupId, f.cgroup_id[0]);
    b.writeUInt32LE(threads, f.threads[0]);
    return b;
  };

  it('sums processes and threads per cgroup; a torn last line is not read', () => {
    const buf = Buffer.concat([line(7n, 1), line(9n, 4), line(7n, 3), line(2n ** 40n, 1), line(9n, 1).subarray(0, 9)]);
    expect(decodeCensus(buf)).toEqual(
      new Map([
        [7, { tasks: 2, threads: 4 }],
        [9, { tasks: 1, threads: 4 }],
        [2 ** 40, { tasks: 1, threads: 1 }],
      ]),
    );
  });

  it("sets every row's live counts (0 where the census found nothing) and adds rows for cgroups the map lacks", () => {
    const rows = [zeroCounterRow(7), zeroCounterRow(8)];
    rows[0].forks = 5;
    rows[1].liveTasks = 3; // stale: the census says none
    const got = withCensus(rows, decodeCensus(Buffer.concat([line(7n, 2), line(9n, 6)])));
    expect(got.map((r) => [r.cgroupId, r.forks, r.liveTasks, r.liveThreads])).toEqual([
      [7, 5, 1, 2],
      [8, 0, 0, 0],
      [9, 0, 1, 6],
    ]);
  });
});

describe('comm', () => {
  /** A fork record whose comm field holds exactly these 16 bytes. */
  const fork = (comm: Buffer) => {
    const b = Buffer.alloc(LAYOUT.fw_fork_event.size);
    b.writeUInt16LE(T.FORK, 0);
    b.writeUInt16LE(b.length, 2);
    comm.copy(b, LAYOUT.fw_event_hdr.fields.comm[0]);
    return b;
  };
  const decodeComms = (comms: Buffer[]) => {
    const out: string[] = [];
    decodeBatch(Buffer.concat(comms.map(fork)), (e) => out.push(e.comm));
    return out;
  };

  it('is the bytes up to the first NUL as latin1, for any bytes, seen before or not (names decoded before are reused)', () => {
    // Enough distinct names to share every slot of the cache many times over, each twice, and
    // names equal up to their NUL but not after it (what a shorter name leaves in task->comm).
    let seed = 7;
    const byte = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24) & 0xff;
    const comms: Buffer[] = [];
    for (let i = 0; i < 3000; i++) comms.push(Buffer.from(Array.from({ length: 16 }, () => (byte() < 24 ? 0 : byte()))));
    comms.push(Buffer.from('sh\0garbage-after'), Buffer.from('sh\0other-garbage'), Buffer.alloc(16), Buffer.from('exactly-16-chars'));
    const all = [...comms, ...comms.slice().reverse()];
    const want = all.map((c) => {
      const nul = c.indexOf(0);
      return c.toString('latin1', 0, nul < 0 ? 16 : nul);
    });
    expect(decodeComms(all)).toEqual(want);
    expect(decodeComms(all)).toEqual(want);
  });
});
