/** Pods: parsing (hostile input included), the index, workloads, the join, the polled directory, the HTTP client, the config. */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ApiClient } from '../../src/k8s/http.js';
import { workloadOf } from '../../src/k8s/owners.js';
import { PodDirectory } from '../../src/k8s/poll.js';
import { kubeNames, parsePod, PodIndex, podLabels, type OwnerRef, type PodLookup, type PodMeta } from '../../src/k8s/pods.js';

const LIST = JSON.parse(fs.readFileSync(new URL('../fixtures/k8s/podlist.json', import.meta.url), 'utf8')) as { items: unknown[] };
const WEB = '1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b';
const STATIC = '4c0a5d7b1e9f2a3c8d6e0b4f7a1c9e2d';
const WEB_ID = 'ab'.repeat(32);
const INIT_ID = 'cd'.repeat(32);

/** An index over the fixture, with owners' controllers from `parents` (by owner uid). */
function lookupOver(list: unknown, parents: Record<string, OwnerRef | null> = {}): PodLookup {
  const idx = new PodIndex();
  idx.replace(list);
  return { pod: (u) => idx.get(u), workload: (pod) => workloadOf(pod, (_p, o) => parents[o.uid]) };
}

describe('PodIndex', () => {
  it('indexes pods by uid, and static pods by the kubelet uid their mirror pod names', () => {
    const idx = new PodIndex();
    expect(idx.replace(LIST)).toBe(true);
    expect(idx.get(WEB)).toMatchObject({ name: 'web-7d4b9c8f6-x2kqp', namespace: 'shop', templateHash: '7d4b9c8f6' });
    expect(idx.get(WEB)!.owner).toEqual({ kind: 'ReplicaSet', name: 'web-7d4b9c8f6', uid: 'aa0e7f3c-1d2b-4c5a-9e8f-7a6b5c4d3e2f' });
    expect(idx.get(STATIC)).toMatchObject({ name: 'kube-apiserver-node-a', namespace: 'kube-system' });
    expect(idx.get('9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a')).toBe(idx.get(STATIC));
    expect(idx.size).toBe(2); // items without a uid, a name or a namespace are skipped
  });

  it("takes containers from containerStatuses (init ones too): id without its scheme -> name, image (the spec's when the status has none)", () => {
    const pod = parsePod(LIST.items[0])!;
    expect([...pod.containers]).toEqual([
      [WEB_ID, { name: 'web', image: 'docker.io/library/nginx:1.27' }],
      [INIT_ID, { name: 'migrate', image: 'shop/migrate:7' }],
    ]);
  });

  it.each([null, 'text', {}, { items: 'x' }, { kind: 'Status', status: 'Failure' }])('%j is not a list: the index keeps what it had', (v) => {
    const idx = new PodIndex();
    idx.replace(LIST);
    expect(idx.replace(v)).toBe(false);
    expect(idx.size).toBe(2);
  });

  const web = LIST.items[0] as { metadata: Record<string, unknown>; status: { containerStatuses: Record<string, unknown>[] } };
  const withStatus = (s: Record<string, unknown>) => ({ ...web, status: { containerStatuses: [{ ...web.status.containerStatuses[0], ...s }] } });
  it.each<[string, unknown, Partial<PodMeta> | undefined, [string, { name: string; image: string }][]]>([
    ['a pod name that is not a DNS name', { ...web, metadata: { ...web.metadata, name: 'web\u001b[31m' } }, undefined, []],
    ['a namespace with a slash', { ...web, metadata: { ...web.metadata, namespace: 'a/b' } }, undefined, []],
    ['a uid of the wrong type', { ...web, metadata: { ...web.metadata, uid: 7 } }, undefined, []],
    ['a container name with a slash', withStatus({ name: 'a/b' }), { name: 'web-7d4b9c8f6-x2kqp' }, []],
    ['a container id that is not 64 hex', withStatus({ containerID: 'containerd://abc' }), { name: 'web-7d4b9c8f6-x2kqp' }, []],
    ["an image with an escape (the spec's is taken)", withStatus({ image: 'nginx\u001b]0;x\u0007' }), {}, [[WEB_ID, { name: 'web', image: 'nginx:1.27' }]]],
    ['statuses that are not a list', { ...web, status: { containerStatuses: { a: 1 } } }, { name: 'web-7d4b9c8f6-x2kqp' }, []],
    [
      'an owner without a uid',
      { ...web, metadata: { ...web.metadata, ownerReferences: [{ kind: 'ReplicaSet', name: 'x', controller: true }] } },
      { owner: undefined },
      [[WEB_ID, { name: 'web', image: 'docker.io/library/nginx:1.27' }]],
    ],
  ])('hostile input: %s is left out', (_t, item, want, containers) => {
    const pod = parsePod(item);
    if (want === undefined) return expect(pod).toBeUndefined();
    expect({ ...pod, owner: pod!.owner }).toMatchObject(want);
    expect([...pod!.containers].filter(([id]) => id !== INIT_ID)).toEqual(containers);
  });

  it('upsert says whether naming changed: a new pod or new containers, not a status update', () => {
    const idx = new PodIndex();
    const bare = { ...web, status: {} };
    expect(idx.upsert(bare)).toBe(true);
    expect(idx.upsert({ ...bare, metadata: { ...web.metadata, resourceVersion: '2' } })).toBe(false);
    expect(idx.upsert(web)).toBe(true);
    expect(idx.remove(web)).toBe(true);
    expect(idx.remove(web)).toBe(false);
    expect(idx.get(WEB)).toBeUndefined();
  });
});

