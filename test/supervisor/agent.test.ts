/**
 * Issue 5 end to end: the built agent (`forkwatch run`) supervising real programs in real
 * cgroups, as root. The agent learns that a program went down from kernel exit records only;
 * these tests check what a person sees: the processes themselves (each program writes a line to a
 * file when it starts), `forkwatch programs|start|stop`, the event stream, the log, and the
 * forkwatch_program_* series in a real Prometheus.
 *
 * Every program is named t<pid>-…, so nothing here touches another agent's programs; every
 * agent, program cgroup, watched cgroup and temp file is removed afterwards, pass or fail.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProgramStatus } from '../../src/supervisor/types.js';
import { detectCgroup2Mount } from '../../src/host/cgroupfs.js';
import { stopAgent, TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup } from '../helpers/cgroup.js';
import { CliProcess } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { TestPrometheus } from '../helpers/prometheus.js';
import { cli, programsYaml, readEvents, status, waitStatus, type EventReader } from './agent-helpers.js';
import { destroyTree, gone, waitFor } from './cgroup-helpers.js';

const PREFIX = `t${process.pid}`;
const PROGRAMS_ROOT = '/forkwatch.programs';
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-sup-agent-'));
let mount = '';
/** Every program name any agent here was given: their cgroups are destroyed at the end. */
const names = new Set<string>();

beforeAll(async () => {
  requireRoot();
  mount = detectCgroup2Mount();
});

afterAll(async () => {
  for (const name of names) await destroyTree(programDir(name));
  fs.rmSync(scratch, { recursive: true, force: true });
  for (const name of names) expect(fs.existsSync(programDir(name)), `${programDir(name)} left behind`).toBe(false);
});

// --- helpers ------------------------------------------------------------------------------------

function name(label: string): string {
  const n = `${PREFIX}-${label}`;
  names.add(n);
  return n;
}

function programDir(program: string): string {
  return path.join(mount, PROGRAMS_ROOT, program);
}

