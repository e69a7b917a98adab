/**
 * The pod list kept by list + watch, against a local server that speaks the API server's list and
 * watch (chunked JSON lines): a new pod is known within a second; bookmarks, a dropped connection,
 * 410 Gone (status and ERROR event), garbage, an oversized event and a stalled stream; workloads
 * through ReplicaSets and Jobs the server serves.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/k8s/http.js';
import { podSource, type PodSource } from '../../src/k8s/source.js';
import { PodWatch } from '../../src/k8s/watch.js';
import { until } from '../helpers/cgroup.js';
import { FakeApi, pod, uuid } from '../helpers/k8s-api.js';

const LIST_PATH = '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a';
const hex = (c: string) => c.repeat(64);

describe('PodWatch against a served list and watch', () => {
  const api = new FakeApi();
  let w: PodWatch | undefined;
  const states: string[] = [];
  let changes = 0;

  beforeAll(() => api.listen());
  afterAll(() => api.close());
  afterEach(async () => {
    await w?.close();
    api.watch?.destroy();
    api.watch = undefined;
    api.log.length = 0;
    states.length = 0;
    changes = 0;
  });

  function start(o: { idleMs?: number; maxLineBytes?: number } = {}): PodWatch {
    w = new PodWatch({
      client: new ApiClient({ base: api.base, maxLineBytes: o.maxLineBytes }),
      path: LIST_PATH,
      backoff: { initialMs: 50, maxMs: 200 },
      idleMs: o.idleMs,
      onChange: () => changes++,
      onState: (ok, detail) => states.push(`${ok ? 'ok' : 'failing'}: ${detail}`),
    });
    return w;
  }

  it("lists, then watches from the list's resourceVersion; a new pod and its container are known within a second", async () => {
    api.items = [pod('old-0')];
    const watch = start();
    await watch.start();
    expect(watch.index.size).toBe(1);
    await api.watching(1);
    expect(api.log).toEqual(['list', 'watch rv=100 bookmarks=true']);

    const uid = uuid();
    const sent = Date.now();
    api.send({ type: 'ADDED', object: pod('web-0', { uid, rv: '101' }) });
    await until(() => watch.index.get(uid) !== undefined, 'the new pod', 1000);
    api.send({ type: 'MODIFIED', object: pod('web-0', { uid, rv: '102', id: hex('a') }) });
    await until(() => watch.index.get(uid)?.containers.get(hex('a'))?.name === 'app', 'its container', 1000);
    expect(Date.now() - sent).toBeLessThan(1000);
    api.send({ type: 'DELETED', object: pod('old-0', { uid: (api.items[0] as { metadata: { uid: string } }).metadata.uid, rv: '103' }) });
    await until(() => watch.index.size === 1, 'the deleted pod gone', 1000);
    expect(states).toEqual(['ok: 1 pods']);
  });

  it('resumes from the last event or bookmark when the server ends the watch or the connection drops, without listing again', async () => {
    api.items = [];
    const watch = start();
    await watch.start();
    await api.watching(1);
    api.send({ type: 'ADDED', object: pod('a', { rv: '205' }) });
    api.send({ type: 'BOOKMARK', object: { kind: 'Pod', metadata: { resourceVersion: '250' } } });
    await until(() => watch.index.size === 1, 'the pod', 1000);
    api.watch!.end(); // timeoutSeconds: resumed at once
    await api.watching(2);
    api.send({ type: 'ADDED', object: pod('b', { rv: '260' }) });
    await until(() => watch.index.size === 2, 'the second pod', 1000);
    api.watch!.socket!.destroy(); // a dropped connection: resumed after the backoff
    await api.watching(3);
    expect(api.log).toEqual(['list', 'watch rv=100 bookmarks=true', 'watch rv=250 bookmarks=true', 'watch rv=260 bookmarks=true']);
  });

  it.each([
    ["410 Gone as the watch's status", (a: FakeApi) => ((a.nextWatchStatus = 410), a.watch!.end())],
    [
      '410 Gone as an ERROR event',
      (a: FakeApi) => a.send({ type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old resource version: 1 (300)' } }),
    ],
  ])('%s: lists again, at once', async (_t, gone) => {
    api.items = [pod('a')];
    const watch = start();
    await watch.start();
    await api.watching(1);
    api.items = [pod('a'), pod('b')];
    api.listRv = '300';
    gone(api);
    await until(() => api.log.filter((l) => l === 'list').length === 2 && watch.index.size === 2, 'a second list', 2000);
    await api.watching(api.log.filter((l) => l.startsWith('watch')).length);
    expect(api.log.at(-1)).toBe('watch rv=300 bookmarks=true');
    expect(states).toEqual(['ok: 1 pods']); // a 410 is not a failure
    api.listRv = '100';
  });

  it.each([
    ['a line that is not JSON', (a: FakeApi) => a.send('\u001b[2J<html>garbage'), /a watch event that is not JSON: \[2J<html>garbage$/],
    ['an event past the line bound', (a: FakeApi) => a.watch!.write('{"type":"ADDED","object":' + ' '.repeat(70_000)), /a watch event over 65536 bytes$/],
    ['an event of no known type', (a: FakeApi) => a.send({ type: 'SURPRISE', object: {} }), /an event of type "SURPRISE"$/],
  ])('%s: one clear line, then the list is read again after the backoff', async (_t, garbage, message) => {
    api.items = [pod('a')];
    const watch = start({ maxLineBytes: 65_536 });
    await watch.start();
    await api.watching(1);
    garbage(api);
    await until(() => api.log.filter((l) => l === 'list').length === 2, 'a second list', 2000);
    expect(states[1]).toMatch(message);
    expect(states[1]).not.toMatch(/[\u0000-\u001f]/);
    expect(states.slice(2)).toEqual(['ok: 1 pods']);
  });

  it('a stream that goes quiet past its deadline is dropped and resumed', async () => {
    api.items = [];
    const watch = start({ idleMs: 300 });
    await watch.start();
    await api.watching(1);
    api.send({ type: 'BOOKMARK', object: { kind: 'Pod', metadata: { resourceVersion: '400' } } });
    await api.watching(2);
    expect(api.log.at(-1)).toBe('watch rv=400 bookmarks=true');
    expect(states[1]).toMatch(/nothing for 0.3s$/);
  });

  it('an API server that refuses: backs off, says so once, and lists when it answers', async () => {
    const down = new PodWatch({
      client: new ApiClient({ base: 'http://127.0.0.1:1' }),
      path: LIST_PATH,
      backoff: { initialMs: 20, maxMs: 40 },
      onState: (ok, detail) => states.push(`${ok ? 'ok' : 'failing'}: ${detail}`),
    });
    await down.start();
    await until(() => down.lists >= 4, 'retries', 2000);
    await down.close();
    expect(states).toEqual(['failing: GET http://127.0.0.1:1/api/v1/pods: ECONNREFUSED']);
  });
});

describe('stopping', () => {
  it('ends a list the server never answers, at once', async () => {
    const silent = http.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    const states: string[] = [];
    const source = podSource({ pods_url: `http://127.0.0.1:${port}/api/v1/pods?fieldSelector=spec.nodeName={node}`, refresh_s: 30 }, 'node-a', {
      onChange: () => undefined,
      onState: (what, ok, detail) => states.push(`${what} ${ok}: ${detail}`),
    });
    void source.start();
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await source.close();
    expect(Date.now() - t0).toBeLessThan(100);
    expect(states).toEqual([]); // ended by us: nothing to warn about
    silent.closeAllConnections();
    silent.close();
  });
});

describe('workloads through the ReplicaSets and Jobs the API server serves', () => {
  const api = new FakeApi();
  let source: PodSource;
  const owner = (kind: string, name: string) => ({ kind, name, uid: uuid() });
  const rsOfDeployment = owner('ReplicaSet', 'web-5c8d7f9b4');
  const rsAlone = owner('ReplicaSet', 'loose-6b7c8d9f5');
  const rsForbidden = owner('ReplicaSet', 'api-7f6e5d4c3');
  const jobOfCron = owner('Job', 'backup-29012345');
  const jobAlone = owner('Job', 'migrate');
  const cases: [string, ReturnType<typeof pod>, { kind: string; name: string } | undefined][] = [
    ['Deployment', pod('web-5c8d7f9b4-abcde', { owner: rsOfDeployment, hash: '5c8d7f9b4', id: hex('1') }), { kind: 'Deployment', name: 'web' }],
    ['ReplicaSet', pod('loose-6b7c8d9f5-x', { owner: rsAlone, id: hex('2') }), { kind: 'ReplicaSet', name: 'loose-6b7c8d9f5' }],
    [
      'Deployment by the hash convention (the ReplicaSet is forbidden)',
      pod('api-7f6e5d4c3-q', { owner: rsForbidden, hash: '7f6e5d4c3', id: hex('3') }),
      { kind: 'Deployment', name: 'api' },
    ],
    ['CronJob', pod('backup-29012345-zz', { owner: jobOfCron, id: hex('4') }), { kind: 'CronJob', name: 'backup' }],
    ['Job', pod('migrate-k', { owner: jobAlone, id: hex('5') }), { kind: 'Job', name: 'migrate' }],
    ['StatefulSet', pod('db-0', { owner: owner('StatefulSet', 'db'), id: hex('6') }), { kind: 'StatefulSet', name: 'db' }],
    ['DaemonSet', pod('agent-x1', { owner: owner('DaemonSet', 'agent'), id: hex('7') }), { kind: 'DaemonSet', name: 'agent' }],
    ['a bare pod', pod('debug', { id: hex('8') }), undefined],
  ];

  beforeAll(async () => {
    await api.listen();
    const obj = (o: { name: string; uid: string }, controller?: { kind: string; name: string }) => ({
      metadata: { name: o.name, namespace: 'shop', uid: o.uid, ...(controller ? { ownerReferences: [{ ...controller, uid: uuid(), controller: true }] } : {}) },
    });
    api.objects.set(`/apis/apps/v1/namespaces/shop/replicasets/${rsOfDeployment.name}`, {
      status: 200,
      body: obj(rsOfDeployment, { kind: 'Deployment', name: 'web' }),
    });
    api.objects.set(`/apis/apps/v1/namespaces/shop/replicasets/${rsAlone.name}`, { status: 200, body: obj(rsAlone) });
    api.objects.set(`/apis/apps/v1/namespaces/shop/replicasets/${rsForbidden.name}`, {
      status: 403,
      body: { kind: 'Status', code: 403, message: 'forbidden' },
    });
    api.objects.set(`/apis/batch/v1/namespaces/shop/jobs/${jobOfCron.name}`, { status: 200, body: obj(jobOfCron, { kind: 'CronJob', name: 'backup' }) });
    api.objects.set(`/apis/batch/v1/namespaces/shop/jobs/${jobAlone.name}`, { status: 200, body: obj(jobAlone) });
    api.items = cases.map((c) => c[1]);
  });
  afterAll(async () => {
    await source?.close();
    api.close();
  });

  it('resolves each kind (the owners read once, then kept)', async () => {
    const states: string[] = [];
    source = podSource({ pods_url: `${api.base}/api/v1/pods?fieldSelector=spec.nodeName={node}`, refresh_s: 30 }, 'node-a', {
      onChange: () => undefined,
      onState: (what, ok, detail) => states.push(`${what} ${ok ? 'ok' : 'failing'}: ${detail}`),
    });
    expect(source.mode).toBe('watch');
    await source.start();
    const workload = (p: ReturnType<typeof pod>) => {
      const meta = source.lookup.pod(p.metadata.uid);
      return meta && source.lookup.workload(meta);
    };
    for (const [, p] of cases) workload(p); // asks for the owners' objects
    for (const [kind, p, want] of cases) await until(() => JSON.stringify(workload(p)) === JSON.stringify(want), `the ${kind}`, 2000);
    expect(states).toContain('pods ok: 8 pods');
    expect(
      states.some((s) => /^owners failing: GET http:\/\/127\.0\.0\.1:\d+\/apis\/apps\/v1\/namespaces\/shop\/replicasets\/api-7f6e5d4c3: HTTP 403/.test(s)),
    ).toBe(true);
  });
});
