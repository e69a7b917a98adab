/**
 * Pod names for pod uids. A group's cgroup path gives the pod uid (src/groups/naming.ts); people
 * know pods by namespace and name, which only Kubernetes knows: this reads a PodList (the API
 * server's, filtered to this node, or the kubelet's /pods) and answers uid -> name, namespace.
 * When the list cannot be read, lookups answer nothing and groups keep just the uid.
 *
 * The index and the join are pure; PodDirectory is the adapter (HTTP, timers), with its fetch
 * passed in so it can be tested without a cluster.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';

/** What a pod uid names. */
export interface PodMeta {
  name: string;
  namespace: string;
}

/** The pod labels of a group: empty strings when its pod is unknown (or it is not a pod). */
export interface PodLabels {
  pod_name: string;
  pod_namespace: string;
}

/** The annotation a mirror pod carries: the static pod's uid as the kubelet (and its cgroup) knows it. */
const MIRROR = 'kubernetes.io/config.mirror';

/**
 * uid -> name and namespace, from a PodList as JSON (kind PodList, items[].metadata). A static
 * pod's cgroup carries the kubelet's uid for it (a hash of its manifest), which the API server
 * shows as the mirror pod's config.mirror annotation: both are indexed. Items without a uid,
 * name or namespace are skipped; anything that is not a list gives an empty index.
 */
export function indexPods(list: unknown): Map<string, PodMeta> {
  const out = new Map<string, PodMeta>();
  const items = (list as { items?: unknown } | null)?.items;
  if (!Array.isArray(items)) return out;
  for (const item of items) {
    const md = (item as { metadata?: Record<string, unknown> } | null)?.metadata;
    if (!md || typeof md.name !== 'string' || typeof md.namespace !== 'string') continue;
    const meta = { name: md.name, namespace: md.namespace };
    if (typeof md.uid === 'string') out.set(md.uid.toLowerCase(), meta);
    const mirror = (md.annotations as Record<string, unknown> | undefined)?.[MIRROR];
    if (typeof mirror === 'string') out.set(mirror.toLowerCase(), meta);
  }
  return out;
}

/** The join: a group's pod uid to its labels. */
export function podLabels(uid: string | undefined, lookup: (uid: string) => PodMeta | undefined): PodLabels {
  const pod = uid ? lookup(uid.toLowerCase()) : undefined;
  return { pod_name: pod?.name ?? '', pod_namespace: pod?.namespace ?? '' };
}

/** Reads the list; rejects with a one-line reason. */
export type PodListFetch = () => Promise<unknown>;

export interface PodDirectoryOptions {
  fetch: PodListFetch;
  /** Seconds between reads; also the least time between two reads asked for by unknown uids. */
  refreshS: number;
  now?: () => number;
  /** Told when reading starts failing and when it works again (not on every failure). */
  onState?: (ok: boolean, detail: string) => void;
}

/** The node's pods, read now and then; lookups never wait for the network. */
export class PodDirectory {
  private index = new Map<string, PodMeta>();
  private lastRead = -Infinity;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private healthy: boolean | undefined;
  private readonly now: () => number;

  constructor(private readonly o: PodDirectoryOptions) {
    this.now = o.now ?? (() => Date.now());
  }

  /** Reads the list now and every refreshS after. */
  start(): Promise<void> {
    this.timer = setInterval(() => void this.refresh(), this.o.refreshS * 1000);
    this.timer.unref();
    return this.refresh();
  }

  close(): void {
    clearInterval(this.timer);
  }

  get size(): number {
    return this.index.size;
  }

  /** The pod of `uid`, if the last list had it. An unknown uid asks for a new list (at most once per refreshS). */
  lookup(uid: string): PodMeta | undefined {
    const pod = this.index.get(uid);
    if (!pod && this.now() - this.lastRead >= this.o.refreshS * 1000) void this.refresh();
    return pod;
  }

  /** One read; concurrent callers share it. A failed read keeps the last good list. */
  refresh(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    this.lastRead = this.now();
    this.inFlight = this.o
      .fetch()
      .then(
        (list) => {
          this.index = indexPods(list);
          this.report(true, `${this.index.size} pods`);
        },
        (err: unknown) => this.report(false, (err as Error).message),
      )
      .finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private report(ok: boolean, detail: string): void {
    if (this.healthy !== ok) this.o.onState?.(ok, detail);
    this.healthy = ok;
  }
}

export interface HttpPodListOptions {
  /** `{node}` is replaced by `node`. */
  url: string;
  node: string;
  tokenFile?: string;
  caFile?: string;
  timeoutMs?: number;
}

/** A PodListFetch over HTTP(S), with the bearer token read again each time (service account tokens rotate). */
export function httpPodList(o: HttpPodListOptions): PodListFetch {
  const url = new URL(o.url.replaceAll('{node}', encodeURIComponent(o.node)));
  const ca = o.caFile ? fs.readFileSync(o.caFile) : undefined;
  return () =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = { Accept: 'application/json' };
      if (o.tokenFile) {
        try {
          headers.Authorization = `Bearer ${fs.readFileSync(o.tokenFile, 'utf8').trim()}`;
        } catch (err) {
          reject(new Error(`cannot read kubernetes.token_file ${o.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`));
          return;
        }
      }
      const get = url.protocol === 'https:' ? https.get : http.get;
      const req = get(url, { headers, ca, timeout: o.timeoutMs ?? 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`GET ${url.origin}${url.pathname}: HTTP ${res.statusCode} ${body.slice(0, 200).trim()}`));
          try {
            resolve(JSON.parse(body));
          } catch {
            reject(new Error(`GET ${url.origin}${url.pathname}: the answer is not JSON`));
          }
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${(o.timeoutMs ?? 5000) / 1000}s`)));
      req.on('error', (err: NodeJS.ErrnoException) => reject(new Error(`GET ${url.origin}${url.pathname}: ${err.code ?? err.message}`)));
    });
}