/** Live processes in a program's cgroup (zombies count: they are still listed until reaped). */
function programPids(program: string): number[] {
  try {
    return fs
      .readFileSync(path.join(programDir(program), 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** A file a program appends a line to each time it starts; `lines()` reads them back. */
function stampFile(label: string): { path: string; lines(): string[] } {
  const file = path.join(scratch, `${label}.stamps`);
  return {
    path: file,
    lines: () => {
      try {
        return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
      } catch {
        return [];
      }
    },
  };
}

/** The agent's `program "NAME": A -> B (reason)` log lines, in order. */
function transitions(agent: TestAgent, program: string): { from: string; to: string; reason: string }[] {
  const re = new RegExp(`program "${program}": (\\w+) -> (\\w+)(?: \\((.*)\\))?$`, 'gm');
  return [...agent.proc.stderr.matchAll(re)].map((m) => ({ from: m[1], to: m[2], reason: m[3] ?? '' }));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// --- one agent, many programs ------------------------------------------------------------------

describe('programs supervised by the running agent', () => {
  let agent: TestAgent;
  let prom: TestPrometheus;
  let restarts: EventReader;
  let watched: TestCgroup;
  let firstScrape = '';

  const P = {
    onFailure: name('onfail'),
    exitOk: name('exitok'),
    never: name('never'),
    abnormalSig: name('abn-sig'),
    abnormalCode: name('abn-code'),
    backoff: name('backoff'),
    daemon: name('daemon'),
    loop: name('loop'),
    watch: name('watch'),
    tree: name('tree'),
    noCmd: name('nocmd'),
    noPath: name('nopath'),
    noUser: name('nouser'),
  };
  const S = {
    onFailure: stampFile('onfail'),
    exitOk: stampFile('exitok'),
    never: stampFile('never'),
    abnormalSig: stampFile('abn-sig'),
    abnormalCode: stampFile('abn-code'),
    backoff: stampFile('backoff'),
    daemon: stampFile('daemon'),
    loop: stampFile('loop'),
    watchRuns: stampFile('watch-runs'),
    tree: stampFile('tree'),
  };
  /** Append a start line (ns since the epoch) to `file`, in the program's own shell. */
  const stamp = (file: string) => `date +%s%N >> ${file}`;
  const sock = () => agent.socket;
  const onFailureRestarts = () => restarts.events.filter((e) => e.program === P.onFailure).length;

  /**
   * Returns once the agent has handled kernel records written after this call: two more restarts
   * of the on-failure program (it runs 0.3 s), the second set off by an exit after the call. The
   * agent reads records in the order the kernel wrote them and acts on each before the next
   * program's exit leads to a restart, so a late or repeated report of anything that happened
   * before the call has been dealt with by then: a negative asserted after it means something.
   */
  const agentPastNow = async () => {
    const n = onFailureRestarts();
    await waitFor('two more restarts of the on-failure program (the agent past now)', () => onFailureRestarts() >= n + 2);
  };

  beforeAll(async () => {
    requireRoot();
    // The watched group is made and filled by the test, as systemd or a container runtime would.
    watched = TestCgroup.create('watched');
    watched.run('exec sleep 1000');
    await waitFor('the watched group to fill', () => watched.pids().length === 1);
    // As `systemctl restart` does, the command returns once the group holds the new process.
    const refill = `sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > ${watched.dir}/cgroup.procs`;

    const yaml = programsYaml([
      {
        name: P.onFailure,
        command: ['sh', '-c', `${stamp(S.onFailure.path)}; sleep 0.3; exit 3`],
        restart: 'on-failure',
        backoff: { initial: 0 },
        start_limit: { burst: 0 },
      },
      { name: P.exitOk, command: ['sh', '-c', `${stamp(S.exitOk.path)}; exit 0`], restart: 'on-failure' },
      { name: P.never, command: ['sh', '-c', `${stamp(S.never.path)}; exit 3`], restart: 'never' },
      { name: P.abnormalSig, command: ['sh', '-c', `${stamp(S.abnormalSig.path)}; exec sleep 1000`], restart: 'on-abnormal', backoff: { initial: 0 } },
      { name: P.abnormalCode, command: ['sh', '-c', `${stamp(S.abnormalCode.path)}; exit 3`], restart: 'on-abnormal' },
      // Held until the test says go, so its restarts do not compete with the agent's own start.
      {
        name: P.backoff,
        command: ['sh', '-c', `while [ ! -e ${S.backoff.path}.go ]; do sleep 0.05; done; ${stamp(S.backoff.path)}; exit 1`],
        restart: 'on-failure',
        backoff: { initial: '200ms', factor: 2, max: '10s' },
        start_limit: { burst: 0 },
      },
      // The shell exits at once; a subshell forks the real daemon and exits too: a grandchild.
      {
        name: P.daemon,
        command: ['sh', '-c', `(sh -c 'echo $$ >> ${S.daemon.path}; exec sleep 1000' </dev/null >/dev/null 2>&1 &); exit 0`],
        restart: 'on-failure',
        backoff: { initial: 0 },
      },
      {
        name: P.loop,
        command: ['sh', '-c', `${stamp(S.loop.path)}; exit 1`],
        restart: 'always',
        backoff: { initial: 0 },
        start_limit: { burst: 3, interval: '10s' },
        retry_failed_after: '2s',
      },
      { name: P.watch, watch: watched.path, restart_command: ['sh', '-c', `echo run >> ${S.watchRuns.path}; ${refill}`] },
      // Every process of the tree ignores SIGTERM; one leaves the shell's session on the way.
      {
        name: P.tree,
        command: ['sh', '-c', `trap '' TERM; sleep 1000 & (setsid sleep 1000 &); sleep 1000 & echo up >> ${S.tree.path}; wait`],
        stop_timeout: '1s',
      },
      { name: P.noCmd, command: [`no-such-command-${PREFIX}`, '--flag'], restart: 'always' },
      { name: P.noPath, command: [`/nonexistent/${PREFIX}/bin/daemon`], restart: 'always' },
      { name: P.noUser, command: ['sleep', '1000'], user: `no-such-user-${PREFIX}`, restart: 'always' },
    ]);
    agent = await TestAgent.start(yaml);
    // The very first scrape, before anything had time to restart.
    firstScrape = await (await agent.get('/metrics')).text();
    restarts = readEvents(agent.socket, 'restart');
    prom = await TestPrometheus.start([`127.0.0.1:${agent.port}`]);
  });

  afterAll(async () => {
    restarts?.close();
    await prom?.stop();
    await stopAgent(agent);
    // After the agent: it would run restart_command again if the group emptied under it.
    await watched?.remove();
  });

  it('restarts a non-zero exit under on-failure, not under never, and not a clean exit', async () => {
    const p = await waitStatus(sock(), P.onFailure, (s) => s.restarts >= 2, 'two restarts');
    // (A restart counts once the process is launched; its own first line may come a moment later.)
    await waitFor('three runs of the program', () => S.onFailure.lines().length >= 3);
    expect(p.last_exit).toMatchObject({ code: 3, signal: null });

    const never = await waitStatus(sock(), P.never, (s) => s.state === 'failed', 'failed');
    const ok = await waitStatus(sock(), P.exitOk, (s) => s.state === 'stopped', 'stopped');
    await agentPastNow(); // past their exits' records: a restart would have begun by now
    expect(S.never.lines()).toHaveLength(1);
    expect(S.exitOk.lines()).toHaveLength(1);
    expect(never).toMatchObject({ restarts: 0, last_exit: { code: 3, signal: null }, pid: null });
    expect(never.error).toContain('restart policy never');
    expect(ok).toMatchObject({ restarts: 0, last_exit: { code: 0, signal: null } });
    expect((await status(sock(), P.never)).state).toBe('failed');
    expect(await status(sock(), P.exitOk)).toMatchObject({ state: 'stopped', restarts: 0 });
    expect(programPids(P.never)).toEqual([]);
  });

  it('restarts a program killed by a signal under on-abnormal, but not one that exits non-zero', async () => {
    const before = await waitStatus(sock(), P.abnormalSig, (s) => s.state === 'running' && S.abnormalSig.lines().length === 1, 'running');
    expect(programPids(P.abnormalSig)).toEqual([before.pid]);
    process.kill(before.pid!, 'SIGKILL');
    const after = await waitStatus(sock(), P.abnormalSig, (s) => s.restarts === 1 && s.state === 'running', 'restarted once');
    expect(after.pid).not.toBe(before.pid);
    expect(after.last_exit).toMatchObject({ code: null, signal: 'SIGKILL' });
    await waitFor('the second run to write its line', () => S.abnormalSig.lines().length === 2);
    // (Its `date` may still be on its way out.)
    await waitFor('only the new process in the cgroup', () => programPids(P.abnormalSig).join() === String(after.pid));

    const code = await waitStatus(sock(), P.abnormalCode, (s) => s.state === 'failed', 'failed');
    expect(code).toMatchObject({ restarts: 0, last_exit: { code: 3 } });
    expect(S.abnormalCode.lines()).toHaveLength(1);
  });

  it('waits longer between restarts as the backoff grows (200ms, factor 2)', async () => {
    fs.writeFileSync(`${S.backoff.path}.go`, '');
    await waitFor('five starts of the backoff program', () => S.backoff.lines().length >= 5, 20_000);
    const starts = S.backoff
      .lines()
      .slice(0, 5)
      .map((l) => Number(BigInt(l) / 1_000_000n));
    const gaps = starts.slice(1).map((t, i) => t - starts[i]);
    const delays = [200, 400, 800, 1600];
    // What the agent chose, exactly...
    const planned = [...agent.proc.stderr.matchAll(new RegExp(`program "${P.backoff}" went down .*; restarting in ([0-9.]+)s`, 'g'))];
    expect(planned.slice(0, 4).map((m) => Number(m[1]) * 1000)).toEqual(delays);
    // ...and what the program saw: never early; late by the exit's way through the kernel and the
    // spawn, bounded loosely (this host may be busy with other work).
    for (const [i, gap] of gaps.entries()) {
      expect(gap, `gap ${i + 1} of ${JSON.stringify(gaps)}`).toBeGreaterThanOrEqual(delays[i] - 5);
      expect(gap, `gap ${i + 1} of ${JSON.stringify(gaps)}`).toBeLessThan(delays[i] + 2000);
    }
    expect(gaps[3]).toBeGreaterThan(gaps[0]);
    // The stream's restart events tell the same story: latency >= the backoff delay.
    await waitFor('four restart events', () => restarts.events.filter((e) => e.program === P.backoff).length >= 4);
    const events = restarts.events.filter((e) => e.program === P.backoff) as { program: string; reason: string; restarts: number; latency_s: number }[];
    expect(events.slice(0, 4).map((e) => e.restarts)).toEqual([1, 2, 3, 4]);
    for (const [i, e] of events.slice(0, 4).entries()) {
      expect(e.reason).toBe('policy');
      expect(e.latency_s).toBeGreaterThanOrEqual(delays[i] / 1000 - 0.005);
      expect(e.latency_s).toBeLessThan(delays[i] / 1000 + 2);
    }
  });

  it('keeps a double-forking daemon running while its grandchild lives, and restarts it when that dies', async () => {
    await waitFor('the daemon to write its pid', () => S.daemon.lines().length === 1);
    const daemon = Number(S.daemon.lines()[0]);
    // The shell and the subshell are gone; only the grandchild is left in the cgroup.
    await waitFor('only the grandchild left', () => programPids(P.daemon).length === 1);
    expect(programPids(P.daemon)).toEqual([daemon]);
    expect(fs.readFileSync(`/proc/${daemon}/cgroup`, 'utf8')).toContain(`${PROGRAMS_ROOT}/${P.daemon}`);
    // Past the shell's and the subshell's exits, the agent shows the daemon's own pid (or, wrongly,
    // a restart or another state).
    await agentPastNow();
    const shown = await waitStatus(sock(), P.daemon, (s) => s.pid === daemon || s.restarts > 0 || s.state !== 'running', "the daemon's pid");
    expect(shown).toMatchObject({ state: 'running', restarts: 0, pid: daemon });
    expect(S.daemon.lines()).toHaveLength(1);

    process.kill(daemon, 'SIGKILL');
    const after = await waitStatus(sock(), P.daemon, (s) => s.restarts === 1 && s.state === 'running', 'restarted');
    expect(after.last_exit).toMatchObject({ signal: 'SIGKILL' });
    await waitFor('a new daemon', () => S.daemon.lines().length === 2);
    const second = Number(S.daemon.lines()[1]);
    expect(second).not.toBe(daemon);
    await waitFor('only the new grandchild left', () => programPids(P.daemon).length === 1 && programPids(P.daemon)[0] === second);
    await waitStatus(sock(), P.daemon, (s) => s.pid === second, "the new daemon's pid");
  });

  it('gives up on a crash loop at the start limit, and retry_failed_after brings it back', async () => {
    const failed = await waitStatus(sock(), P.loop, (s) => s.state === 'failed', 'failed');
    const seenAt = Date.now();
    expect(failed.error).toContain('start limit hit');
    expect(failed.next_retry).not.toBeNull();
    expect(failed.next_retry! * 1000 - seenAt).toBeLessThanOrEqual(2000);
    // Whenever we looked, every failure followed exactly start_limit.burst starts.
    const n = S.loop.lines().length;
    expect(n % 3).toBe(0);

    await waitFor('the retry to start it again', () => S.loop.lines().length > n, 4000);
    expect(Date.now() - seenAt).toBeLessThan(3500);
    await waitStatus(sock(), P.loop, (s) => s.state === 'failed' && S.loop.lines().length === n + 3, 'failed again after 3 more starts', 4000);

    const t = transitions(agent, P.loop);
    const firstFailed = t.findIndex((x) => x.to === 'failed');
    expect(t.slice(0, firstFailed).filter((x) => x.to === 'running')).toHaveLength(3);
    expect(t[firstFailed + 1]).toMatchObject({ from: 'failed', to: 'starting', reason: 'retry restart' });
  });

  it("runs a watched group's restart_command exactly once each time the group empties", async () => {
    expect(await status(sock(), P.watch)).toMatchObject({ state: 'running', cgroup: watched.path });
    expect(S.watchRuns.lines()).toHaveLength(0);

    for (let round = 1; round <= 2; round++) {
      const before = watched.pids();
      expect(before).toHaveLength(1);
      process.kill(before[0], 'SIGKILL');
      await waitFor(`restart_command run ${round}`, () => S.watchRuns.lines().length === round);
      await waitFor('the group to be refilled', () => watched.pids().length === 1 && watched.pids()[0] !== before[0]);
      await waitStatus(sock(), P.watch, (s) => s.state === 'running', 'running again');
      await agentPastNow(); // past the emptying's records: a second run for it would have begun
      expect(S.watchRuns.lines()).toHaveLength(round);
      expect(await status(sock(), P.watch)).toMatchObject({ state: 'running', restarts: round });
    }
    expect((await status(sock(), P.watch)).restarts).toBe(2);
  });

  it("`forkwatch stop` kills the whole tree, SIGTERM-ignoring and setsid'd processes too, after stop_timeout", async () => {
    await waitFor('the tree to be up', () => S.tree.lines().length === 1 && programPids(P.tree).length === 4);
    const pids = programPids(P.tree);
    const r = await cli(['stop', P.tree, '--socket', sock()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${P.tree}\\s+stopped\\s`, 'm'));
    // SIGTERM did nothing: only the SIGKILL after stop_timeout (1 s) ended it.
    expect(r.ms).toBeGreaterThanOrEqual(1000);
    await agent.proc.logged(`program "${P.tree}" still running 1s after SIGTERM; killing every process in ${PROGRAMS_ROOT}/${P.tree}`);
    expect(programPids(P.tree)).toEqual([]);
    for (const pid of pids) expect(await gone(pid), `pid ${pid}`).toBe(true);
    await agentPastNow(); // past the tree's exits: a restart after the stop would have begun
    expect(await status(sock(), P.tree)).toMatchObject({ state: 'stopped', pid: null });
    expect(S.tree.lines()).toHaveLength(1);
  });

  it('reports a missing command or user clearly, marks the program failed and keeps running', async () => {
    const cases = [
      { program: P.noCmd, error: `command "no-such-command-${PREFIX}" not found in PATH=` },
      { program: P.noPath, error: `command /nonexistent/${PREFIX}/bin/daemon: does not exist` },
      { program: P.noUser, error: `user "no-such-user-${PREFIX}" does not exist (not in /etc/passwd)` },
    ];
    for (const c of cases) {
      const s = await status(sock(), c.program);
      expect(s).toMatchObject({ state: 'failed', pid: null, restarts: 0, last_exit: null });
      expect(s.error).toContain(c.error);
      // One line, no stack: a mistake in the config, not a bug.
      await agent.proc.logged(new RegExp(`^forkwatch error: program "${c.program}" failed: .*${escapeRe(c.error)}`, 'm'));
      expect(programPids(c.program)).toEqual([]);
    }
    expect(agent.proc.stderr).not.toMatch(/\n\s+at /); // no stack trace anywhere
    // `forkwatch programs` shows them failed, each with its reason under the table.
    const list = await cli(['programs', '--socket', sock()]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^PROGRAM\s+STATE\s+HEALTH\s+PID\s+UPTIME\s+RESTARTS\s+LAST EXIT\s+NEXT RETRY$/m);
    for (const c of cases) {
      expect(list.stdout).toMatch(new RegExp(`^${c.program}\\s+failed\\s+-\\s+-\\s+-\\s+0\\s+-\\s+-$`, 'm'));
      expect(list.stdout).toContain(`${c.program}: `);
    }
    expect(list.stdout).toMatch(new RegExp(`^${P.never}\\s+failed\\s+-\\s+-\\s+-\\s+0\\s+code 3\\s+-$`, 'm'));
    // Starting it by hand says why it cannot start, and still leaves the agent up.
    const r = await cli(['start', P.noCmd, '--socket', sock()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${P.noCmd}: command "no-such-command-${PREFIX}" not found`);
    expect(agent.proc.child.exitCode).toBeNull();
    expect((await agent.get('/healthz')).status).toBe(200);
    expect((await status(sock(), P.onFailure)).state).not.toBe('failed');
  });

  it('refuses the state-changing API on TCP when no api.control_token_file is set (403)', async () => {
    const before = await status(sock(), P.abnormalSig);
    expect(before.state).toBe('running');
    for (const headers of [{}, { Authorization: 'Bearer 0123456789abcdef0123' }] as Record<string, string>[]) {
      const res = await fetch(`${agent.url}/api/programs/${P.abnormalSig}/stop`, { method: 'POST', headers });
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('api.control_token_file');
    }
    // Reading is fine on TCP; nothing was stopped.
    expect((await agent.get('/api/programs')).status).toBe(200);
    expect(await status(sock(), P.abnormalSig)).toMatchObject({ state: 'running', pid: before.pid });
  });

  it('exports every program to Prometheus from the first scrape: up, restarts, state, last exit, restart latency', async () => {
    // The first scrape already listed every program, the one that never came up included.
    for (const program of Object.values(P)) {
      expect(firstScrape).toMatch(new RegExp(`^forkwatch_program_up\\{[^}]*program="${program}"[^}]*\\} [01]$`, 'm'));
      expect(firstScrape).toMatch(new RegExp(`^forkwatch_program_restarts_total\\{[^}]*program="${program}"[^}]*\\} \\d+$`, 'm'));
    }
    expect(firstScrape).toMatch(new RegExp(`^forkwatch_program_state\\{[^}]*program="${P.noCmd}",state="failed"[^}]*\\} 1$`, 'm'));

    await prom.waitFor(`forkwatch_program_restarts_total{program="${P.abnormalSig}"}`, (v) => v === 1);
    await prom.nextScrape();
    const q = async (expr: string) => prom.value(expr);
    const sel = (program: string, extra = '') => `{program="${program}"${extra}}`;

    expect(await q(`forkwatch_program_up${sel(P.abnormalSig)}`)).toBe(1);
    expect(await q(`forkwatch_program_up${sel(P.daemon)}`)).toBe(1);
    expect(await q(`forkwatch_program_up${sel(P.noCmd)}`)).toBe(0);
    expect(await q(`forkwatch_program_up${sel(P.tree)}`)).toBe(0);

    expect(await q(`forkwatch_program_state${sel(P.noUser, ',state="failed"')}`)).toBe(1);
    expect(await q(`forkwatch_program_state${sel(P.tree, ',state="stopped"')}`)).toBe(1);
    expect(await q(`forkwatch_program_state${sel(P.exitOk, ',state="stopped"')}`)).toBe(1);
    expect(await q(`forkwatch_program_state${sel(P.never, ',state="failed"')}`)).toBe(1);
    // Exactly one state is 1 for each program, and all six exist for each.
    const perProgram = await prom.query(`sum by (program) (forkwatch_program_state{program=~"${PREFIX}-.*"})`);
    expect(perProgram).toHaveLength(Object.keys(P).length);
    for (const s of perProgram) expect(s.value, s.metric.program).toBe(1);
    expect(await q(`count(forkwatch_program_state${sel(P.daemon)})`)).toBe(6);

    expect(await q(`forkwatch_program_restarts_total${sel(P.daemon)}`)).toBe(1);
    expect(await q(`forkwatch_program_restarts_total${sel(P.watch)}`)).toBe(2);
    expect(await q(`forkwatch_program_restarts_total${sel(P.never)}`)).toBe(0);
    expect(await q(`forkwatch_program_restarts_total${sel(P.onFailure)}`)).toBeGreaterThanOrEqual(2);

    expect(await q(`forkwatch_program_last_exit_code${sel(P.never)}`)).toBe(3);
    expect(await q(`forkwatch_program_last_exit_code${sel(P.exitOk)}`)).toBe(0);
    expect(await q(`forkwatch_program_last_exit_code${sel(P.abnormalSig)}`)).toBe(128 + 9);
    // Absent before the first exit.
    expect(await q(`forkwatch_program_last_exit_code${sel(P.noCmd)}`)).toBeUndefined();

    // Restart latency: one observation per measured restart; with no backoff, well under a second.
    expect(await q(`forkwatch_program_restart_latency_seconds_count${sel(P.abnormalSig)}`)).toBe(1);
    expect(await q(`forkwatch_program_restart_latency_seconds_bucket${sel(P.abnormalSig, ',le="1"')}`)).toBe(1);
    expect(await q(`forkwatch_program_restart_latency_seconds_count${sel(P.noCmd)}`)).toBe(0);
    const backoff = await q(`forkwatch_program_restart_latency_seconds_count${sel(P.backoff)}`);
    expect(backoff).toBeGreaterThanOrEqual(4);
    // Its first restart waited 200 ms on purpose: nothing of it falls in the buckets below.
    expect(await q(`forkwatch_program_restart_latency_seconds_bucket${sel(P.backoff, ',le="0.1"')}`)).toBe(0);

    // The one that never came up was in every successful scrape, not only in the last one.
    const scrapes = await q(`sum_over_time(up{job="forkwatch"}[10m])`);
    expect(await q(`count_over_time(forkwatch_program_up${sel(P.noCmd)}[10m])`)).toBe(scrapes);
    // (Scrapes may time out on a starved host, but none may fail inside the agent.)
    expect(agent.proc.stderr.match(/^forkwatch error: HTTP handler failed: .*$/m)?.[0]).toBeUndefined();
  });
});

// --- an agent restart ----------------------------------------------------------------------------

describe('a new agent adopts what the old one left running', () => {
  const program = name('adopt');
  const starts = stampFile('adopt');
  let first: TestAgent | undefined;
  let second: TestAgent | undefined;

  afterAll(async () => {
    await stopAgent(first);
    await stopAgent(second);
  });

  const config = (keep: boolean) =>
    programsYaml([
      {
        name: program,
        command: ['sh', '-c', `date +%s%N >> ${starts.path}; exec sleep 1000`],
        restart: 'on-failure',
        backoff: { initial: 0 },
        keep_running: keep,
      },
    ]);

  it('does not start a second copy of a program that kept running, and supervises it', async () => {
    requireRoot();
    first = await TestAgent.start(config(true));
    const running = await waitStatus(first.socket, program, (s) => s.state === 'running', 'running');
    const pid = running.pid!;
    expect(await first.stop()).toEqual({ code: 0, signal: null });
    expect(first.proc.stderr).toContain(`program "${program}": left running (keep_running)`);
    first = undefined;
    expect(alive(pid)).toBe(true);
    expect(programPids(program)).toEqual([pid]);

    second = await TestAgent.start(config(false));
    const adopted = await waitStatus(second.socket, program, (s) => s.state === 'running', 'running');
    await second.proc.logged(`program "${program}": adopting 1 process(es) already in ${PROGRAMS_ROOT}/${program}`);
    expect(adopted).toMatchObject({ pid, restarts: 0 });
    // Its uptime counts from when the process started, not from the adoption.
    expect(adopted.uptime_s).toBeGreaterThan(0.5);
    // One start, and it adopted: a launched copy enters the cgroup (clone3 into it) before the
    // launch resolves, so before the program shows running.
    expect(transitions(second, program).filter((t) => t.to === 'starting')).toHaveLength(1);
    expect(programPids(program)).toEqual([pid]);

    // Adopted means supervised: its death is seen and acted on.
    process.kill(pid, 'SIGKILL');
    const restarted = await waitStatus(second.socket, program, (s) => s.restarts === 1 && s.state === 'running', 'restarted');
    expect(restarted.pid).not.toBe(pid);
    await waitFor('the second run to write its line', () => starts.lines().length >= 2);
    // The agent is past the kill's exit record now: a stray copy from the adoption would show.
    expect(starts.lines()).toHaveLength(2);
    // (Its `date` may still be on its way out.)
    await waitFor('only the new process in the cgroup', () => programPids(program).join() === String(restarted.pid));

    // keep_running: false this time: stopping the agent stops the program and removes its cgroup.
    expect(await second.stop()).toEqual({ code: 0, signal: null });
    second = undefined;
    expect(await gone(restarted.pid!)).toBe(true);
    expect(fs.existsSync(programDir(program))).toBe(false);
  });
});

// --- the API on TCP with a token ------------------------------------------------------------------

describe('the state-changing API on TCP with api.control_token_file', () => {
  const program = name('token');
  let agent: TestAgent | undefined;

  afterAll(async () => {
    await stopAgent(agent);
  });

  it('answers 401 without or with a wrong token and 200 with the right one', async () => {
    requireRoot();
    const dir = fs.mkdtempSync(path.join(scratch, 'token-'));
    const token = 'f'.repeat(8) + Math.random().toString(16).slice(2).padEnd(24, '0');
    fs.writeFileSync(path.join(dir, 'token'), token + '\n', { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'wrong'), 'x'.repeat(32) + '\n', { mode: 0o600 });
    const socket = path.join(dir, 'api.sock');
    agent = await TestAgent.start(
      [`api:`, `  socket: ${socket}`, `  control_token_file: ${path.join(dir, 'token')}`, programsYaml([{ name: program, command: ['sleep', '1000'] }])].join(
        '\n',
      ),
    );
    const running = await waitStatus(socket, program, (s) => s.state === 'running', 'running');
    const stopUrl = `${agent.url}/api/programs/${program}/stop`;

    const badHeaders: Record<string, string>[] = [
      {},
      { Authorization: `Bearer ${'x'.repeat(32)}` },
      { Authorization: `Bearer ${token}x` },
      { Authorization: token },
    ];
    for (const headers of badHeaders) {
      const res = await fetch(stopUrl, { method: 'POST', headers });
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Bearer');
    }
    expect(await status(socket, program)).toMatchObject({ state: 'running', pid: running.pid });

    const ok = await fetch(stopUrl, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as ProgramStatus).state).toBe('stopped');
    expect(await gone(running.pid!)).toBe(true);

    // The CLI the same way: --url with --token-file, and a clear refusal with the wrong file.
    const wrong = await cli(['start', program, '--url', agent.url, '--token-file', path.join(dir, 'wrong')]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('answered 401');
    expect((await status(socket, program)).state).toBe('stopped');
    const right = await cli(['start', program, '--url', agent.url, '--token-file', path.join(dir, 'token')]);
    expect(right.stderr).toBe('');
    expect(right.code).toBe(0);
    expect(right.stdout).toMatch(new RegExp(`^${program}\\s+running\\s`, 'm'));
    expect(programPids(program)).toHaveLength(1);
  });
});

// --- a stop while programs start ------------------------------------------------------------------

describe('SIGTERM while the agent is starting its programs', () => {
  const programs = Array.from({ length: 20 }, (_, i) => name(`early-${i}`));
  let proc: CliProcess | undefined;

  afterAll(async () => {
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) proc.kill('SIGKILL');
    await proc?.exited;
  });

  it('stops the programs already started instead of leaving them behind', async () => {
    requireRoot();
    const dir = fs.mkdtempSync(path.join(scratch, 'early-'));
    const config = path.join(dir, 'forkwatch.yaml');
    fs.writeFileSync(
      config,
      [
        `listen: "127.0.0.1:${await freePort()}"`,
        `api:`,
        `  socket: ${path.join(dir, 'api.sock')}`,
        programsYaml(programs.map((p) => ({ name: p, command: ['sleep', '1000'] }))),
      ].join('\n'),
    );
    proc = new CliProcess(['run', '--config', config]);
    // Twenty launches take a while (each waits for its cgroup move): stop in the middle of them.
    await proc.waitFor((p) => p.stderr.includes('-> starting (start)'), 'the first program to start');
    proc.kill('SIGTERM');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(proc.stderr).toContain('SIGTERM: stopping');
    for (const p of programs) {
      expect(programPids(p), p).toEqual([]);
      expect(fs.existsSync(programDir(p)), `${programDir(p)} removed`).toBe(false);
    }
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
