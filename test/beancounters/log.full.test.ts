/**
 * The accounting log on a real full filesystem, as root: a small tmpfs this test mounts, fills,
 * then frees. No record may be torn or joined to another, records written while it was full
 * follow once there is room, and every failure is counted.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NdjsonLog } from '../../src/beancounters/log.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup } from '../helpers/cgroup.js';

let mnt: string | undefined;
const later: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of later.splice(0).reverse()) await c();
  if (mnt === undefined) return;
  execFileSync('umount', [mnt]);
  fs.rmdirSync(mnt);
  mnt = undefined;
});

/** A 64 KiB tmpfs, unmounted after the test. */
function smallDisk(): string {
  mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', mnt]);
  return mnt;
}

/** Fills the filesystem to its last byte with one file; returns its path. */
function fill(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'w');
  const chunk = Buffer.alloc(1024, 'x');
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}

/** Every line of the file parsed; a line that is not one whole record fails the test. */
function records(file: string): Array<{ n: number }> {
  const text = fs.readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((l) => JSON.parse(l) as { n: number });
}

// 2.5 KiB: each record crosses a page boundary, so on a full disk its write stops part way.
const rec = (n: number) => ({ n, pad: 'p'.repeat(2500) });

describe('NdjsonLog on a full disk', () => {
  it('leaves no torn line, keeps what it could not write, and resumes once there is room', () => {
    requireRoot();
    const dir = smallDisk();
    const file = path.join(dir, 'acct.log');
    const warnings: string[] = [];
    const log = new NdjsonLog({ path: file, max_bytes: 1 << 20, keep: 1 }, { warn: (m) => warnings.push(m) });
    log.append(rec(1));
    const filler = fill(dir);
    for (let n = 2; n <= 4; n++) log.append(rec(n));
    expect(records(file).map((r) => r.n)).toEqual([1]);
    expect(log.errors.write).toBe(3);
    fs.rmSync(filler);
    log.append(rec(5));
    expect(records(file).map((r) => r.n)).toEqual([1, 2, 3, 4, 5]);
    expect(warnings).toEqual([
      expect.stringMatching(
        new RegExp(`^accounting log: cannot write ${file}: ENOSPC: no space left on device, write; records wait \\(up to 1 MiB\\) until it works again$`),
      ),
      `accounting log: writing ${file} again; 3 records had waited`,
    ]);
  });

  it('a rotation that fails does not lose the records after it: they go on in the current file', () => {
    requireRoot();
    const dir = smallDisk();
    const file = path.join(dir, 'acct.log');
    const log = new NdjsonLog({ path: file, max_bytes: 6000, keep: 1 }, { warn: () => undefined });
    // path.1 cannot be replaced: a directory with something in it.
    fs.mkdirSync(`${file}.1`);
    fs.writeFileSync(path.join(`${file}.1`, 'x'), '');
    for (let n = 1; n <= 5; n++) log.append(rec(n));
    expect(records(file).map((r) => r.n)).toEqual([1, 2, 3, 4, 5]);
    expect(log.errors.rotate).toBeGreaterThan(0);
    fs.rmSync(`${file}.1`, { recursive: true });
    log.append(rec(6));
    expect(records(file).map((r) => r.n)).toEqual([6]);
    expect(records(`${file}.1`).map((r) => r.n)).toEqual([1, 2, 3, 4, 5]);
  });

  it('in the running agent: write failures are counted in forkwatch_accounting_log_errors_total, and the log resumes', async () => {
    requireRoot();
    const dir = smallDisk();
    const file = path.join(dir, 'acct.log');
    const cg = TestCgroup.create('fulllog');
    later.push(() => cg.remove());
    const a = await TestAgent.start(
      `groups:\n  - name: busy\n    match: { cgroup: "${cg.path}" }\n    resources:\n      tasks: { barrier: 2 }\naccounting:\n  log: { path: ${file} }\n`,
    );
    later.push(async () => void (await a.stop()));
    const errors = async (reason: string) => {
      const m = new RegExp(`^forkwatch_accounting_log_errors_total\\{reason="${reason}",node="[^"]*"\\} (\\d+)$`, 'm').exec(
        await (await a.get('/metrics')).text(),
      );
      if (m === null) throw new Error(`no forkwatch_accounting_log_errors_total{reason="${reason}"} in /metrics`);
      return Number(m[1]);
    };
    // Each run crosses the barrier up and down and releases the group: three records.
    const burst = async () => expect((await cg.exec('sleep 0.1 & sleep 0.1 & sleep 0.1 & wait')).code).toBe(0);
    const lines = () => (fs.existsSync(file) ? records(file).length : 0);
    const settle = async (pred: () => boolean | Promise<boolean>, what: string) => {
      for (let i = 0; i < 200 && !(await pred()); i++) await new Promise((r) => setTimeout(r, 25));
      if (!(await pred())) throw new Error(`timed out waiting for ${what}; agent: ${a.proc.stderr.slice(-2000)}`);
    };
    expect(await errors('write')).toBe(0);
    await burst();
    await settle(() => lines() === 3, 'the first three records');
    const filler = fill(dir);
    // The log's last page may still hold a record or two: burst until writes fail.
    for (let i = 0; i < 20 && (await errors('write')) === 0; i++) await burst();
    expect(await errors('write')).toBeGreaterThan(0);
    const before = lines();
    fs.rmSync(filler);
    await burst();
    // Nothing lost: the records that waited are written (by the next record, or the once-a-second flush).
    await settle(
      () => lines() >= before + 3 && records(file).filter((r) => (r as unknown as { type: string }).type === 'release').length >= 2,
      'the log to resume',
    );
    await a.proc.logged(/accounting log: cannot write .*acct\.log: ENOSPC: no space left on device/);
    await a.proc.logged(/accounting log: writing .*acct\.log again; \d+ records had waited/);
    expect(await errors('rotate')).toBe(0);
    expect(await errors('dropped')).toBe(0);
  });
});
