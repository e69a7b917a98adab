/**
 * Group names from real cgroups laid out the way container runtimes and systemd lay them out,
 * read back from forkwatch_group_info through Prometheus; and grouping by a cgroup v1 hierarchy.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectHierarchy } from '../../src/cgroups/fs.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, until } from '../helpers/cgroup.js';
import { TestPrometheus } from '../helpers/prometheus.js';

const hex = (seed: string) => (seed.repeat(64)).slice(0, 64);
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
      // Make each missing directory, remembering which ones are ours to remove.
      let dir = v2.mount;
      for (const part of rel.split('/').filter(Boolean)) {
        dir = path.join(dir, part);
        if (!fs.existsSync(dir)) {
          fs.mkdirSync(dir);
          made.push(dir);
        }
      }
      const child = spawn('/bin/sh', ['-c', `echo $$ > ${path.join(dir, 'cgroup.procs')} && exec sleep 300`], { stdio: 'ignore' });
      children.push(child);
    }
    await until(() => LAYOUTS.every(([rel]) => fs.readFileSync(path.join(v2.mount, rel, 'cgroup.procs'), 'utf8').trim() !== ''), 'sleeps in place');
  });

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await prom?.stop();
    await agent?.stop();
    for (const dir of made.reverse()) {
      for (let i = 0; i < 100 && fs.existsSync(dir); i++) {
        try {
          fs.rmdirSync(dir);
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
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