describe('workloadOf', () => {
  const pod = (owner: OwnerRef | undefined, templateHash?: string): PodMeta => ({
    uid: WEB,
    name: 'p',
    namespace: 'ns',
    containers: new Map(),
    owner,
    templateHash,
  });
  const rs = { kind: 'ReplicaSet', name: 'web-7d4b9c8f6', uid: 'r' };
  const job = { kind: 'Job', name: 'backup-29000000', uid: 'j' };
  it.each<[string, PodMeta, OwnerRef | null | undefined, { kind: string; name: string } | undefined]>([
    ['a Deployment, through its ReplicaSet', pod(rs, '7d4b9c8f6'), { kind: 'Deployment', name: 'web', uid: 'd' }, { kind: 'Deployment', name: 'web' }],
    ['a ReplicaSet not yet read: the Deployment from the pod-template-hash convention', pod(rs, '7d4b9c8f6'), undefined, { kind: 'Deployment', name: 'web' }],
    ['a ReplicaSet not yet read, without the hash label: the ReplicaSet', pod(rs), undefined, { kind: 'ReplicaSet', name: 'web-7d4b9c8f6' }],
    ['a ReplicaSet of its own (no owner)', pod(rs, '7d4b9c8f6'), null, { kind: 'ReplicaSet', name: 'web-7d4b9c8f6' }],
    ['a CronJob, through its Job', pod(job), { kind: 'CronJob', name: 'backup', uid: 'c' }, { kind: 'CronJob', name: 'backup' }],
    ['a Job of its own', pod(job), null, { kind: 'Job', name: 'backup-29000000' }],
    ['a StatefulSet', pod({ kind: 'StatefulSet', name: 'db', uid: 's' }), undefined, { kind: 'StatefulSet', name: 'db' }],
    ['a DaemonSet', pod({ kind: 'DaemonSet', name: 'agent', uid: 'a' }), undefined, { kind: 'DaemonSet', name: 'agent' }],
    ["a static pod (its mirror pod is the Node's)", pod({ kind: 'Node', name: 'node-a', uid: 'n' }), undefined, { kind: 'Node', name: 'node-a' }],
    ['a bare pod', pod(undefined), undefined, undefined],
  ])('%s', (_t, p, parent, want) => {
    expect(workloadOf(p, () => parent)).toEqual(want);
  });
});

describe('kubeNames and podLabels', () => {
  const lookup = lookupOver(LIST, { 'aa0e7f3c-1d2b-4c5a-9e8f-7a6b5c4d3e2f': { kind: 'Deployment', name: 'web', uid: 'd' } });
  it('names a listed container, a pod whose container is not (yet) listed, and nothing for an unknown pod', () => {
    expect(kubeNames(lookup, WEB, WEB_ID)).toEqual({ namespace: 'shop', pod: 'web-7d4b9c8f6-x2kqp', container: 'web' });
    expect(kubeNames(lookup, WEB, 'ff'.repeat(32))).toEqual({ namespace: 'shop', pod: 'web-7d4b9c8f6-x2kqp' });
    expect(kubeNames(lookup, '11111111-2222-4333-8444-555555555555', WEB_ID)).toBeUndefined();
  });

  it.each<[string | undefined, string | undefined, Record<string, string>]>([
    [
      WEB,
      WEB_ID,
      {
        pod_name: 'web-7d4b9c8f6-x2kqp',
        pod_namespace: 'shop',
        container: 'web',
        image: 'docker.io/library/nginx:1.27',
        workload_kind: 'Deployment',
        workload_name: 'web',
      },
    ],
    [
      WEB.toUpperCase(),
      undefined,
      { pod_name: 'web-7d4b9c8f6-x2kqp', pod_namespace: 'shop', container: '', image: '', workload_kind: 'Deployment', workload_name: 'web' },
    ],
    [
      STATIC,
      'ef'.repeat(32),
      {
        pod_name: 'kube-apiserver-node-a',
        pod_namespace: 'kube-system',
        container: 'kube-apiserver',
        image: 'registry.k8s.io/kube-apiserver:v1.31.0',
        workload_kind: 'Node',
        workload_name: 'node-a',
      },
    ],
    ['11111111-2222-4333-8444-555555555555', WEB_ID, { pod_name: '', pod_namespace: '', container: '', image: '', workload_kind: '', workload_name: '' }],
    [undefined, undefined, { pod_name: '', pod_namespace: '', container: '', image: '', workload_kind: '', workload_name: '' }],
  ])('%s %s -> %j', (uid, id, want) => {
    expect(podLabels(lookup, uid, id)).toEqual(want);
  });
});

