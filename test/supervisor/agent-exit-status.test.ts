/**
 * A program's exit status as the running agent reports it while records are lost and the process
 * table is rescanned under it: the built agent (`forkwatch run`, root, real cgroups) with a ring
 * of 4 KiB, a fork storm in another cgroup, and an /events subscriber that comes and goes (each
 * change of who reads forces a rescan). A shell that runs `sleep` and then exits 3 (or kills
 * itself with SIGUSR1) must go down with its own status every time and be restarted: the late
 * record of its `sleep`'s exit (status 0), or an emptying found by a rescan, must not stand for it.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCgroup2Mount } from '../../src/host/cgroupfs.js';
import { stopAgent, TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup } from '../helpers/cgroup.js';
import { programsYaml, readEvents, status, waitStatus } from './agent-helpers.js';
import { destroyTree, waitFor } from './cgroup-helpers.js';

const PREFIX = `t${process.pid}`;
const EXIT3 = `${PREFIX}-exit3`;
const USR1 = `${PREFIX}-usr1`;
/** Runs each program goes down and is restarted in. */
const RUNS = 6;

/** A counter's value in the agent's /metrics, summed over its labels (0 before any series). */
async function counter(agent: TestAgent, name: string): Promise<number> {
  const text = await (await agent.get('/metrics')).text();
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, 'gm'))].reduce((sum, m) => sum + Number(m[1]), 0);
}

/** How the agent logged each of the program's exits: the part in parentheses of "went down (…)" and "exited (…)". */
function exits(agent: TestAgent, program: string): string[] {
  const re = new RegExp(`program "${program}" (?:went down|exited) \\((.*?)\\)(?: after|;)`, 'g');
  return [...agent.proc.stderr.matchAll(re)].map((m) => m[1]);
}

describe('exit status under lost records and rescans', () => {
  let agent: TestAgent | undefined;
  let storm: TestCgroup | undefined;
  let churning = true;
  let churn: Promise<void> = Promise.resolve();

  beforeAll(() => {
    requireRoot();
  });

  afterAll(async () => {
    churning = false;
    await churn;
    await stopAgent(agent);
    await storm?.remove();
    const mount = detectCgroup2Mount();
    for (const p of [EXIT3, USR1]) await destroyTree(path.join(mount, 'forkwatch.programs', p));
  });

  it('reports exit code 3 and SIGUSR1 each time, and restarts them under on-failure', async () => {
    const yaml = [
      'bpf: { ring_buffer_bytes: 4096 }',
      programsYaml([
        { name: EXIT3, command: ['sh', '-c', 'sleep 0.2; exit 3'], restart: 'on-failure', backoff: { initial: 0 }, start_limit: { burst: 0 } },
        { name: USR1, command: ['sh', '-c', 'sleep 0.2; kill -USR1 $$'], restart: 'on-failure', backoff: { initial: 0 }, start_limit: { burst: 0 } },
      ]),
    ].join('\n');
    agent = await TestAgent.start(yaml);
    const a = agent;
    const resyncsBefore = await counter(a, 'forkwatch_resyncs_total');

    // Forks, execs and exits by the thousand elsewhere, for a ring that holds a few dozen records.
    storm = TestCgroup.create('storm');
    storm.run('for i in 1 2 3; do while :; do /bin/true; done & done; wait');
    await waitFor('the fork storm to run', () => (storm?.pids().length ?? 0) >= 3);
    // A subscriber that comes and goes: every arrival and departure drains the ring and rescans.
    churn = (async () => {
      while (churning) {
        const reader = readEvents(a.socket, 'fork,exec,exit');
        await new Promise((r) => setTimeout(r, 150));
        reader.close();
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    for (const p of [EXIT3, USR1]) await waitStatus(a.socket, p, (s) => s.restarts >= RUNS, `${RUNS} restarts`, 60_000);
    churning = false;
    await churn;

    const lost = await counter(a, 'forkwatch_events_lost_total');
    const resyncs = (await counter(a, 'forkwatch_resyncs_total')) - resyncsBefore;
    // The conditions were there: rescans happened while the programs ran (records lost, or forced).
    expect(resyncs, `rescans during the test (records lost: ${lost})`).toBeGreaterThanOrEqual(4);

    const three = exits(a, EXIT3);
    const usr1 = exits(a, USR1);
    expect(three.length).toBeGreaterThanOrEqual(RUNS);
    expect(usr1.length).toBeGreaterThanOrEqual(RUNS);
    expect(new Set(three)).toEqual(new Set(['exit code 3']));
    expect(new Set(usr1)).toEqual(new Set(['killed by SIGUSR1']));
    // Never taken for a clean exit: nothing stopped, nothing failed, and they are still going.
    expect(a.proc.stderr).not.toMatch(new RegExp(`program "(?:${EXIT3}|${USR1})" (?:exited|failed)`));
    for (const [p, last] of [
      [EXIT3, { code: 3, signal: null }],
      [USR1, { code: null, signal: 'SIGUSR1' }],
    ] as const) {
      const s = await status(a.socket, p);
      expect(['running', 'starting', 'backoff']).toContain(s.state);
      expect(s.last_exit).toMatchObject(last);
    }
  }, 120_000);
});
