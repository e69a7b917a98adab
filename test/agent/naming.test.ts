/**
 * Group names from real cgroups laid out the way container runtimes and systemd lay them out,
 * read back from forkwatch_group_info through Prometheus; and grouping by a cgroup v1 hierarchy.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectHierarchy } from '../../src/host/cgroupfs.js';
import type { GroupView } from '../../src/agent/agent.js';
import type { BeancounterRow } from '../../src/beancounters/model/ledger.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, until } from '../helpers/cgroup.js';
import { TestPrometheus } from '../helpers/prometheus.js';
import { workload } from '../helpers/workloads.js';

const hex = (seed: string) => seed.repeat(64).slice(0, 64);
const POD = '1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b';

/** cgroup path -> expected group_info labels. */
const LAYOUTS: [string, Record<string, string>][] = [
  [`/system.slice/docker-${hex('a1')}.scope`, { group: `docker-${hex('a1').slice(0, 12)}`, kind: 'docker', container_id: hex('a1') }],
  [`/machine.slice/libpod-${hex('b2')}.scope`, { group: `podman-${hex('b2').slice(0, 12)}`, kind: 'podman', container_id: hex('b2') }],
  [
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD.replace(/-/g, '_')}.slice/cri-containerd-${hex('c3')}.scope`,
    { kind: 'kubernetes', container_id: hex('c3'), pod_uid: POD },
  ],
  [`/system.slice/forkwatch-test-nginx.service`, { group: 'forkwatch-test-nginx.service', kind: 'systemd' }],
  [`/lxc.payload.fwtest`, { group: 'lxc-fwtest', kind: 'lxc', container_id: 'fwtest' }],
];

/** Makes each missing directory of `rel` under `mount`, remembering which ones are ours to remove. */
function makePath(mount: string, rel: string, made: string[]): string {
  let dir = mount;
  for (const part of rel.split('/').filter(Boolean)) {
    dir = path.join(dir, part);
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(dir);
      made.push(dir);
    }
  }
  return dir;
}

/** Removes what makePath made, deepest first (retrying while the kernel lets go of dead tasks). */
async function removeMade(made: string[]): Promise<void> {
  for (const dir of made.splice(0).reverse()) {
    for (let i = 0; i < 100 && fs.existsSync(dir); i++) {
      try {
        fs.rmdirSync(dir);
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}

describe('group naming on real cgroups', () => {
  const v2 = detectHierarchy('v2');
  const made: string[] = [];
  const children: ReturnType<typeof spawn>[] = [];
  let agent: TestAgent;
  let prom: TestPrometheus;

  beforeAll(async () => {
    requireRoot();
    agent = await TestAgent.start('');
    prom = await TestPrometheus.start([`127.0.0.1:${agent.port}`]);
    for (const [rel] of LAYOUTS) {
      const dir = makePath(v2.mount, rel, made);
      const child = spawn('/bin/sh', ['-c', `echo $$ > ${path.join(dir, 'cgroup.procs')} && exec sleep 300`], { stdio: 'ignore' });
      children.push(child);
    }
    await until(() => LAYOUTS.every(([rel]) => fs.readFileSync(path.join(v2.mount, rel, 'cgroup.procs'), 'utf8').trim() !== ''), 'sleeps in place');
  });

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await prom?.stop();
    await agent?.stop();
    await removeMade(made);
  });

  it.each(LAYOUTS)('%s', async (rel, want) => {
    const samples = await prom.query(`forkwatch_group_info{cgroup="${rel}"}`).then(async (s) => {
      if (s.length) return s;
      await prom.waitFor(`count(forkwatch_group_info{cgroup="${rel}"})`, (v) => v === 1);
      return prom.query(`forkwatch_group_info{cgroup="${rel}"}`);
    });
    expect(samples).toHaveLength(1);
    expect(samples[0].metric).toMatchObject(want);
    expect(await prom.value(`forkwatch_tasks{group="${samples[0].metric.group}"}`)).toBe(1);
  });
});

describe('grouping by a cgroup v1 hierarchy', () => {
  it('counts a process placed in a v1 cgroup in the group named after that path', async () => {
    requireRoot();
    const v1 = detectHierarchy('name=systemd');
    const rel = `/forkwatch-test-v1-${process.pid}`;
    const dir = path.join(v1.mount, rel);
    fs.mkdirSync(dir);
    const agent = await TestAgent.start('cgroup:\n  hierarchy: name=systemd\n');
    const prom = await TestPrometheus.start([`127.0.0.1:${agent.port}`]);
    const child = spawn('/bin/sh', ['-c', `echo $$ > ${dir}/cgroup.procs && sleep 0.2 && ( exit 5 ); exec sleep 300`], { stdio: 'ignore' });
    try {
      await prom.waitFor(`forkwatch_tasks{group="${rel}"}`, (v) => v === 1);
      await prom.waitFor(`forkwatch_exits_total{group="${rel}",outcome="failure"}`, (v) => v === 1);
      // sh forked twice inside the v1 cgroup: the ( exit 5 ) subshell and sleep 0.2.
      expect(await prom.value(`forkwatch_forks_total{group="${rel}"}`)).toBe(2);
    } finally {
      child.kill('SIGKILL');
      await prom.stop();
      await agent.stop();
      await until(() => fs.readFileSync(`${dir}/cgroup.procs`, 'utf8').trim() === '', 'the v1 cgroup to empty');
      fs.rmdirSync(dir);
    }
    void execFileSync;
  });
});

describe("a look-alike of a container in a user's own subtree", () => {
  it("neither joins the container's group nor gets it frozen", async () => {
    requireRoot();
    const v2 = detectHierarchy('v2');
    const made: string[] = [];
    const children: ReturnType<typeof spawn>[] = [];
    const id = Array.from({ length: 64 }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');
    const uid = 61000 + Math.floor(Math.random() * 4000);
    const real = makePath(v2.mount, `/system.slice/docker-${id}.scope`, made);
    // The look-alike: the user's own delegated subtree (their user manager's cgroup, theirs to write).
    const manager = makePath(v2.mount, `/user.slice/user-${uid}.slice/user@${uid}.service`, made);
    const look = makePath(v2.mount, `/user.slice/user-${uid}.slice/user@${uid}.service/docker-${id}.scope`, made);
    execFileSync('chown', ['-R', `${uid}:${uid}`, manager]);
    // Each holds 2,100 threads: under the limit alone, over it (4,200) if counted as one group.
    const agent = await TestAgent.start('resources:\n  threads:\n    limit: 4000\n    on_limit: [freeze]\n');
    try {
      const threads = workload('idle-threads');
      for (const [dir, drop] of [
        [real, []],
        [look, ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups']],
      ] as const) {
        const child = spawn('/bin/sh', ['-c', `echo $$ > "$0/cgroup.procs" && exec "$@"`, dir, ...drop, threads, '2100'], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        children.push(child);
        // Not ready in time: frozen while it made its threads (what the merged group's limit did).
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () =>
              reject(new Error(`idle-threads in ${dir} not ready: frozen? (cgroup.freeze ${fs.readFileSync(path.join(dir, 'cgroup.freeze'), 'utf8').trim()})`)),
            20_000,
          );
          child.stdout.once('data', () => (clearTimeout(timer), resolve()));
          child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`idle-threads exited ${code}`))));
        });
      }
      const short = id.slice(0, 12);
      const group = async (name: string) => (await agent.json<GroupView[]>('/api/groups')).find((g) => g.group === name);
      const settled = async () => (await group(`docker-${short}`))?.threads === 2100 && (await group(`user@${uid}.service/docker-${short}`))?.threads === 2100;
      for (let i = 0; i < 200 && !(await settled()); i++) await new Promise((r) => setTimeout(r, 50));
      // The ledger's threads rows: a crossing of the limit is acted on in the same event's handling
      // that counts it, so rows that held 2,100 at most and never failed prove no freeze was due.
      const names = [`docker-${short}`, `user@${uid}.service/docker-${short}`];
      const threadRows = async () =>
        (await agent.json<BeancounterRow[]>('/api/beancounters')).filter((r) => r.resource === 'threads' && names.includes(r.group));
      let rows = await threadRows();
      for (let i = 0; i < 200 && rows.filter((r) => r.held === 2100).length < 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
        rows = await threadRows();
      }
      expect(rows).toHaveLength(2);
      for (const r of rows) expect(r, r.group).toMatchObject({ held: 2100, maxheld: 2100, failcnt: 0, limit: 4000 });

      expect(await group(`docker-${short}`)).toMatchObject({
        kind: 'docker',
        container_id: id,
        cgroup: `/system.slice/docker-${id}.scope`,
        tasks: 1,
        threads: 2100,
      });
      expect(await group(`user@${uid}.service/docker-${short}`)).toMatchObject({ kind: 'docker', container_id: id, tasks: 1, threads: 2100 });
      for (const dir of [real, look]) {
        expect(fs.readFileSync(path.join(dir, 'cgroup.freeze'), 'utf8').trim()).toBe('0');
        expect(fs.readFileSync(path.join(dir, 'cgroup.events'), 'utf8')).toMatch(/^frozen 0$/m);
      }
      expect(agent.proc.stderr).not.toMatch(/froze/);
    } finally {
      for (const dir of [real, look]) {
        try {
          fs.writeFileSync(path.join(dir, 'cgroup.freeze'), '0');
        } catch {
          /* gone already */
        }
      }
      for (const c of children) c.kill('SIGKILL');
      await agent.stop();
      await until(() => [real, look].every((d) => fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').trim() === ''), 'the workloads to exit');
      await removeMade(made);
    }
  });
});