describe("PodDirectory (a list read now and then: the kubelet's /pods)", () => {
  function directory(answers: unknown[]) {
    let now = 1_000_000;
    let reads = 0;
    const states: string[] = [];
    let changes = 0;
    const d = new PodDirectory({
      fetch: async () => {
        const a = answers[Math.min(reads++, answers.length - 1)];
        if (a instanceof Error) throw a;
        return a;
      },
      refreshS: 30,
      now: () => now,
      onState: (ok, detail) => states.push(`${ok ? 'ok' : 'failing'}: ${detail}`),
      onChange: () => changes++,
    });
    return { d, states, reads: () => reads, changes: () => changes, advance: (ms: number) => (now += ms) };
  }

  it('answers from the last list; an unknown uid asks for a new list at most once per refresh', async () => {
    const { d, reads, advance, changes } = directory([{ items: [] }, LIST]);
    await d.refresh();
    expect(d.pod(WEB)).toBeUndefined(); // asked just now: no new read
    expect(reads()).toBe(1);
    advance(30_000);
    expect(d.pod(WEB)).toBeUndefined(); // this asks for one
    expect(d.pod(WEB)).toBeUndefined(); // shares it
    await d.refresh(); // waits for the read in flight
    expect(reads()).toBe(2);
    expect(d.pod(WEB)?.name).toBe('web-7d4b9c8f6-x2kqp');
    expect(changes()).toBe(2);
  });

  it('keeps the last good list when a read fails or is not a list, and says so once per change', async () => {
    const { d, states, advance } = directory([LIST, new Error('HTTP 403 forbidden'), { kind: 'Status' }, LIST]);
    await d.refresh();
    for (let i = 0; i < 3; i++) {
      advance(30_000);
      await d.refresh();
      expect(d.pod(WEB)?.namespace).toBe('shop');
    }
    expect(states).toEqual(['ok: 2 pods', 'failing: HTTP 403 forbidden', 'ok: 2 pods']);
  });
});

