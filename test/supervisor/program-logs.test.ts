/**
 * program_logs end to end: the built agent (`forkwatch run`, root, real cgroups) sends a real
 * program's stdout and stderr through its log relay to `<dir>/<name>.log`; `forkwatch logs -f`
 * follows it; the agent is SIGKILLed while the program writes on, a new agent adopts the program,
 * and the numbered lines in the file have no gap and no duplicate across the restart (the follower
 * saw those written while no agent ran). A bad program_logs value is one line, exit 2.
 *
 * The program is named t<pid>-…; the agents, the follower, the program, its relay, its cgroup and
 * the temp files are removed afterwards, pass or fail.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCgroup2Mount } from '../../src/host/cgroupfs.js';
import { RELAY_PATH, RELAYS_CGROUP } from '../../src/supervisor/log-relay.js';
import { stopAgent, TestAgent } from '../helpers/agent.js';
import { requireRoot } from '../helpers/cgroup.js';
import { CliProcess, runCli } from '../helpers/cli.js';
import { destroyTree, gone, waitFor } from './cgroup-helpers.js';

const PROGRAMS_ROOT = '/forkwatch.programs';
const program = `t${process.pid}-plogs`;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-program-logs-'));
const RECORD = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (out|err) (.*)$/;
let mount = '';

beforeAll(() => {
  requireRoot();
  mount = detectCgroup2Mount();
});

afterAll(async () => {
  // The relay ends when the program's pipes do; one left behind (a failed run) is killed here.
  for (const pid of relayPids()) process.kill(pid, 'SIGKILL');
  for (const pid of relayPids()) await gone(pid);
  await destroyTree(programDir());
  fs.rmSync(scratch, { recursive: true, force: true });
  expect(fs.existsSync(programDir()), `${programDir()} left behind`).toBe(false);
});

function programDir(): string {
  return path.join(mount, PROGRAMS_ROOT, program);
}

/** Live processes in a cgroup below the programs' root (none when it is gone). */
function procs(cgroup: string): number[] {
  try {
    return fs
      .readFileSync(path.join(mount, PROGRAMS_ROOT, cgroup, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** The relays (in the relays' cgroup) writing this test's log directory. */
function relayPids(): number[] {
  return procs(RELAYS_CGROUP).filter((pid) => {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return argv[0] === RELAY_PATH && argv[1]?.startsWith(scratch) && argv[2] === program;
    } catch {
      return false;
    }
  });
}

/** Live processes in the program's cgroup. */
function programPids(): number[] {
  return procs(program);
}

/** The stream and text of each whole record in `text`; fails on a line that is not a record. */
function parse(text: string): Array<{ stream: string; text: string }> {
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or a record still being written
  return lines.map((l) => {
    const m = RECORD.exec(l);
    expect(m, `a record: ${JSON.stringify(l)}`).not.toBeNull();
    return { stream: m![1], text: m![2] };
  });
}

/** The numbers of the program's `n <i>` stdout lines in `text`. */
function numbers(text: string): number[] {
  return parse(text)
    .filter((r) => r.stream === 'out')
    .map((r) => Number(/^n (\d+)$/.exec(r.text)?.[1] ?? NaN));
}

describe('program_logs under the real agent', () => {
  const dir = path.join(scratch, 'logs');
  const log = path.join(dir, `${program}.log`);
  const config = [
    `program_logs: { dir: ${JSON.stringify(dir)}, max_bytes: 1MiB, keep: 2 }`,
    'programs:',
    `  - ${JSON.stringify({
      name: program,
      // Numbered lines at a steady pace; every fifth also a line on stderr.
      command: ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo "n $i"; [ $((i % 5)) -eq 0 ] && echo "e $i" >&2; sleep 0.02; done'],
      restart: 'on-failure',
      keep_running: false,
    })}`,
  ].join('\n');
  let first: TestAgent | undefined;
  let second: TestAgent | undefined;

  afterAll(async () => {
    await stopAgent(first);
    await stopAgent(second);
    // A failed run may leave the program (SIGKILLed agents stop nothing).
    for (const pid of programPids()) process.kill(pid, 'SIGKILL');
  });

  it('writes the lines with their stream, follows them, and loses or repeats none across an agent SIGKILL and adoption', async () => {
    requireRoot();
    first = await TestAgent.start(config);
    const read = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '');
    await waitFor('the first lines in the log', () => numbers(read()).length >= 10);
    expect(fs.statSync(log).mode & 0o777).toBe(0o640);
    const recs = parse(read());
    expect(recs.some((r) => r.stream === 'err' && /^e \d+$/.test(r.text))).toBe(true);
    for (const r of recs) expect(r.text).toMatch(r.stream === 'out' ? /^n \d+$/ : /^e \d+$/);

    const follower = new CliProcess(['logs', program, '-f', '--dir', dir]);
    try {
      await follower.waitFor((p) => numbers(p.stdout).length >= 5, 'the follower to print lines');
      const pid = programPids()[0];
      expect(pid).toBeGreaterThan(0);

      // The agent dies without stopping anything: the program and its relay write on.
      first.proc.kill('SIGKILL');
      await first.proc.exited;
      fs.rmSync(path.dirname(first.configPath), { recursive: true, force: true });
      first = undefined;
      const atKill = Math.max(...numbers(read()));
      await waitFor('lines written while no agent runs', () => Math.max(...numbers(read())) >= atKill + 10);
      expect(programPids()).toContain(pid);

      second = await TestAgent.start(config);
      await waitFor('the new agent to adopt the program', () => second!.proc.stderr.includes(`program "${program}": adopting`));
      const atAdopt = Math.max(...numbers(read()));
      expect(programPids()).toContain(pid);
      await waitFor('lines after the adoption', () => Math.max(...numbers(read())) >= atAdopt + 10);
      expect(relayPids(), 'one relay: the adopting agent starts none').toHaveLength(1);

      // Stopping the agent (keep_running: false) stops the program; its relay ends with the pipes.
      expect(await second.stop()).toEqual({ code: 0, signal: null });
      second = undefined;
      expect(await gone(pid)).toBe(true);
      await waitFor('the relay to end', () => relayPids().length === 0);

      const text = read();
      expect(text.endsWith('\n')).toBe(true);
      const seq = numbers(text);
      expect(seq.length).toBeGreaterThan(atAdopt + 5);
      expect(seq, 'every line once, in order, from 1').toEqual(Array.from({ length: seq.length }, (_, i) => i + 1));
      const errs = parse(text).filter((r) => r.stream === 'err');
      expect(errs.map((r) => r.text)).toEqual(Array.from({ length: errs.length }, (_, i) => `e ${(i + 1) * 5}`));
      expect(fs.statSync(log).mode & 0o777).toBe(0o640);

      // The follower saw the same records from where it started, including those written with no agent.
      const all = text.split('\n').slice(0, -1);
      await follower.waitFor((p) => p.stdout.endsWith(all[all.length - 1] + '\n'), 'the follower to reach the end');
      const seen = follower.stdout.split('\n').slice(0, -1);
      const from = all.indexOf(seen[0]);
      expect(from).toBeGreaterThanOrEqual(0);
      expect(seen).toEqual(all.slice(from));
      const seenNumbers = numbers(follower.stdout);
      expect(seenNumbers).toContain(atKill + 1);
      expect(seenNumbers).toContain(atKill + 10);
      expect(follower.stderr).toBe('');
    } finally {
      if (follower.child.exitCode === null && follower.child.signalCode === null) follower.kill();
      await follower.exited;
    }
  });
});

describe('a bad program_logs value', () => {
  it('exits 2 with one line', () => {
    requireRoot();
    const file = path.join(scratch, 'bad.yaml');
    fs.writeFileSync(file, `listen: "127.0.0.1:1"\nprogram_logs: { dir: ${JSON.stringify(path.join(scratch, 'bad'))}, max_bytes: 1KiB }\n`);
    const r = runCli(['run', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('program_logs.max_bytes');
    expect(r.stdout).toBe('');
    // Refused before anything is made.
    expect(fs.existsSync(path.join(scratch, 'bad'))).toBe(false);
  });
});
