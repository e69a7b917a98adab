import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NdjsonLog, noLogErrors } from '../../src/beancounters/log.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'forkwatch-log-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const read = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { n: number });
// Each record is exactly 9 bytes: {"n":12}\n
const rec = (n: number) => ({ n: 10 + n });

describe('NdjsonLog', () => {
  it('appends one JSON object per line, making the directory', () => {
    const path = join(dir, 'sub', 'accounting.ndjson');
    const log = new NdjsonLog({ path, max_bytes: 1 << 20, keep: 3 });
    log.append({ type: 'release', group: 'a', cgroup: undefined });
    log.append({ type: 'release', group: 'b' });
    expect(readFileSync(path, 'utf8')).toBe('{"type":"release","group":"a"}\n{"type":"release","group":"b"}\n');
  });

  // With 9-byte records and max_bytes 30, three records fit in a file.
  const cases: Array<{ name: string; keep: number; records: number; files: Record<string, number[]> }> = [
    { name: 'no rotation while it fits', keep: 2, records: 3, files: { 'a.log': [10, 11, 12] } },
    { name: 'the fourth record rotates', keep: 2, records: 4, files: { 'a.log': [13], 'a.log.1': [10, 11, 12] } },
    {
      name: 'the oldest falls off past keep',
      keep: 2,
      records: 10,
      files: { 'a.log': [19], 'a.log.1': [16, 17, 18], 'a.log.2': [13, 14, 15] },
    },
    { name: 'keep 0 keeps only the live file', keep: 0, records: 7, files: { 'a.log': [16] } },
  ];
  it.each(cases)('$name', (tc) => {
    const path = join(dir, 'a.log');
    const log = new NdjsonLog({ path, max_bytes: 30, keep: tc.keep });
    for (let i = 0; i < tc.records; i++) log.append(rec(i));
    expect(readdirSync(dir).sort()).toEqual(Object.keys(tc.files).sort());
    for (const [file, ns] of Object.entries(tc.files)) expect(read(join(dir, file)).map((r) => r.n)).toEqual(ns);
    for (const file of readdirSync(dir)) expect(statSync(join(dir, file)).size).toBeLessThanOrEqual(30);
  });

  it('gives a record larger than max_bytes a file of its own', () => {
    const path = join(dir, 'big.log');
    const log = new NdjsonLog({ path, max_bytes: 10, keep: 1 });
    log.append({ small: 1 });
    log.append({ big: 'x'.repeat(50) });
    expect(read(path)).toEqual([{ big: 'x'.repeat(50) }]);
    expect(read(`${path}.1`)).toEqual([{ small: 1 }]);
  });

  it('notices the file being removed behind its back', () => {
    const path = join(dir, 'gone.log');
    const log = new NdjsonLog({ path, max_bytes: 30, keep: 1 });
    log.append(rec(0));
    log.append(rec(1));
    rmSync(path);
    log.append(rec(2));
    log.append(rec(3));
    expect(existsSync(`${path}.1`)).toBe(false);
    expect(read(path).map((r) => r.n)).toEqual([12, 13]);
  });

  it('rejects settings that cannot work', () => {
    expect(() => new NdjsonLog({ path: join(dir, 'x'), max_bytes: 0, keep: 1 })).toThrow(RangeError);
    expect(() => new NdjsonLog({ path: join(dir, 'x'), max_bytes: 10, keep: -1 })).toThrow(RangeError);
  });

  it('never throws for I/O: counts the failure, says once what and where, and keeps the record', () => {
    const warnings: string[] = [];
    const log = new NdjsonLog({ path: join(dir, 'file', 'under-a-file'), max_bytes: 10, keep: 1 }, { warn: (m) => warnings.push(m) });
    new NdjsonLog({ path: join(dir, 'file'), max_bytes: 10, keep: 0 }).append({});
    expect(() => log.append({ a: 1 })).not.toThrow();
    log.append({ a: 2 });
    log.flush();
    expect(log.errors).toEqual({ write: 3, rotate: 0, dropped: 0 });
    expect(log.waiting).toBe(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^accounting log: cannot write .*\/file\/under-a-file: (ENOTDIR|EEXIST): .*; records wait \(up to 1 MiB\) until it works again$/,
    );
  });

  it('cuts a torn last line (an agent killed mid-write) before it appends', () => {
    const path = join(dir, 'torn.log');
    writeFileSync(path, '{"n":10}\n{"n":11}\n{"n":1');
    new NdjsonLog({ path, max_bytes: 1 << 20, keep: 1 }).append(rec(2));
    expect(read(path).map((r) => r.n)).toEqual([10, 11, 12]);
    writeFileSync(path, 'no newline at all');
    new NdjsonLog({ path, max_bytes: 1 << 20, keep: 1 }).append(rec(3));
    expect(read(path).map((r) => r.n)).toEqual([13]);
  });

  it('keeps at most 1 MiB of waiting records, dropping (and counting) the oldest', () => {
    const errors = noLogErrors();
    const log = new NdjsonLog({ path: join(dir, 'file', 'x'), max_bytes: 1 << 20, keep: 1 }, { errors });
    writeFileSync(join(dir, 'file'), ''); // a file where the directory should be: every write fails
    const big = { pad: 'x'.repeat(100 * 1024) };
    for (let i = 0; i < 15; i++) log.append(big);
    expect(log.waiting).toBe(10);
    expect(errors).toEqual({ write: 15, rotate: 0, dropped: 5 });
  });
});