describe('ApiClient.getJson', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-pods-'));
  const seen: http.IncomingHttpHeaders[] = [];
  const urls: string[] = [];
  let answer: { status: number; body: string } = { status: 200, body: JSON.stringify(LIST) };
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    urls.push(req.url!);
    res.writeHead(answer.status, { 'Content-Type': 'application/json' });
    res.end(answer.body);
  });
  const listening = new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)));
  afterAll(() => {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sends the token read at each request', async () => {
    const port = await listening;
    const token = path.join(dir, 'token');
    fs.writeFileSync(token, 'first\n');
    const client = new ApiClient({ base: `http://127.0.0.1:${port}`, tokenFile: token });
    const p = '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a';
    expect(((await client.getJson(p)) as { items: unknown[] }).items.length).toBe(5);
    fs.writeFileSync(token, 'rotated\n');
    await client.getJson(p);
    expect(urls.slice(-2)).toEqual([p, p]);
    expect(seen.slice(-2).map((h) => h.authorization)).toEqual(['Bearer first', 'Bearer rotated']);
  });

  it.each([
    [
      { status: 403, body: '{"kind":"Status","message":"pods is forbidden"}' },
      /^GET http:\/\/127\.0\.0\.1:\d+\/pods: HTTP 403 \{"kind":"Status","message":"pods is forbidden"\}$/,
    ],
    [{ status: 200, body: '<html>' }, /^GET http:\/\/127\.0\.0\.1:\d+\/pods: the answer is not JSON$/],
    [{ status: 500, body: 'oops\u001b[2J\nmore' }, /^GET http:\/\/127\.0\.0\.1:\d+\/pods: HTTP 500 oops \[2J more$/],
    [{ status: 200, body: 'x'.repeat(5000) }, /^GET http:\/\/127\.0\.0\.1:\d+\/pods: the answer is over 4096 bytes$/],
  ])('%j is a one-line error', async (a, message) => {
    const port = await listening;
    answer = a;
    await expect(new ApiClient({ base: `http://127.0.0.1:${port}`, maxBodyBytes: 4096 }).getJson('/pods')).rejects.toThrow(message);
  });

  it('a refused connection and a missing token or CA file are one-line errors too', async () => {
    await expect(new ApiClient({ base: 'http://127.0.0.1:1' }).getJson('/pods')).rejects.toThrow('GET http://127.0.0.1:1/pods: ECONNREFUSED');
    await expect(new ApiClient({ base: 'http://127.0.0.1:1', tokenFile: '/nonexistent/token' }).getJson('/pods')).rejects.toThrow(
      'cannot read kubernetes.token_file "/nonexistent/token": ENOENT',
    );
    await expect(new ApiClient({ base: 'https://127.0.0.1:1', caFile: '/nonexistent/ca.crt' }).getJson('/pods')).rejects.toThrow(
      'cannot read kubernetes.ca_file "/nonexistent/ca.crt": ENOENT',
    );
    // A path holding a terminal escape is named quoted, the escape inert.
    await expect(new ApiClient({ base: 'http://127.0.0.1:1', tokenFile: '/nonexistent/\u001b[2Jt' }).getJson('/pods')).rejects.toThrow(
      'cannot read kubernetes.token_file "/nonexistent/\\u001b[2Jt": ENOENT',
    );
  });
});

describe('config: kubernetes', () => {
  const ENV = { hostname: 'node-a' };
  it('reads the section, with refresh defaulting to 30 s', () => {
    const c = parseConfig(
      'kubernetes:\n  pods_url: "https://kubernetes.default.svc/api/v1/pods?fieldSelector=spec.nodeName={node}"\n  token_file: /var/run/secrets/kubernetes.io/serviceaccount/token\n  ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt\n',
      'f.yaml',
      ENV,
    );
    expect(c.kubernetes).toEqual({
      pods_url: 'https://kubernetes.default.svc/api/v1/pods?fieldSelector=spec.nodeName={node}',
      token_file: '/var/run/secrets/kubernetes.io/serviceaccount/token',
      ca_file: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
      refresh_s: 30,
    });
    expect(parseConfig('', 'f.yaml', ENV).kubernetes).toBeUndefined();
  });

  it.each([
    ['kubernetes:\n  pods_url: /pods\n', 'f.yaml: kubernetes.pods_url: "/pods" is not an http(s) URL; expected an http:// or https:// URL of a pod list'],
    ['kubernetes:\n  token_file: /t\n', 'f.yaml: kubernetes.pods_url: '],
    ['kubernetes:\n  pods_url: http://x/pods\n  refresh: 0s\n', 'f.yaml: kubernetes.refresh: '],
    ['kubernetes:\n  pods_url: http://x/pods\n  url: y\n', 'f.yaml: kubernetes: unknown key "url"; expected one of pods_url, token_file, ca_file, refresh'],
  ])('%j is a usage error', (yaml, start) => {
    expect(() => parseConfig(yaml, 'f.yaml', ENV)).toThrow(start);
  });

  it('a long pods_url with a terminal escape, and a long unknown key: one short line, the escape not raw', () => {
    for (const yaml of [`kubernetes:\n  pods_url: "\\e[2J${'x'.repeat(5000)}"\n`, `kubernetes:\n  ${'k'.repeat(1000)}: 1\n`]) {
      let message = '';
      try {
        parseConfig(yaml, 'f.yaml', ENV);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/^f\.yaml: kubernetes/);
      expect(message.length).toBeLessThan(400);
      expect(message).not.toContain('\u001b');
      expect(message).not.toContain('\n');
    }
  });

  it('node_name defaults to $FORKWATCH_NODE_NAME (a DaemonSet sets it from spec.nodeName), else the host name', async () => {
    const { hostEnv } = await import('../../src/config/load.js');
    expect(hostEnv({ FORKWATCH_NODE_NAME: 'node-a' }).hostname).toBe('node-a');
    expect(hostEnv({}).hostname).toBe(os.hostname());
    expect(parseConfig('', 'f.yaml', hostEnv({ FORKWATCH_NODE_NAME: 'node-b' })).node_name).toBe('node-b');
  });
});
