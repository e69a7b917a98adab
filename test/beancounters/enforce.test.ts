/**
 * Refusals, counted and made by the kernel, in the built agent against real workloads in cgroups
 * this test makes: failcnt is one per fork past the limit whatever the timing (`kill`), and
 * `enforce` sets pids.max so the kernel refuses the fork itself, restoring the value it replaced
 * at stop, on reload and after a crash.
 *
 * Where pids.max lives: where the pids controller is. On a cgroup v2 host that has it (its root's
 * cgroup.controllers), the test enables it in the root's cgroup.subtree_control and the limit is
 * the v2 cgroup's own pids.max. On a hybrid host whose pids controller is bound to a v1 hierarchy
 * (this project's test VM: v2 at /sys/fs/cgroup/unified with no controller but hugetlb), the
 * limit is in the v1 pids cgroup of the same path, which the workload joins too; the agent
 * writes whichever of the two exists, the same rule it reads pids.events by.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { BeancounterRow } from '../../src/beancounters/model/ledger.js';
import type { CrossingEvent } from '../../src/beancounters/service.js';
import { detectHierarchy } from '../../src/host/cgroupfs.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { ndjson, removeTools, runCleanups, thawingCgroup, tool, V1Twin } from './helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(() => runCleanups(cleanups));
afterAll(() => removeTools());

function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-enf-'));
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** pids.max of a test cgroup, wherever the pids controller is (see the file's comment). */
interface Pids {
  file: string;
  /** Shell words that put the running shell into the cgroup that holds pids.max ('' on v2). */
  join: string;
}

function v2Has(controller: 'pids' | 'memory'): boolean {
  const root = detectHierarchy('v2').mount;
  return fs.readFileSync(path.join(root, 'cgroup.controllers'), 'utf8').split(/\s+/).includes(controller);
}

/** The file of a cgroup's limit where the controller is: v2 (enabled in the parent), else its v1 twin. */
function limitOf(cg: TestCgroup, controller: 'pids' | 'memory'): Pids {
  const [v2File, v1File] = controller === 'pids' ? ['pids.max', 'pids.max'] : ['memory.max', 'memory.limit_in_bytes'];
  if (v2Has(controller)) {
    fs.writeFileSync(path.join(path.dirname(cg.dir), 'cgroup.subtree_control'), `+${controller}`);
    return { file: path.join(cg.dir, v2File), join: '' };
  }
  const t = new V1Twin(controller, cg);
  cleanups.push(() => t.remove());
  return { file: path.join(t.dir, v1File), join: `${t.joinCommand}; ` };
}

const pidsOf = (cg: TestCgroup) => limitOf(cg, 'pids');

function cgroup(label: string, parent?: TestCgroup): TestCgroup {
  if (parent === undefined) return thawingCgroup(label, cleanups);
  const cg = TestCgroup.create(label, { parent: parent.path });
  cleanups.push(() => cg.remove());
  return cg;
}

const read = (f: string) => fs.readFileSync(f, 'utf8').trim();

async function agent(yaml: string, runtime?: string): Promise<TestAgent> {
  const api = runtime === undefined ? '' : `api:\n  socket: ${path.join(runtime, 'api.sock')}\n`;
  const a = await TestAgent.start(api + yaml);
  cleanups.push(async () => void (await a.stop()));
  return a;
}

async function tasksRow(a: TestAgent, group: string): Promise<BeancounterRow | undefined> {
  return (await a.json<BeancounterRow[]>('/api/beancounters')).find((r) => r.group === group && r.resource === 'tasks');
}

