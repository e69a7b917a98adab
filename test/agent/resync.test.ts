/**
 * Issue 11 items 8 and 13, end to end: the built agent (`forkwatch run`) with the smallest ring
 * the config allows, real fork storms in real cgroups, and records really lost (each test checks
 * the kernel's lost counters rose before it looks at anything else). Afterwards the agent must
 * agree with the kernel again within a few seconds: forkwatch_tasks of each cgroup equals its
 * cgroup.procs, no release is invented, and a supervised program whose cgroup emptied while its
 * exit record was lost is restarted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GroupView } from '../../src/agent/agent.js';
import type { ProgramStatus } from '../../src/supervisor/types.js';
import { detectCgroup2Mount } from '../../src/host/cgroupfs.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { workload } from '../helpers/workloads.js';
import { destroyTree, gone } from '../supervisor/cgroup-helpers.js';

const PROGRAM = `t${process.pid}-resync`;
/** The rate limit of src/agent/resync.ts: at most one rescan per this many ms (more when a scan is slow). */
const MIN_GAP_MS = 2000;
/**
 * How long the agent may take to agree with the kernel again: a few seconds on a quiet machine;
 * while other suites load this one, rescans of a busy /proc are slower and so spaced further apart.
 */
const HEAL_MS = 20_000;

/** Sum of a family's samples whose labels include every one of `labels` (0 when none). */
function sum(text: string, name: string, ...labels: string[]): number {
  return samples(text, name, ...labels).reduce((a, b) => a + b, 0);
}

/** The values of a family's samples whose labels include every one of `labels`. */
function samples(text: string, name: string, ...labels: string[]): number[] {
  const re = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm');
  return [...text.matchAll(re)].filter((m) => labels.every((l) => m[1].includes(l))).map((m) => Number(m[2]));
}

