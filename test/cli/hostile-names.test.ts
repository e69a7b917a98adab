/**
 * Names a process or a user chose, printed by the built CLI: real processes that name themselves
 * with terminal escape sequences, C1 controls, newlines and bidi overrides (prctl PR_SET_NAME,
 * `exec -a`, argv, an executable's file name, a cgroup's name). What reaches the terminal must
 * show them, inert: no raw control character, no forged line.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ProcessEvent } from '../../src/events/model.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { cleanupAfterEach } from '../helpers/cleanups.js';
import { CliProcess, runCli } from '../helpers/cli.js';
import { workload } from '../helpers/workloads.js';

const cleanups = cleanupAfterEach();

/** Anything a terminal acts on, or that reorders or hides text: C0 but newline, DEL, C1, bidi. */
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

// OSC 0 (retitle), a newline to forge a line, FAKE, then C1 CSI (0x9b): 13 bytes, under 16.
const COMM_BYTES = Buffer.from([0x1b, 0x5d, 0x30, 0x3b, 0x50, 0x57, 0x07, 0x0a, 0x46, 0x41, 0x4b, 0x45, 0x9b]);
/** As the kernel's comm reaches JSON: one character per byte. */
const COMM = COMM_BYTES.toString('latin1');
const CGROUP_NAME = 'esc-\x1b[2J-\u009b-\u202eevil';
const ARGV0 = '\x1b]52;c;cHduZWQ=\x07'; // OSC 52: write the clipboard
const FORGED = 'x\n00:00:00.000000 exit    1 0 init / code 0';

function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-hostile-'));
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A cgroup with an escape-laden child; returns the child's path and a script runner inside it. */
function hostileCgroup(): { parent: TestCgroup; child: string; dir: string } {
  const parent = TestCgroup.create('hostile');
  cleanups.push(() => parent.remove());
  const dir = path.join(parent.dir, CGROUP_NAME);
  fs.mkdirSync(dir);
  return { parent, child: `${parent.path}/${CGROUP_NAME}`, dir };
}

/** Runs, inside `dir`, every hostile thing: a self-named process, argv and a file name with escapes. */
async function runHostile(dir: string, marker: string): Promise<void> {
  const setname = workload('setname');
  const bin = path.join(tmpDir(), 'true-\x1b[31mred');
  fs.symlinkSync('/bin/true', bin);
  const script = [`${setname} ${COMM_BYTES.toString('hex')}`, `(exec -a "$A0" /bin/true "$A1" "$A2")`, `"$BIN"`, `exec /bin/true ${marker}`].join('; ');
  const { spawn } = await import('node:child_process');
  const child = spawn('/bin/sh', ['-c', `echo $$ > "$DIR/cgroup.procs" && exec /bin/bash -c "$0"`, script], {
    stdio: 'ignore',
    env: { ...process.env, DIR: dir, A0: ARGV0, A1: '\x1b[8m', A2: FORGED, BIN: bin },
  });
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  expect(code).toBe(0);
}

