/** A Kubernetes API server in miniature for tests: a pod list and its watch, and objects by path. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { until } from './cgroup.js';

let seq = 0;
/** A fresh pod or owner uid. */
export function uuid(): string {
  const n = (++seq).toString(16).padStart(12, '0');
  return `00000000-0000-4${(process.pid % 4096).toString(16).padStart(3, '0')}-8000-${n}`;
}

export interface PodSpec {
  uid?: string;
  namespace?: string;
  rv?: string;
  owner?: { kind: string; name: string; uid: string };
  /** The pod-template-hash label. */
  hash?: string;
  /** The container `app`'s id in containerStatuses (absent: not reported yet). */
  id?: string;
  image?: string;
}

/** A pod object as the API server serves it, with one container `app`. */
export function pod(name: string, o: PodSpec = {}) {
  const image = o.image ?? 'app:1';
  return {
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.namespace ?? 'shop',
      uid: o.uid ?? uuid(),
      resourceVersion: o.rv ?? '1',
      ...(o.hash ? { labels: { 'pod-template-hash': o.hash } } : {}),
      ...(o.owner ? { ownerReferences: [{ apiVersion: 'v1', ...o.owner, controller: true }] } : {}),
    },
    spec: { nodeName: 'node-a', containers: [{ name: 'app', image }] },
    status: o.id ? { containerStatuses: [{ name: 'app', image, containerID: `containerd://${o.id}` }] } : {},
  };
}

/**
 * Serves `/api/v1/pods?fieldSelector=spec.nodeName=node-a` as a list (resourceVersion listRv) and,
 * with watch=1, as a chunked stream the test writes events to; other paths from `objects`.
 */
export class FakeApi {
  readonly server: http.Server;
  items: unknown[] = [];
  listRv = '100';
  /** Requests, in order: 'list', or 'watch rv=<rv> bookmarks=<allowWatchBookmarks>'. */
  readonly log: string[] = [];
  /** The open watch's response (the test writes events to it). */
  watch: http.ServerResponse | undefined;
  /** The next watch is answered with this status instead (410 Gone...). */
  nextWatchStatus: number | undefined;
  readonly objects = new Map<string, { status: number; body: unknown }>();
  port = 0;

  constructor() {
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/api/v1/pods' && url.searchParams.get('fieldSelector') === 'spec.nodeName=node-a') {
        if (url.searchParams.get('watch') !== '1') {
          this.log.push('list');
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: this.listRv }, items: this.items }));
          return;
        }
        this.log.push(`watch rv=${url.searchParams.get('resourceVersion')} bookmarks=${url.searchParams.get('allowWatchBookmarks')}`);
        if (this.nextWatchStatus) {
          const status = this.nextWatchStatus;
          this.nextWatchStatus = undefined;
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ kind: 'Status', code: status, reason: 'Expired', message: 'too old resource version' }));
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
        res.flushHeaders();
        this.watch = res;
        return;
      }
      const o = this.objects.get(url.pathname);
      res.writeHead(o?.status ?? 404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(o?.body ?? { kind: 'Status', code: 404 }));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Waits for the n-th watch request (1-based) to be open. */
  async watching(n: number): Promise<http.ServerResponse> {
    await until(
      () => this.log.filter((l) => l.startsWith('watch')).length >= n && this.watch !== undefined && !this.watch.writableEnded && !this.watch.destroyed,
      `watch #${n}`,
      5000,
    );
    return this.watch!;
  }

  /** One watch event (an object as JSON, or a raw line). */
  send(event: unknown): void {
    this.watch!.write(`${typeof event === 'string' ? event : JSON.stringify(event)}\n`);
  }

  close(): void {
    this.watch?.destroy();
    this.server.closeAllConnections();
    this.server.close();
  }
}