async function untilFailcnt(a: TestAgent, group: string, want: number): Promise<BeancounterRow> {
  let last: BeancounterRow | undefined;
  const start = Date.now();
  for (;;) {
    last = await tasksRow(a, group);
    if (last?.failcnt === want) return last;
    if (Date.now() - start > 15_000) throw new Error(`failcnt ${last?.failcnt} not ${want}: ${JSON.stringify(last)}; agent: ${a.proc.stderr.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs the forker (30 forks) as the cgroup's only process: 1 + 30 tasks tried against the limit. */
async function burst(cg: TestCgroup, join = ''): Promise<{ forked: number; refused: number; first: number }> {
  const run = await cg.exec(`${join}exec ${tool('forker')} 30`);
  expect(run.code).toBe(0);
  const m = /forked (\d+) refused (\d+) first (\d+)/.exec(run.stdout);
  if (!m) throw new Error(`forker printed ${JSON.stringify(run.stdout)}`);
  return { forked: Number(m[1]), refused: Number(m[2]), first: Number(m[3]) };
}

const rule = (name: string, match: string, tasks: string) =>
  `groups:\n  - name: ${name}\n    match: { cgroup: "${match}" }\n    resources:\n      tasks: ${tasks}\n`;
const ENFORCE = '{ limit: 10, on_limit: [enforce] }';

describe('failcnt counts refusals', () => {
  it('kill: a 30-fork burst against limit 10 gives failcnt 21, on every run', async () => {
    requireRoot();
    const cg = cgroup('burst');
    const a = await agent(rule('burst', cg.path, '{ limit: 10, on_limit: [kill] }'));
    // The forker and its first 9 children fit; each of the other 21 is one past the limit,
    // however the agent's reading of the forks and of the kills' exits interleave.
    for (let run = 1; run <= 5; run++) {
      const r = await burst(cg);
      expect(r).toMatchObject({ forked: 30, refused: 0 });
      await until(() => cg.pids().length === 0, 'the burst to end');
      const row = await untilFailcnt(a, 'burst', 21 * run);
      expect(row.barrierHits).toBe(0);
    }
    await new Promise((r) => setTimeout(r, 1100)); // a tick later: nothing more counted
    expect((await tasksRow(a, 'burst'))?.failcnt).toBe(105);
  });

  it('without kill: each fork past the limit, the same 21 on every run', async () => {
    requireRoot();
    const cg = cgroup('units');
    const a = await agent(rule('units', cg.path, '{ barrier: 5, limit: 10 }'));
    for (let run = 1; run <= 3; run++) {
      await burst(cg);
      const row = await untilFailcnt(a, 'units', 21 * run);
      expect(row.barrierHits).toBe(run); // barrier hits stay once per crossing
    }
  });
});

describe('enforce: the kernel refuses', () => {
  it('sets pids.max; the 11th process fails to fork with EAGAIN and each refusal counts; pids.max is restored at stop', async () => {
    requireRoot();
    const cg = cgroup('enforce');
    const pids = pidsOf(cg);
    fs.writeFileSync(pids.file, '50');
    const log = path.join(tmp(), 'acct.log');
    const a = await agent(rule('capped', cg.path, ENFORCE) + `accounting:\n  log: { path: ${log} }\n`);
    expect(read(pids.file)).toBe('10');
    await a.proc.logged(`group capped: set pids.max of ${cg.path} to 10 (was 50,`);
    for (let run = 1; run <= 3; run++) {
      // The forker is the 1st process, its 9 first children fill the limit: its 10th fork, the
      // group's 11th process, is the first refused, and so are all after it.
      expect(await burst(cg, pids.join)).toEqual({ forked: 9, refused: 21, first: 10 });
      const row = await untilFailcnt(a, 'capped', 21 * run);
      expect(row).toMatchObject({ maxheld: 10, limit: 10, barrierHits: 0 });
    }
    // The refusals come back as `limit` events too (one per reading that found some).
    const refusals = ndjson<CrossingEvent>(log).filter((e) => e.refused !== undefined);
    expect(refusals.every((e) => e.type === 'limit' && e.group === 'capped' && e.resource === 'tasks' && e.cgroup === cg.path)).toBe(true);
    expect(refusals.reduce((n, e) => n + e.refused!, 0)).toBe(63);
    const r = await a.stop();
    expect(r.code).toBe(0);
    expect(read(pids.file)).toBe('50');
    expect(a.proc.stderr).toContain(`restored pids.max of ${cg.path} to 50 as the agent stops`);
  });

  it('a cgroup made after the config (a new container of the group) gets the limit; a reload that drops enforce restores', async () => {
    requireRoot();
    const parent = cgroup('fleet');
    pidsOf(parent);
    const yaml = rule('fleet', `${parent.path}/*`, ENFORCE);
    const a = await agent(yaml);
    const child = cgroup('ctr', parent);
    const pids = pidsOf(child); // on a hybrid host made after the v2 cgroup: the agent tries again
    await until(
      () => read(pids.file) === '10',
      () => `pids.max of the new cgroup to be 10 (it is ${read(pids.file)}); agent: ${a.proc.stderr.slice(-1500)}`,
    );
    expect(await burst(child, pids.join)).toEqual({ forked: 9, refused: 21, first: 10 });
    // A cgroup made after the agent started: all of its refusals are after it, counted in full.
    await untilFailcnt(a, 'fleet', 21);
    a.reload(rule('fleet', `${parent.path}/*`, '{ limit: 10 }'));
    await until(() => read(pids.file) === 'max', 'the reload to restore pids.max');
    await a.proc.logged(`restored pids.max of ${child.path} to max, which the config no longer asks for`);
  });

  it('after a crash (SIGKILL) the next agent keeps the recorded original: restores it when its config drops enforce, or when it stops', async () => {
    requireRoot();
    const cg = cgroup('crash');
    const pids = pidsOf(cg);
    fs.writeFileSync(pids.file, '40');
    const runtime = tmp();
    const crash = async (yaml: string) => {
      const a = await agent(yaml, runtime);
      a.proc.kill('SIGKILL');
      await a.proc.exited;
    };
    await crash(rule('c', cg.path, ENFORCE));
    expect(read(pids.file)).toBe('10'); // nobody restored it
    expect(fs.existsSync(path.join(runtime, 'enforced-cgroups.json'))).toBe(true);

    // The same config again: the limit stays, and the original it keeps is 40, not the 10 it found.
    const again = await agent(rule('c', cg.path, ENFORCE), runtime);
    expect(read(pids.file)).toBe('10');
    again.proc.kill('SIGKILL');
    await again.proc.exited;
    const b = await agent(rule('c', cg.path, ENFORCE), runtime);
    await b.stop();
    expect(read(pids.file)).toBe('40');

    // A crash, then an agent whose config no longer enforces: it restores as it starts.
    await crash(rule('c', cg.path, ENFORCE));
    expect(read(pids.file)).toBe('10');
    const c = await agent(rule('c', cg.path, '{ limit: 10 }'), runtime);
    expect(read(pids.file)).toBe('40');
    await c.proc.logged(`restored pids.max of ${cg.path} to 40, which the config no longer asks for`);
    expect(fs.existsSync(path.join(runtime, 'enforced-cgroups.json'))).toBe(false);
  });

  it('a pids.max someone else wrote after the agent set it is left alone at stop', async () => {
    requireRoot();
    const cg = cgroup('theirs');
    const pids = pidsOf(cg);
    const a = await agent(rule('t', cg.path, ENFORCE));
    expect(read(pids.file)).toBe('10');
    fs.writeFileSync(pids.file, '7');
    await a.stop();
    expect(read(pids.file)).toBe('7');
    expect(a.proc.stderr).toContain(`group t: left pids.max of ${cg.path} as it is: it was written by someone else after forkwatch set it`);
  });

  it('memory_bytes: sets memory.max, the charge past it ends in the cgroup (not the agent) and counts; restored at stop', async () => {
    requireRoot();
    const cg = cgroup('memmax');
    const mem = limitOf(cg, 'memory');
    const original = read(mem.file);
    const a = await agent(
      `groups:\n  - name: m\n    match: { cgroup: "${cg.path}" }\n    resources:\n      memory_bytes: { limit: 32MiB, on_limit: [enforce] }\n`,
    );
    expect(read(mem.file)).toBe(String(32 * 2 ** 20));
    // 64 MiB touched against a 32 MiB limit: the kernel refuses the charges and OOM-kills the hog.
    const hog = await cg.exec(`${mem.join}exec ${tool('hog')} 64 0`);
    expect(hog.signal).toBe('SIGKILL');
    // The kernel's count of charges that hit the limit (v2 memory.events max, v1 memory.failcnt).
    const dir = path.dirname(mem.file);
    const kernel = mem.join === '' ? Number(/^max (\d+)$/m.exec(read(path.join(dir, 'memory.events')))![1]) : Number(read(path.join(dir, 'memory.failcnt')));
    expect(kernel).toBeGreaterThan(0);
    let last: BeancounterRow | undefined;
    const start = Date.now();
    while (last?.failcnt !== kernel && Date.now() - start < 10_000) {
      await new Promise((r) => setTimeout(r, 50));
      last = (await a.json<BeancounterRow[]>('/api/beancounters')).find((r) => r.group === 'm' && r.resource === 'memory_bytes');
    }
    expect(last).toMatchObject({ limit: 32 * 2 ** 20, failcnt: kernel });
    await a.stop();
    expect(read(mem.file)).toBe(original);
  });
});
