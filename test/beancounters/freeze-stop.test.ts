/**
 * A `freeze` outlives no agent: a clean stop (SIGTERM) thaws what the agent froze; after a crash
 * (SIGKILL) the next agent thaws it, unless someone else wrote cgroup.freeze since. Real agent,
 * real cgroups, real workloads; everything made is removed after each test.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, until, type TestCgroup } from '../helpers/cgroup.js';
import { runCleanups, thawingCgroup } from './helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(() => runCleanups(cleanups));

function cgroup(label: string): TestCgroup {
  return thawingCgroup(label, cleanups);
}

/** A runtime directory shared by the agents of one test (they keep their record of frozen cgroups there). */
function runtimeDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-run-'));
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

async function agent(yaml: string, run: string): Promise<TestAgent> {
  const a = await TestAgent.start(`api:\n  socket: ${path.join(run, 'api.sock')}\n${yaml}`);
  cleanups.push(async () => void (await a.stop()));
  return a;
}

const freezer = (cg: TestCgroup) =>
  `groups:\n  - name: capped\n    match: { cgroup: "${cg.path}" }\n    resources:\n      tasks: { barrier: 5, limit: 10, on_limit: [freeze] }\n`;
const freezeFile = (cg: TestCgroup) => path.join(cg.dir, 'cgroup.freeze');
const frozen = (cg: TestCgroup) => fs.readFileSync(freezeFile(cg), 'utf8').trim() === '1';

/** 15 sleeps in the cgroup, over the limit of 10: the agent freezes it. */
async function overLimit(a: TestAgent, cg: TestCgroup): Promise<void> {
  cg.run('for ((i = 0; i < 15; i++)); do sleep 1000 & done; wait');
  await until(() => frozen(cg), 'the agent to freeze the cgroup');
  await a.proc.waitFor((p) => p.stderr.includes(`group capped: froze ${cg.path}`), 'the freeze in the log');
}

/** An agent that froze a cgroup of its own and was then SIGKILLed; its runtime directory is kept. */
async function crashedWhileFrozen(label: string): Promise<{ cg: TestCgroup; run: string }> {
  const cg = cgroup(label);
  const run = runtimeDir();
  const a = await agent(freezer(cg), run);
  await overLimit(a, cg);
  a.proc.kill('SIGKILL');
  await a.proc.exited;
  return { cg, run };
}

describe('frozen cgroups when the agent stops', () => {
  it('SIGTERM: the agent thaws what it froze before it exits', async () => {
    requireRoot();
    const cg = cgroup('termthaw');
    const a = await agent(freezer(cg), runtimeDir());
    await overLimit(a, cg);
    const r = await a.stop();
    expect(r.code).toBe(0);
    expect(frozen(cg)).toBe(false);
    expect(a.proc.stderr).toContain(`thawed ${cg.path}, which it froze, as it stops`);
  });

  it('SIGKILL: the next agent to start thaws what the killed one froze', async () => {
    requireRoot();
    const { cg, run } = await crashedWhileFrozen('killthaw');
    // The killed agent has exited (its exit was awaited): no process of ours is left to thaw it.
    expect(frozen(cg)).toBe(true);
    // The next agent has no freeze rule, so what it does at start is all there is to see.
    const b = await agent('', run);
    expect(frozen(cg)).toBe(false);
    await b.proc.logged(`thawed ${cg.path}, frozen by an agent that ended without thawing it`);
  });

  it('SIGKILL: a cgroup someone else froze again since is left frozen, and the log says why', async () => {
    requireRoot();
    const { cg, run } = await crashedWhileFrozen('refrozen');
    // An operator thaws it, looks around, and freezes it again by hand.
    fs.writeFileSync(freezeFile(cg), '0');
    await sleep(50);
    fs.writeFileSync(freezeFile(cg), '1');
    const b = await agent('', run);
    // The log line is the agent deciding about this cgroup: past it, a thaw would already show.
    await b.proc.waitFor(
      (p) => p.stderr.includes(`left ${cg.path} frozen: its cgroup.freeze was written after the freeze of an earlier agent`),
      'the agent to leave the cgroup frozen',
    );
    expect(frozen(cg)).toBe(true);
  });
});
