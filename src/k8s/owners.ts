/**
 * The workload that owns a pod. A pod's controller is often not the workload a person deployed: a
 * Deployment's pods are owned by one of its ReplicaSets, a CronJob's by one of its Jobs. Those
 * owners' own controllers come from the ReplicaSet or Job object, read once per object with a GET
 * (by name, checked by uid) and kept.
 *
 * Why GET, not list + watch of ReplicaSets and Jobs: both are cluster-wide (no field selector
 * narrows them to a node), so every agent would hold and follow every ReplicaSet of the cluster
 * for the few its node runs, and the API server would fan each change out to every node. A
 * ReplicaSet's or Job's controller does not change in its life (the controller that made it owns
 * it), so one read per object is enough. While the read is pending or when it fails (RBAC, a
 * network error), a ReplicaSet named `<deployment>-<pod-template-hash>` whose pods carry that hash
 * is taken for a Deployment's (the convention the Deployment controller follows), and a Job
 * stays a Job.
 */
import { controllerOf, type OwnerRef, type PodMeta, type Workload } from './pods.js';

/**
 * The workload of a pod, from its controller and that controller's own (`parent`: undefined while
 * unknown, null when it has none). A bare pod has no workload.
 */
export function workloadOf(pod: PodMeta, parent: (pod: PodMeta, owner: OwnerRef) => OwnerRef | null | undefined): Workload | undefined {
  const owner = pod.owner;
  if (!owner) return undefined;
  if (owner.kind !== 'ReplicaSet' && owner.kind !== 'Job') return { kind: owner.kind, name: owner.name };
  const p = parent(pod, owner);
  if (p) return { kind: p.kind, name: p.name };
  if (p === undefined && owner.kind === 'ReplicaSet' && pod.templateHash && owner.name.endsWith(`-${pod.templateHash}`)) {
    return { kind: 'Deployment', name: owner.name.slice(0, -pod.templateHash.length - 1) };
  }
  return { kind: owner.kind, name: owner.name };
}

/** The API path of a ReplicaSet or Job object. */
export function ownerPath(namespace: string, owner: OwnerRef): string | undefined {
  const ns = encodeURIComponent(namespace);
  const name = encodeURIComponent(owner.name);
  if (owner.kind === 'ReplicaSet') return `/apis/apps/v1/namespaces/${ns}/replicasets/${name}`;
  if (owner.kind === 'Job') return `/apis/batch/v1/namespaces/${ns}/jobs/${name}`;
  return undefined;
}

export interface OwnerCacheOptions {
  /** GET of an API path as JSON; rejects with a one-line reason. */
  get: (path: string) => Promise<unknown>;
  /** An owner's controller became known (labels may change). */
  onResolved?: () => void;
  /** Told when reading owners starts failing and when it works again. */
  onState?: (ok: boolean, detail: string) => void;
  /** A failed read is tried again after this long (ms). */
  retryMs?: number;
  /** Objects kept at most (the oldest read goes first). */
  maxEntries?: number;
  now?: () => number;
}

/** ReplicaSets' and Jobs' controllers by uid, read once each; lookups never wait for the network. */
export class OwnerCache {
  /** uid -> its controller (null: none), or the time a read failed. */
  private readonly known = new Map<string, OwnerRef | null | { failedAt: number }>();
  private readonly inFlight = new Set<string>();
  private healthy: boolean | undefined;
  private readonly now: () => number;

  constructor(private readonly o: OwnerCacheOptions) {
    this.now = o.now ?? (() => Date.now());
  }

  /** The workload of a pod (reading its owner's object if not yet known). */
  workload(pod: PodMeta): Workload | undefined {
    return workloadOf(pod, (p, owner) => this.parent(p.namespace, owner));
  }

  private parent(namespace: string, owner: OwnerRef): OwnerRef | null | undefined {
    const k = this.known.get(owner.uid);
    if (k === null || (k && !('failedAt' in k))) return k;
    if (k && this.now() - k.failedAt < (this.o.retryMs ?? 60_000)) return undefined;
    this.read(namespace, owner);
    return undefined;
  }

  private read(namespace: string, owner: OwnerRef): void {
    const path = ownerPath(namespace, owner);
    if (!path || this.inFlight.has(owner.uid)) return;
    this.inFlight.add(owner.uid);
    this.o
      .get(path)
      .then(
        (obj) => {
          const md = (obj as { metadata?: Record<string, unknown> } | null)?.metadata;
          // Another object of that name (the owner was deleted and made again): not this pod's owner.
          if (typeof md?.uid !== 'string' || md.uid.toLowerCase() !== owner.uid) throw new Error(`${path}: not the object of uid ${owner.uid}`);
          this.set(owner.uid, controllerOf(md) ?? null);
          this.report(true, path);
          this.o.onResolved?.();
        },
        (err: unknown) => {
          this.set(owner.uid, { failedAt: this.now() });
          this.report(false, (err as Error).message);
        },
      )
      .catch((err: unknown) => {
        this.set(owner.uid, { failedAt: this.now() });
        this.report(false, (err as Error).message);
      })
      .finally(() => this.inFlight.delete(owner.uid));
  }

  private set(uid: string, v: OwnerRef | null | { failedAt: number }): void {
    this.known.delete(uid);
    this.known.set(uid, v);
    const max = this.o.maxEntries ?? 4096;
    for (const k of this.known.keys()) {
      if (this.known.size <= max) break;
      this.known.delete(k);
    }
  }

  private report(ok: boolean, detail: string): void {
    if (this.healthy !== ok) this.o.onState?.(ok, detail);
    this.healthy = ok;
  }
}
