/** Pod names for pod uids: the PodList index, the join, the refreshing directory, the HTTP fetch, the config. */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { httpPodList, indexPods, PodDirectory, podLabels, type PodMeta } from '../../src/k8s/pods.js';

const LIST = JSON.parse(fs.readFileSync(new URL('../fixtures/k8s/podlist.json', import.meta.url), 'utf8')) as unknown;
const WEB = '1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b';
const STATIC = '4c0a5d7b1e9f2a3c8d6e0b4f7a1c9e2d';

describe('indexPods', () => {
  it('indexes pods by uid, and static pods by the kubelet uid their mirror pod names', () => {
    const idx = indexPods(LIST);
    expect(idx.get(WEB)).toEqual({ name: 'web-7d4b9c8f6-x2kqp', namespace: 'shop' });
    expect(idx.get(STATIC)).toEqual({ name: 'kube-apiserver-node-a', namespace: 'kube-system' });
    expect(idx.get('9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a')).toEqual({ name: 'kube-apiserver-node-a', namespace: 'kube-system' });
    expect(idx.size).toBe(3); // items without a uid, a name or a namespace are skipped
  });

  it.each([null, 'text', {}, { items: 'x' }, { kind: 'Status', status: 'Failure' }])('%j is an empty index', (v) => {
    expect(indexPods(v).size).toBe(0);
  });
});

describe('podLabels', () => {
  const idx = indexPods(LIST);
  const lookup = (u: string) => idx.get(u);
  it.each<[string | undefined, { pod_name: string; pod_namespace: string }]>([
    [WEB, { pod_name: 'web-7d4b9c8f6-x2kqp', pod_namespace: 'shop' }],
    [WEB.toUpperCase(), { pod_name: 'web-7d4b9c8f6-x2kqp', pod_namespace: 'shop' }],
    [STATIC, { pod_name: 'kube-apiserver-node-a', pod_namespace: 'kube-system' }],
    ['11111111-2222-4333-8444-555555555555', { pod_name: '', pod_namespace: '' }], // not (yet) in the list: the uid alone
    [undefined, { pod_name: '', pod_namespace: '' }], // not a pod
  ])('%s -> %j', (uid, want) => {
    expect(podLabels(uid, lookup)).toEqual(want);
  });
});

describe('PodDirectory', () => {
  function directory(answers: unknown[]) {
    let now = 1_000_000;
    let reads = 0;
    const states: string[] = [];
    const d = new PodDirectory({
      fetch: async () => {
        const a = answers[Math.min(reads++, answers.length - 1)];
        if (a instanceof Error) throw a;
        return a;
      },
      refreshS: 30,
      now: () => now,
      onState: (ok, detail) => states.push(`${ok ? 'ok' : 'failing'}: ${detail}`),
    });
    return { d, states, reads: () => reads, advance: (ms: number) => (now += ms) };
  }

  it('answers from the last list; an unknown uid asks for a new list at most once per refresh', async () => {
    const { d, reads, advance } = directory([{ items: [] }, LIST]);
    await d.refresh();
    expect(d.lookup(WEB)).toBeUndefined(); // asked just now: no new read
    expect(reads()).toBe(1);
    advance(30_000);
    expect(d.lookup(WEB)).toBeUndefined(); // this asks for one
    expect(d.lookup(WEB)).toBeUndefined(); // shares it
    await d.refresh(); // waits for the read in flight
    expect(reads()).toBe(2);
    expect(d.lookup(WEB)).toEqual<PodMeta>({ name: 'web-7d4b9c8f6-x2kqp', namespace: 'shop' });
  });

  it('keeps the last good list when a read fails, and says so once per change', async () => {
    const { d, states, advance } = directory([LIST, new Error('HTTP 403 forbidden'), new Error('HTTP 403 forbidden'), LIST]);
    await d.refresh();
    for (let i = 0; i < 3; i++) {
      advance(30_000);
      await d.refresh();
      expect(d.lookup(WEB)?.namespace).toBe('shop');
    }
    expect(states).toEqual(['ok: 3 pods', 'failing: HTTP 403 forbidden', 'ok: 3 pods']);
  });
});

describe('httpPodList', () => {
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

  it("asks for this node's pods with the token read at each request", async () => {
    const port = await listening;
    const token = path.join(dir, 'token');
    fs.writeFileSync(token, 'first\n');
    const fetch = httpPodList({ url: `http://127.0.0.1:${port}/api/v1/pods?fieldSelector=spec.nodeName={node}`, node: 'node-a', tokenFile: token });
    expect(indexPods(await fetch()).size).toBe(3);
    fs.writeFileSync(token, 'rotated\n');
    await fetch();
    expect(urls).toEqual(['/api/v1/pods?fieldSelector=spec.nodeName=node-a', '/api/v1/pods?fieldSelector=spec.nodeName=node-a']);
    expect(seen.map((h) => h.authorization)).toEqual(['Bearer first', 'Bearer rotated']);
  });

  it.each([
    [
      { status: 403, body: '{"kind":"Status","message":"pods is forbidden"}' },
      /^GET http:\/\/127\.0\.0\.1:\d+\/pods: HTTP 403 \{"kind":"Status","message":"pods is forbidden"\}$/,
    ],
    [{ status: 200, body: '<html>' }, /^GET http:\/\/127\.0\.0\.1:\d+\/pods: the answer is not JSON$/],
  ])('%j is a one-line error', async (a, message) => {
    const port = await listening;
    answer = a;
    await expect(httpPodList({ url: `http://127.0.0.1:${port}/pods`, node: 'n' })()).rejects.toThrow(message);
  });

  it('a refused connection and a missing token file are one-line errors too', async () => {
    await expect(httpPodList({ url: 'http://127.0.0.1:1/pods', node: 'n' })()).rejects.toThrow('GET http://127.0.0.1:1/pods: ECONNREFUSED');
    await expect(httpPodList({ url: 'http://127.0.0.1:1/pods', node: 'n', tokenFile: '/nonexistent/token' })()).rejects.toThrow(
      'cannot read kubernetes.token_file /nonexistent/token: ENOENT',
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

  it('node_name defaults to $FORKWATCH_NODE_NAME (a DaemonSet sets it from spec.nodeName), else the host name', async () => {
    const { hostEnv } = await import('../../src/config/load.js');
    expect(hostEnv({ FORKWATCH_NODE_NAME: 'node-a' }).hostname).toBe('node-a');
    expect(hostEnv({}).hostname).toBe(os.hostname());
    expect(parseConfig('', 'f.yaml', hostEnv({ FORKWATCH_NODE_NAME: 'node-b' })).node_name).toBe('node-b');
  });
});
