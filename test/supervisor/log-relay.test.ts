/**
 * The log relay (addon/log-relay.c, built by make) on its own, with real writers on its pipes,
 * and `forkwatch logs` reading what it wrote: rotation under a fast writer loses and tears no
 * line (in the files and in `logs -f`), an overlong line is cut on a UTF-8 boundary, raw bytes
 * stay raw in the file and reach a terminal only escaped, and a name or file that would lead out
 * of the directory is refused.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { RELAY_PATH } from '../../src/supervisor/log-relay.js';
import { CLI, CliProcess, runCli } from '../helpers/cli.js';
import { waitFor } from './cgroup-helpers.js';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-log-relay-'));
const RECORD = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (out|err) (.*)$/s;

afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

function freshDir(label: string): string {
  return fs.mkdtempSync(path.join(scratch, `${label}-`));
}

/** A relay for `name` in `dir`, its fds 3 and 4 pipes the test (or a writer it starts) writes into. */
function startRelay(
  dir: string,
  name: string,
  maxBytes: number,
  keep: number,
): { relay: ChildProcess; out: Socket; err: Socket; exited: Promise<number | null> } {
  const relay = spawn(RELAY_PATH, [dir, name, String(maxBytes), String(keep)], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  let stderr = '';
  relay.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    relay.on('exit', (code) => {
      if (code !== 0) console.error(`relay exited ${code}: ${stderr}`);
      resolve(code);
    }),
  );
  return { relay, out: relay.stdio[3] as Socket, err: relay.stdio[4] as Socket, exited };
}

/** Every record of the program's log, oldest file first. */
function records(dir: string, name: string): Buffer[] {
  const base = path.join(dir, `${name}.log`);
  const rotated = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith(`${name}.log.`))
    .map((f) => Number(f.slice(name.length + 5)))
    .sort((a, b) => b - a);
  const files = [...rotated.map((i) => `${base}.${i}`), base];
  const all = Buffer.concat(files.map((f) => fs.readFileSync(f)));
  const lines: Buffer[] = [];
  let from = 0;
  for (let i = all.indexOf(10); i >= 0; i = all.indexOf(10, from)) {
    lines.push(all.subarray(from, i));
    from = i + 1;
  }
  expect(from, 'the log ends with a whole record').toBe(all.length);
  return lines;
}

/** The stream and text of each record; fails on a record without stamp and stream. */
function parse(lines: Array<Buffer | string>): Array<{ stream: string; text: string }> {
  return lines.map((l) => {
    const m = RECORD.exec(l.toString('latin1'));
    expect(m, `a record: ${JSON.stringify(l.toString())}`).not.toBeNull();
    return { stream: m![2], text: m![3] };
  });
}