describe('forkwatch run after lost records', () => {
  let agent: TestAgent;
  let programDir = '';
  const keep = TestCgroup.create('resync-keep');
  const storm = TestCgroup.create('resync-storm');
  const held = TestCgroup.create('resync-held');
  const stalled = TestCgroup.create('resync-stalled');
  const cgroups = [keep, storm, held, stalled];

  const metrics = async () => (await agent.get('/metrics')).text();
  const lost = async () => sum(await metrics(), 'forkwatch_events_lost_total');
  const groups = () => agent.json<GroupView[]>('/api/groups');
  const tasksOf = async (cg: TestCgroup) => (await groups()).find((g) => g.group === cg.path)?.tasks ?? 0;
  const program = async () => (await agent.json<ProgramStatus[]>('/api/programs')).find((p) => p.name === PROGRAM)!;
  const programPids = () => {
    try {
      return fs.readFileSync(path.join(programDir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };

  /** Polls until every cgroup's forkwatch_tasks equals its cgroup.procs (fails naming the last difference). */
  async function agreesWithKernel(list: TestCgroup[], timeoutMs: number): Promise<void> {
    const start = Date.now();
    for (;;) {
      const view = await groups();
      // The live counts come from the kernel, exact through the losses; the process table (and the
      // beancounters' held tasks, which follow it) heal at the resync this waits for.
      const text = await metrics();
      const held = (cg: TestCgroup) => samples(text, 'forkwatch_resource_held', `group="${cg.path}"`, 'resource="tasks"')[0] ?? 0;
      const diff = list
        .map((cg) => ({ cg: cg.path, agent: view.find((g) => g.group === cg.path)?.tasks ?? 0, held: held(cg), kernel: cg.pids().length }))
        .filter((d) => d.agent !== d.kernel || d.held !== d.kernel);
      if (diff.length === 0) return;
      if (Date.now() - start > timeoutMs) {
        const resyncs = agent.proc.stderr
          .split('\n')
          .filter((l) => l.includes('records lost'))
          .slice(-3);
        throw new Error(
          `forkwatch_tasks still differs from cgroup.procs after ${timeoutMs} ms: ${JSON.stringify(diff)}; last resyncs: ${resyncs.join(' | ') || 'none'}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  beforeAll(async () => {
    requireRoot();
    programDir = path.join(detectCgroup2Mount(), 'forkwatch.programs', PROGRAM);
    agent = await TestAgent.start(
      [
        'bpf:',
        '  ring_buffer_bytes: 4096', // the smallest the config accepts
        '  records_on_demand: false', // the storms' cgroups are nobody's: only records of every cgroup are lost
        'programs:',
        `  - ${JSON.stringify({ name: PROGRAM, command: ['sleep', '1000'], restart: 'always', backoff: { initial: 0 }, start_limit: { burst: 0 } })}`,
      ].join('\n'),
    );
    await until(() => programPids().length === 1, 'the supervised program to run', 10_000);
  });

  afterAll(async () => {
    if (agent) {
      agent.proc.kill('SIGCONT'); // never leave it stopped, whatever failed
      await agent.stop();
    }
    for (const cg of cgroups) await cg.remove();
    await destroyTree(programDir);
  });

  it('heals phantom tasks left by a fork storm that overflowed the ring, without inventing releases', async () => {
    // Five sleepers that outlive the storm: `keep` is never empty, so it must have no release.
    keep.run('for i in 1 2 3 4 5; do sleep 1000 & done; wait');
    await until(() => keep.pids().length === 6, 'the sleepers');
    await agreesWithKernel([keep], HEAL_MS);
    const lostBefore = await lost();
    const resyncsBefore = sum(await metrics(), 'forkwatch_resyncs_total');

    const forkn = workload('forkn');
    const started = Date.now();
    // The reader is held for the storm's first 200 ms: a loaded host forks slowly enough for a
    // running reader to keep up even with this ring, and then nothing would be lost.
    agent.proc.kill('SIGSTOP');
    const held = setTimeout(() => agent.proc.kill('SIGCONT'), 200);
    const runs = [keep, storm, keep, storm].map((cg) => cg.exec(`exec ${forkn} 6000`));
    try {
      for (const r of await Promise.all(runs)) expect(r.code).toBe(0);
    } finally {
      clearTimeout(held);
      agent.proc.kill('SIGCONT');
    }
    const stormMs = Date.now() - started;

    const lostAfter = await lost();
    expect(lostAfter, 'the storm must lose records, or this test tests nothing').toBeGreaterThan(lostBefore);
    expect(storm.pids()).toEqual([]);
    const waitStart = Date.now();
    await agreesWithKernel([keep, storm], HEAL_MS);
    const waitedMs = Date.now() - waitStart;
    expect(await tasksOf(storm)).toBe(0);
    expect(await tasksOf(keep)).toBe(6);

    // Beancounters read the corrected counts at the same tick: held tasks follow.
    const text = await metrics();
    expect(samples(text, 'forkwatch_resource_held', `group="${storm.path}"`, 'resource="tasks"')).toEqual([0]);
    expect(samples(text, 'forkwatch_resource_held', `group="${keep.path}"`, 'resource="tasks"')).toEqual([6]);
    expect(samples(text, 'forkwatch_group_releases_total', `group="${keep.path}"`)).toEqual([0]);
    // Rescans are bounded: at most one per MIN_GAP_MS while the storm lost records, plus the last.
    const resyncs = sum(text, 'forkwatch_resyncs_total') - resyncsBefore;
    expect(resyncs).toBeGreaterThanOrEqual(1);
    expect(resyncs).toBeLessThanOrEqual(Math.ceil((stormMs + waitedMs + 2000) / MIN_GAP_MS) + 1);
    expect(sum(text, 'forkwatch_resync_corrections_total', 'change="removed"')).toBeGreaterThan(0);
    await agent.proc.logged(/records lost: .*rebuilt the process table from \/proc/);
  });

  it('restarts a program whose exit record was lost, and counts what was born and died unseen', async () => {
    // `held` has 4 sleepers before the stall; during it two die and three are born, all unseen.
    held.run('for i in 1 2 3 4; do sleep 1000 & done; wait');
    await until(() => held.pids().length === 5, 'the held sleepers');
    await agreesWithKernel([held], HEAL_MS);
    const before = await program();
    expect(before.state).toBe('running');
    const oldPid = programPids()[0];
    const lostBefore = await lost();

    // A stopped reader is a full ring: the storm fills it, and every record after that is lost.
    agent.proc.kill('SIGSTOP');
    try {
      const forkn = workload('forkn');
      const r = await stalled.exec(`for i in $(seq 50); do sleep 1000 & done; ${forkn} 2000; kill -KILL $(jobs -p); wait`);
      expect(r.code).not.toBeNull();
      const sleepers = held.pids().filter((p) => fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'sleep');
      for (const pid of sleepers.slice(0, 2)) process.kill(pid, 'SIGKILL');
      const born = held.run('for i in 1 2 3; do sleep 1000 & done; wait');
      process.kill(oldPid, 'SIGKILL');
      await until(() => held.pids().length === 7 && stalled.pids().length === 0, 'the unseen births and deaths');
      for (let i = 0; i < 100 && !(await gone(oldPid)); i++) await new Promise((r) => setTimeout(r, 10));
      expect(born.pid).toBeGreaterThan(0);
    } finally {
      agent.proc.kill('SIGCONT');
    }

    expect(await lost(), 'records must have been lost').toBeGreaterThan(lostBefore);
    await until(() => programPids().some((p) => p !== oldPid), 'the program restarted', HEAL_MS).catch(async () => {
      throw new Error(`the program was not restarted: ${JSON.stringify(await program())}`);
    });
    const after = await program();
    expect(after.restarts).toBeGreaterThan(before.restarts);
    await agreesWithKernel([held, stalled], HEAL_MS);
    expect(await tasksOf(held)).toBe(7);
    const text = await metrics();
    expect(samples(text, 'forkwatch_group_releases_total', `group="${held.path}"`)).toEqual([0]);
    expect(samples(text, 'forkwatch_resource_held', `group="${held.path}"`, 'resource="tasks"')).toEqual([7]);
    expect(sum(text, 'forkwatch_resync_corrections_total', 'change="added"')).toBeGreaterThan(0);
  });
});
