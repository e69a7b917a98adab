/** The one /proc/<pid>/stat parser, on lines as the kernel writes them and on hostile comms. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bootTime, isExiting, parseStat, PF_EXITING, readCwd, readStat, START_TICK_NS } from '../../src/host/procfs.js';

/** A stat line: fields 3.. after "pid (comm) ", with flags (field 9), threads (20) and starttime (22). */
function statLine(pid: number, comm: string, o: { state?: string; ppid?: number; flags?: number; threads?: number; start?: number } = {}): string {
  const f = [o.state ?? 'S', o.ppid ?? 1, pid, pid, 0, -1, o.flags ?? 0x400100, 0, 0, 0, 0, 5, 2, 0, 0, 20, 0, o.threads ?? 1, 0, o.start ?? 4242, 1234567, 89];
  return `${pid} (${comm}) ${f.join(' ')}\n`;
}

describe('parseStat', () => {
  it.each([
    ['a plain name', 'nginx'],
    ['spaces', 'my worker 1'],
    ['a closing parenthesis', 'evil) R 1 2'],
    ['both parentheses, twice', '((x)) (y)'],
    ['the longest comm', 'abcdefghijklmno'],
    ['an empty comm', ''],
  ])('reads the fields after a comm with %s', (_what, comm) => {
    const st = parseStat(statLine(321, comm, { state: 'Z', ppid: 77, flags: PF_EXITING | 0x400000, threads: 3, start: 9000 }));
    expect(st).toEqual({ pid: 321, comm, state: 'Z', ppid: 77, flags: PF_EXITING | 0x400000, threads: 3, startTicks: 9000, startNs: 9000 * START_TICK_NS });
  });

  it.each([[''], ['garbage'], ['12 (cut'], ['12 sh) S 1'], ['12 (sh) S 1 2 3']])('throws on %j, which is not a stat line', (text) => {
    expect(() => parseStat(text)).toThrow(/not a \/proc\/<pid>\/stat line/);
  });

  it('reads this process from the real /proc', () => {
    const st = readStat(process.pid);
    expect(st?.pid).toBe(process.pid);
    expect(st?.ppid).toBe(process.ppid);
    expect(st?.state).toMatch(/^[RS]$/);
    expect(readStat(2 ** 22 + 1)).toBeUndefined(); // above pid_max's ceiling: never a process
  });

  it("readCwd gives this process's working directory with its start time, which the caller checks", () => {
    expect(readCwd(process.pid)).toEqual({ cwd: process.cwd(), startNs: readStat(process.pid)!.startNs });
    expect(readCwd(2 ** 22 + 1)).toBeUndefined();
  });
});

describe('a fake /proc', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-procfs-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const task = (pid: number, tid: number, flags: number) => {
    fs.mkdirSync(path.join(root, String(pid), 'task', String(tid)), { recursive: true });
    fs.writeFileSync(path.join(root, String(pid), 'task', String(tid), 'stat'), statLine(tid, 'w (1)', { flags }));
  };

  it('isExiting: only when every thread has PF_EXITING, or the process is gone', () => {
    task(10, 10, PF_EXITING);
    task(10, 11, PF_EXITING | 0x40);
    task(20, 20, PF_EXITING);
    task(20, 21, 0x40); // one thread still runs
    fs.mkdirSync(path.join(root, '30', 'task', '30'), { recursive: true }); // a thread whose stat went away
    task(30, 31, 0);
    expect(isExiting(10, root)).toBe(true);
    expect(isExiting(20, root)).toBe(false);
    expect(isExiting(30, root)).toBe(false);
    expect(isExiting(40, root)).toBe(true);
  });

  it('readCwd: the link, then the start time of whatever process the pid is after reading it; undefined without either', () => {
    fs.mkdirSync(path.join(root, '50'));
    fs.symlinkSync('/srv/app', path.join(root, '50', 'cwd'));
    fs.writeFileSync(path.join(root, '50', 'stat'), statLine(50, 'app', { start: 777 }));
    expect(readCwd(50, root)).toEqual({ cwd: '/srv/app', startNs: 777 * START_TICK_NS });
    fs.mkdirSync(path.join(root, '51'));
    fs.symlinkSync('/srv/gone', path.join(root, '51', 'cwd')); // its stat gone: exited after the readlink
    expect(readCwd(51, root)).toBeUndefined();
    expect(readCwd(52, root)).toBeUndefined();
  });

  it('bootTime reads btime from stat, undefined without it', () => {
    fs.writeFileSync(path.join(root, 'stat'), 'cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n');
    expect(bootTime(root)).toBe(1_700_000_000);
    fs.writeFileSync(path.join(root, 'stat'), 'cpu  1 2 3\n');
    expect(bootTime(root)).toBeUndefined();
  });
});