describe('rotation under a fast writer', () => {
  it('keeps every line whole and in order, in the files and in forkwatch logs -f', async () => {
    const dir = freshDir('rotate');
    const name = 'fast';
    const n = 40_000;
    // Following from before the first line: it has to cross every rotation as it happens.
    const { out, err, exited } = startRelay(dir, name, 65536, 500);
    await waitFor('the relay to make the log', () => fs.existsSync(path.join(dir, `${name}.log`)));
    const follower = new CliProcess(['logs', name, '--dir', dir, '-f', '-n', '0']);
    try {
      // Writing starts once the follower has the (empty) log open.
      await waitFor(
        'the follower to open the log',
        () => {
          try {
            return fs
              .readdirSync(`/proc/${follower.child.pid}/fd`)
              .some((fd) => fs.readlinkSync(`/proc/${follower.child.pid}/fd/${fd}`).endsWith(`${name}.log`));
          } catch {
            return false;
          }
        },
        15_000,
      );
      // A real writer on both pipes, one write(2) per line (awk's fflush), stdout and stderr interleaved.
      const writer = spawn(
        'awk',
        [
          `BEGIN { for (i = 1; i <= ${n}; i++) { print "line " i " " sprintf("%0" (i % 97) "d", 0); fflush(); if (i % 3 == 0) { print "warn " i > "/dev/stderr"; fflush("/dev/stderr") } } }`,
        ],
        { stdio: ['ignore', out, err] },
      );
      out.destroy();
      err.destroy();
      await new Promise((resolve) => writer.on('exit', resolve));
      expect(await exited).toBe(0);

      const files = fs.readdirSync(dir).filter((f) => f.startsWith(`${name}.log`));
      expect(files.length, 'the log was rotated many times').toBeGreaterThan(20);
      for (const f of files) {
        expect(fs.statSync(path.join(dir, f)).size).toBeLessThanOrEqual(65536);
        expect(fs.statSync(path.join(dir, f)).mode & 0o777).toBe(0o640);
      }
      const recs = parse(records(dir, name));
      const outs = recs.filter((r) => r.stream === 'out').map((r) => r.text);
      const errs = recs.filter((r) => r.stream === 'err').map((r) => r.text);
      expect(outs).toHaveLength(n);
      outs.forEach((t, i) => expect(t).toBe(`line ${i + 1} ${'0'.repeat(Math.max(1, (i + 1) % 97))}`));
      expect(errs).toEqual(Array.from({ length: Math.floor(n / 3) }, (_, i) => `warn ${(i + 1) * 3}`));

      // The follower saw the same records, in the same order.
      const expected = records(dir, name).map((b) => b.toString());
      await follower.waitFor((p) => p.stdout.split('\n').length > expected.length, 'the follower to catch up', 30_000);
      expect(follower.stdout.split('\n').slice(0, -1)).toEqual(expected);
      expect(follower.stderr).toBe('');
    } finally {
      // Never left running, whatever failed above.
      if (follower.child.exitCode === null && follower.child.signalCode === null) follower.kill();
      await follower.exited;
    }
  });

  it('forkwatch logs -n N takes the last lines across rotated files', async () => {
    const dir = freshDir('last');
    const { out, err, exited } = startRelay(dir, 'last', 65536, 10);
    const writer = spawn('seq', ['1', '20000'], { stdio: ['ignore', out, err] });
    out.destroy();
    err.destroy();
    await new Promise((resolve) => writer.on('exit', resolve));
    expect(await exited).toBe(0);
    // The current file holds fewer than 5000 lines: the rest come from .1, .2, ...
    expect(fs.readFileSync(path.join(dir, 'last.log'), 'utf8').split('\n').length).toBeLessThan(5000);
    const r = runCli(['logs', 'last', '--dir', dir, '-n', '5000']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(parse(r.stdout.split('\n').slice(0, -1)).map((x) => x.text)).toEqual(Array.from({ length: 5000 }, (_, i) => String(15001 + i)));
  });
});

describe('what a program writes', () => {
  it('cuts a line longer than 16 KiB into records, never inside a UTF-8 character; a last line without newline is kept', async () => {
    const dir = freshDir('long');
    const { out, err, exited } = startRelay(dir, 'long', 1 << 20, 1);
    out.write(Buffer.concat([Buffer.from('x'.repeat(40_000)), Buffer.from('\n'), Buffer.from('a'.repeat(16_383) + '€tail\n')]));
    err.end('no newline at the end');
    out.end();
    expect(await exited).toBe(0);
    const recs = parse(records(dir, 'long'));
    // The two pipes are read as they come: compare each stream's records in order.
    const sizes = (stream: string) => recs.filter((r) => r.stream === stream).map((r) => Buffer.byteLength(r.text, 'latin1'));
    expect(sizes('out')).toEqual([16384, 16384, 40_000 - 2 * 16384, 16383, Buffer.byteLength('€tail')]);
    expect(recs.filter((r) => r.stream === 'out')[4].text).toBe(Buffer.from('€tail').toString('latin1'));
    expect(recs.filter((r) => r.stream === 'err').map((r) => r.text)).toEqual(['no newline at the end']);
  });

  it('keeps raw bytes raw in the file and in a pipe, and escapes them on a terminal', async () => {
    const dir = freshDir('raw');
    const hostile = Buffer.concat([Buffer.from('title \x1b]0;pwned\x07 clear \x1b[2J bell \x07 '), Buffer.from([0xff, 0xfe]), Buffer.from(' crlf\r')]);
    const { out, err, exited } = startRelay(dir, 'raw', 1 << 20, 1);
    out.end(Buffer.concat([hostile, Buffer.from('\n')]));
    err.end();
    expect(await exited).toBe(0);
    const [line] = records(dir, 'raw');
    expect(line.subarray(line.length - hostile.length)).toEqual(hostile);

    const piped = spawnSync(process.execPath, [CLI, 'logs', 'raw', '--dir', dir]);
    expect(piped.status).toBe(0);
    expect(piped.stdout).toEqual(Buffer.concat([line, Buffer.from('\n')]));

    // A terminal: script(1) runs it on a pseudo-terminal.
    const tty = spawnSync('script', ['-qec', `${process.execPath} ${CLI} logs raw --dir ${dir}`, '/dev/null'], { encoding: 'latin1' });
    expect(tty.status).toBe(0);
    expect(tty.stdout).not.toMatch(/[\x07\x1b]/);
    expect(tty.stdout).toContain('title \\x1b]0;pwned\\x07 clear \\x1b[2J bell \\x07 ');
    expect(tty.stdout).toContain(' crlf\r\n'); // the CR dropped, the pty's own CRLF
    expect(tty.stdout).not.toContain('crlf\\x0d');
  });
});

describe('names and files that lead elsewhere', () => {
  it.each(['../escape', 'a/b', '..', '.', ''])('the relay refuses the name %j with one line, exit 2, writing nothing', (bad) => {
    const dir = freshDir('names');
    const r = spawnSync(RELAY_PATH, [path.join(dir, 'sub'), bad, '65536', '1'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'escape.log'))).toBe(false);
  });

  it('does not follow a symlink planted where the log goes', () => {
    const dir = freshDir('symlink');
    const target = path.join(scratch, 'target-' + process.pid);
    fs.writeFileSync(target, 'untouched\n');
    fs.symlinkSync(target, path.join(dir, 'web.log'));
    const r = spawnSync(RELAY_PATH, [dir, 'web', '65536', '1'], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe', 'ignore', 'ignore'] });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^open .*web\.log: .+\n$/);
    expect(fs.readFileSync(target, 'utf8')).toBe('untouched\n');
  });

  it('forkwatch logs refuses a program name that would leave the directory, with one line, exit 2', () => {
    const dir = freshDir('cli-names');
    for (const bad of ['../../etc/passwd', 'a/b', '..', 'x\x1b]0;t\x07']) {
      const r = runCli(['logs', bad, '--dir', dir]);
      expect(r.code, bad).toBe(2);
      expect(r.stderr.trim().split('\n'), bad).toHaveLength(1);
      expect(r.stderr).toContain('is not a valid name');
      expect(r.stderr).not.toMatch(/[\x07\x1b]/);
    }
  });

  it('forkwatch logs waits with -f for a log that is not there yet, and says so without -f', async () => {
    const dir = freshDir('later');
    const missing = runCli(['logs', 'later', '--dir', dir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('is not there');
    const follower = new CliProcess(['logs', 'later', '--dir', dir, '-f']);
    try {
      const { out, err, exited } = startRelay(dir, 'later', 65536, 1);
      out.end('first\n');
      err.end();
      expect(await exited).toBe(0);
      await follower.waitFor((p) => p.stdout.includes(' out first\n'), 'the line');
    } finally {
      follower.kill();
      await follower.exited;
    }
    await waitFor('nothing', () => true);
  });
});
