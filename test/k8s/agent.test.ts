/**
 * The agent as a pod runs it. Pod names: pods laid out in cgroups as the kubelet lays them out
 * (cgroupfs driver), a pod list served the way the API server serves it, forkwatch_group_info and
 * /api/groups carrying pod_name and pod_namespace for listed pods and just the uid for others.
 * A cgroup namespace of its own: processes running before it start are still in the right groups.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectHierarchy } from '../../src/host/cgroupfs.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { CLI } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';

const rand = () => Math.random().toString(16).slice(2, 10);
const uuid = () => `${rand()}-${rand().slice(0, 4)}-4${rand().slice(0, 3)}-8${rand().slice(0, 3)}-${rand()}${rand().slice(0, 4)}`;
const LISTED = uuid();
const LATER = uuid();
const CONTAINER = (rand() + rand() + rand() + rand() + rand() + rand() + rand() + rand()).slice(0, 64);

function podList(uids: string[]) {
  return {
    kind: 'PodList',
    apiVersion: 'v1',
    items: uids.map((uid, i) => ({ metadata: { name: `web-${i}`, namespace: 'shop', uid } })),
  };
}

describe('pod names in the agent', () => {
  // The cgroupfs driver's layout below a --cgroup-root of the test's own: <root>/kubepods/<qos>/pod<uid>/<id>.
  const top = `/forkwatch-test-k8s-${process.pid}-${rand()}`;
  const root = `${top}/kubepods`;
  const v2 = detectHierarchy('v2');
  const sleeps: ChildProcess[] = [];
  let listed = [LISTED];
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    asked.push(req.url!);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(podList(listed)));
  });
  let agent: TestAgent;

  beforeAll(async () => {
    requireRoot();
    for (const uid of [LISTED, LATER]) {
      const dir = path.join(v2.mount, root, 'burstable', `pod${uid}`, CONTAINER);
      fs.mkdirSync(dir, { recursive: true });
      sleeps.push(spawn('/bin/sh', ['-c', `echo $$ > ${path.join(dir, 'cgroup.procs')} && exec sleep 300`], { stdio: 'ignore' }));
    }
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    agent = await TestAgent.start(
      ['node_name: node-a', 'kubernetes:', `  pods_url: "http://127.0.0.1:${port}/api/v1/pods?fieldSelector=spec.nodeName={node}"`, '  refresh: 1s'].join('\n'),
    );
  });

  afterAll(async () => {
    for (const s of sleeps) s.kill('SIGKILL');
    await agent?.stop();
    server.close();
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

  /** forkwatch_group_info's labels for a pod uid, from /metrics. */
  async function info(uid: string): Promise<Record<string, string> | undefined> {
    const text = await (await agent.get('/metrics')).text();
    const line = text.split('\n').find((l) => l.startsWith('forkwatch_group_info{') && l.includes(`pod_uid="${uid}"`));
    if (!line) return undefined;
    return Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  }

  it('a listed pod gets its name and namespace; an unlisted one keeps its uid, and is named once the list has it', async () => {
    let a: Record<string, string> | undefined;
    for (let i = 0; i < 100 && !(a = await info(LISTED))?.pod_name; i++) await new Promise((r) => setTimeout(r, 50));
    expect(a).toMatchObject({ pod_uid: LISTED, pod_name: 'web-0', pod_namespace: 'shop', kind: 'kubernetes', container_id: CONTAINER, node: 'node-a' });
    expect(await info(LATER)).toMatchObject({ pod_uid: LATER, pod_name: '', pod_namespace: '' });
    expect(asked[0]).toBe('/api/v1/pods?fieldSelector=spec.nodeName=node-a');

    const groups = (await apiGroups(agent.url)).filter((g) => g.pod_uid === LISTED);
    expect(groups.length).toBeGreaterThan(0);
    for (const g of groups) expect(g).toMatchObject({ pod_name: 'web-0', pod_namespace: 'shop' });

    // The pod appears in the list: an unknown uid asks for it again (at most once per refresh).
    listed = [LISTED, LATER];
    let b: Record<string, string> | undefined;
    for (let i = 0; i < 100 && !(b = await info(LATER))?.pod_name; i++) await new Promise((r) => setTimeout(r, 50));
    expect(b).toMatchObject({ pod_uid: LATER, pod_name: 'web-1', pod_namespace: 'shop' });
  });
});

interface GroupView {
  group: string;
  cgroup: string;
  tasks: number;
  pod_uid?: string;
  pod_name?: string;
  pod_namespace?: string;
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
