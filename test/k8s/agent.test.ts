/**
 * The agent as a pod runs it. Pod names: pods laid out in cgroups as the kubelet lays them out
 * (cgroupfs driver), a pod list and its watch served the way the API server serves them; groups
 * named <namespace>/<pod>/<container>, with image and workload in forkwatch_group_info as a real
 * Prometheus scrapes it, a container reported after the list named within a second, pods the
 * list lacks keeping their uid.
 * A cgroup namespace of its own: processes running before it start are still in the right groups.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectHierarchy } from '../../src/host/cgroupfs.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { CLI } from '../helpers/cli.js';
import { FakeApi, pod, uuid } from '../helpers/k8s-api.js';
import { freePort } from '../helpers/net.js';
import { TestPrometheus } from '../helpers/prometheus.js';

const rand = () => Math.random().toString(16).slice(2, 10);
const id64 = () => (rand() + rand() + rand() + rand() + rand() + rand() + rand() + rand()).slice(0, 64);
const LISTED = uuid();
const LATER = uuid();
const UNLISTED = uuid();
const APP = id64();
const LATER_APP = id64();
const OTHER = id64();

describe('pods named by the pod list in the agent', () => {
  // The cgroupfs driver's layout below a --cgroup-root of the test's own: <root>/kubepods/<qos>/pod<uid>/<id>.
  const top = `/forkwatch-test-k8s-${process.pid}-${rand()}`;
  const root = `${top}/kubepods`;
  const v2 = detectHierarchy('v2');
  const sleeps: ChildProcess[] = [];
  const api = new FakeApi();
  const rs = { kind: 'ReplicaSet', name: 'web-5c8d7f9b4', uid: uuid() };
  let agent: TestAgent;
  let prom: TestPrometheus;

  /** Polls /api/groups until `pred` holds (fails after timeoutMs). */
  async function groupsUntil(pred: (gs: GroupView[]) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const start = Date.now();
    while (!pred(await apiGroups(agent.url))) {
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** A sleep in a pod container's cgroup, laid out as the kubelet lays it out. */
  function container(uid: string, id: string): void {
    const dir = path.join(v2.mount, root, 'burstable', `pod${uid}`, id);
    fs.mkdirSync(dir, { recursive: true });
    sleeps.push(spawn('/bin/sh', ['-c', `echo $$ > ${path.join(dir, 'cgroup.procs')} && exec sleep 300`], { stdio: 'ignore' }));
  }

  beforeAll(async () => {
    requireRoot();
    container(LISTED, APP);
    container(UNLISTED, OTHER);
    await api.listen();
    api.objects.set(`/apis/apps/v1/namespaces/shop/replicasets/${rs.name}`, {
      status: 200,
      body: {
        metadata: { name: rs.name, namespace: 'shop', uid: rs.uid, ownerReferences: [{ kind: 'Deployment', name: 'web', uid: uuid(), controller: true }] },
      },
    });
    // LATER is scheduled (listed) but its container is not reported yet.
    api.items = [
      pod('web-5c8d7f9b4-x2kqp', { uid: LISTED, owner: rs, hash: '5c8d7f9b4', id: APP, image: 'nginx:1.27' }),
      pod('db-0', { uid: LATER, owner: { kind: 'StatefulSet', name: 'db', uid: uuid() } }),
    ];
    agent = await TestAgent.start(['node_name: node-a', 'kubernetes:', `  pods_url: "${api.base}/api/v1/pods?fieldSelector=spec.nodeName={node}"`].join('\n'));
    prom = await TestPrometheus.start([`127.0.0.1:${agent.port}`]);
  });

  afterAll(async () => {
    for (const s of sleeps) s.kill('SIGKILL');
    await prom?.stop();
    await agent?.stop();
    api.close();
    // Children first; a killed sleep may still be leaving its cgroup.
    const rm = async (dir: string): Promise<void> => {
      if (!fs.existsSync(dir)) return;
      for (const d of fs.readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) await rm(path.join(dir, d.name));
      for (let i = 0; ; i++) {
        try {
          fs.rmdirSync(dir);
          return;
        } catch (err) {
          if (i === 50) throw err;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    await rm(path.join(v2.mount, top));
  });

  it('a listed container is <namespace>/<pod>/<container>, with its image and Deployment in group_info, as Prometheus scrapes it', async () => {
    const group = 'shop/web-5c8d7f9b4-x2kqp/app';
    await prom.waitFor(`forkwatch_tasks{group="${group}"}`, (v) => v === 1);
    const info = `forkwatch_group_info{group="${group}",kind="kubernetes",container_id="${APP}",pod_uid="${LISTED}",pod_name="web-5c8d7f9b4-x2kqp",pod_namespace="shop",container="app",image="nginx:1.27",workload_kind="Deployment",workload_name="web",node="node-a"}`;
    await prom.waitFor(info, (v) => v === 1);
    expect(api.log.slice(0, 2)).toEqual(['list', 'watch rv=100 bookmarks=true']);
    // A pod the list does not have keeps its uid name and empty labels.
    const unlisted = `pod-${UNLISTED}/${OTHER.slice(0, 12)}`;
    await prom.waitFor(`forkwatch_group_info{group="${unlisted}",pod_name="",container="",workload_kind=""}`, (v) => v === 1);
    expect(await prom.value(`forkwatch_tasks{group="${unlisted}"}`)).toBe(1);
  });

  it('a container started after the list is named within a second of the watch event that reports it', async () => {
    container(LATER, LATER_APP);
    const before = `pod-${LATER}/${LATER_APP.slice(0, 12)}`;
    await groupsUntil((gs) => gs.some((g) => g.group === before && g.tasks === 1), 'the group under its uid name');
    const later = (await apiGroups(agent.url)).find((g) => g.group === before)!;
    expect(later).toMatchObject({ pod_name: 'db-0', pod_namespace: 'shop', container: '', workload_kind: 'StatefulSet', workload_name: 'db' });

    await api.watching(1);
    const sent = Date.now();
    api.send({
      type: 'MODIFIED',
      object: pod('db-0', { uid: LATER, rv: '101', owner: { kind: 'StatefulSet', name: 'db', uid: uuid() }, id: LATER_APP, image: 'postgres:17' }),
    });
    await groupsUntil((gs) => gs.some((g) => g.group === 'shop/db-0/app'), 'the Kubernetes name', 1000);
    expect(Date.now() - sent).toBeLessThan(1000);
    const groups = await apiGroups(agent.url);
    expect(groups.find((g) => g.group === before)).toBeUndefined();
    expect(groups.find((g) => g.group === 'shop/db-0/app')).toMatchObject({ tasks: 1, container: 'app', image: 'postgres:17', pod_uid: LATER });
    await prom.waitFor('forkwatch_tasks{group="shop/db-0/app"}', (v) => v === 1);
    await prom.waitFor(
      'forkwatch_group_info{group="shop/db-0/app",container="app",image="postgres:17",workload_kind="StatefulSet",workload_name="db"}',
      (v) => v === 1,
    );
  });
});

interface GroupView {
  group: string;
  cgroup: string;
  tasks: number;
  pod_uid?: string;
  pod_name?: string;
  pod_namespace?: string;
  container?: string;
  image?: string;
  workload_kind?: string;
  workload_name?: string;
}

/** /api/groups, read once: any status but 200 fails the test with the agent's answer. */
async function apiGroups(url: string): Promise<GroupView[]> {
  const res = await fetch(`${url}/api/groups`);
  if (!res.ok) throw new Error(`/api/groups: HTTP ${res.status}: ${await res.text()}`);
  return (await res.json()) as GroupView[];
}

describe('the agent in a cgroup namespace of its own, as in a pod', () => {
  let agentCg: TestCgroup;
  let before: TestCgroup;
  let agent: ChildProcess | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-cgns-'));

  beforeAll(() => {
    requireRoot();
    agentCg = TestCgroup.create('cgns-agent');
    before = TestCgroup.create('cgns-before');
  });

  afterAll(async () => {
    if (agent && agent.exitCode === null) {
      agent.kill('SIGTERM');
      await new Promise((r) => agent!.once('exit', r));
    }
    await before?.remove();
    await agentCg?.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('puts processes that ran before it in their real cgroups, though /proc shows them relative to its own', async () => {
    before.run('exec sleep 300');
    await until(() => before.pids().length === 1, 'the process that runs first');
    const port = await freePort();
    const config = path.join(dir, 'forkwatch.yaml');
    fs.writeFileSync(config, `listen: "127.0.0.1:${port}"\nnode_name: pod-like\napi:\n  socket: ${path.join(dir, 'api.sock')}\n`);
    // In its own cgroup, then a cgroup namespace rooted there: what a container runtime does.
    agent = spawn(
      '/bin/sh',
      ['-c', `echo $$ > ${path.join(agentCg.dir, 'cgroup.procs')} && exec unshare --cgroup "$0" "$@"`, process.execPath, CLI, 'run', '--config', config],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    agent.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    await until(() => stderr.includes('serving http://'), 'the agent to serve', 15_000);

    const groups = await apiGroups(`http://127.0.0.1:${port}`);
    expect(groups.find((g) => g.cgroup === before.path)).toMatchObject({ group: before.path, tasks: 1 });
    expect(groups.find((g) => g.cgroup === agentCg.path)).toMatchObject({ tasks: 1 }); // itself
  });
});