/** `forkwatch tail ARGS` on a hostile cgroup while everything hostile runs in it, until it ends. */
async function tailHostile(args: string[]): Promise<{ parent: TestCgroup; child: string; tail: CliProcess }> {
  const { parent, child, dir } = hostileCgroup();
  const marker = `marker-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const tail = new CliProcess(['tail', ...args, '--cgroup', parent.path]);
  cleanups.push(async () => {
    tail.kill('SIGKILL');
    await tail.exited;
  });
  await tail.waitFor((p) => p.stderr.includes('tailing'), 'tail to attach');
  await runHostile(dir, marker);
  await tail.waitFor((p) => p.stdout.includes(marker), 'the last exec');
  tail.kill('SIGINT');
  expect((await tail.exited).code).toBe(0);
  return { parent, child, tail };
}

describe('hostile names reach the terminal inert', () => {
  it('forkwatch tail (columns): no raw control character, no forged line, every value visible', async () => {
    requireRoot();
    const { parent, tail } = await tailHostile([]);
    const out = tail.stdout;
    expect(out).not.toMatch(RAW_CONTROL);
    // Every line after the header is an event: it starts with a time of day.
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+EVENT/);
    for (const l of lines.slice(1)) expect(l).toMatch(/^\d\d:\d\d:\d\d\.\d{6} (fork|exec|exit|migrate) /);
    // The comm, the cgroup, argv and the file name, each shown with its escapes visible.
    const comm = '\\x1b]0;PW\\x07\\x0aFAKE\\u009b';
    const cg = `${parent.path}/esc-\\x1b[2J-\\u009b-\\u202eevil`;
    expect(lines.filter((l) => l.includes(` ${comm} `) && l.includes(cg)).map((l) => l.split(/\s+/)[1])).toEqual(['fork', 'exit', 'exit']);
    expect(out).toContain(`$'\\x1b]52;c;cHduZWQ=\\x07' $'\\x1b[8m' $'x\\x0a00:00:00.000000 exit    1 0 init / code 0'`);
    expect(out).toContain('true-\\x1b[31mred');
  });

  it('forkwatch tail --json: the exact values, with C1 and bidi escaped as \\u too', async () => {
    requireRoot();
    const { child, tail } = await tailHostile(['--json']);

    expect(tail.stdout).not.toMatch(RAW_CONTROL);
    const lines = tail.stdout.trimEnd().split('\n');
    const events = lines.map((l) => JSON.parse(l) as ProcessEvent);
    // Nothing was lost to escaping: JSON gives back exactly what the kernel said.
    expect(events.filter((e) => e.comm === COMM && e.cgroup === child).map((e) => e.type)).toEqual(['fork', 'exit', 'exit']);
    expect(events.some((e) => e.type === 'exec' && e.argv?.[0] === ARGV0 && e.argv[2] === FORGED)).toBe(true);
    expect(events.some((e) => e.type === 'exec' && e.filename?.endsWith('true-\x1b[31mred'))).toBe(true);
    expect(tail.stdout).toContain('\\u009b');
    expect(tail.stdout).toContain('\\u202e');
  });

  it('forkwatch groups: a cgroup named with escapes is listed inert, and exactly in --json', async () => {
    requireRoot();
    const { dir, child } = hostileCgroup();
    const agent = await TestAgent.start('');
    cleanups.push(async () => void (await agent.stop()));
    const sleeper = (await import('node:child_process')).spawn('/bin/sh', ['-c', `echo $$ > "$0/cgroup.procs" && exec sleep 60`, dir], { stdio: 'ignore' });
    cleanups.push(() => void sleeper.kill('SIGKILL'));
    await until(() => fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim() !== '', 'sleep in the cgroup');
    let text = '';
    for (let i = 0; i < 50 && !text.includes('esc-'); i++) {
      const r = runCli(['groups', '--url', agent.url, '--interval', '0.05']);
      expect(r.code).toBe(0);
      text = r.stdout;
    }
    expect(text).not.toMatch(RAW_CONTROL);
    expect(text).toContain(`${child.replace(CGROUP_NAME, '')}esc-\\x1b[2J-\\u009b-\\u202eevil`);
    const json = runCli(['groups', '--url', agent.url, '--interval', '0.05', '--json']);
    expect(json.code).toBe(0);
    expect(json.stdout).not.toMatch(RAW_CONTROL);
    const rows = JSON.parse(json.stdout) as { group: string; tasks: number }[];
    expect(rows.find((r) => r.group === child)?.tasks).toBe(1);
  });

  it('forkwatch tail --from: what a hostile agent sends (node, events, notices, refusals) is inert', async () => {
    const node = 'n\x1b]0;owned\x07\nforkwatch: fake';
    const lines = [
      { type: 'hello', time: '2026-01-01T00:00:00.000000Z', node, stream: 's', seq: 0 },
      {
        type: 'exec',
        time: '2026-01-01T00:00:00.000001Z',
        node,
        pid: 7,
        tid: 7,
        ppid: 1,
        comm: COMM,
        uid: 0,
        cgroup: '/\u009b',
        cgroup_id: 1,
        ns_pid: 7,
        filename: '/x',
        argv: [ARGV0, FORGED],
        argv_truncated: false,
        seq: 0,
      },
      { type: 'barrier', time: '2026-01-01T00:00:00.000002Z', node, group: 'g\u202e\x1b[8m', resource: 'tasks\n', held: '\x1b[2J', seq: 1 },
    ];
    const server = http.createServer((req, res) => {
      if (req.headers.authorization === 'Bearer refuse') {
        res.writeHead(403).end('\x1b[2Jdenied\nforkwatch: fake line');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      res.end(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'refuse'), 'refuse\n');

    const tail = new CliProcess(['tail', '--from', url, '--count', '2', '--window', '0']);
    expect((await tail.exited).code).toBe(0);
    for (const out of [tail.stdout, tail.stderr]) expect(out).not.toMatch(RAW_CONTROL);
    const shown = tail.stdout.trimEnd().split('\n');
    expect(shown).toHaveLength(2);
    expect(shown[0]).toContain(`n\\x1b]0;owned\\x07\\x0aforkwatch: fake`);
    expect(shown[0]).toContain(`$'\\x1b]52;c;cHduZWQ=\\x07'`);
    expect(shown[1]).toMatch(/barrier\s+g\\u202e\\x1b\[8m\s+resource=tasks\\x0a held=\\x1b\[2J$/);
    expect(tail.stderr.trimEnd().split('\n')).toEqual([`forkwatch: connected to ${url} (node n\\x1b]0;owned\\x07\\x0aforkwatch: fake)`]);

    const json = new CliProcess(['tail', '--from', url, '--count', '2', '--json']);
    expect((await json.exited).code).toBe(0);
    expect(json.stdout).not.toMatch(RAW_CONTROL);
    expect(json.jsonLines()[0]).toMatchObject({ comm: COMM, cgroup: '/\u009b', argv: [ARGV0, FORGED], node });

    // (The server runs in this process: the CLI must run asynchronously, not through runCli.)
    const refused = new CliProcess(['tail', '--from', url, '--token-file', path.join(dir, 'refuse')]);
    expect((await refused.exited).code).toBe(1);
    expect(refused.stderr).not.toMatch(RAW_CONTROL);
    expect(refused.stderr.trimEnd().split('\n')).toEqual([`forkwatch: ${url}: HTTP 403: \\x1b[2Jdenied\\x0aforkwatch: fake line`]);
  });
});
