/**
 * What Kubernetes says about the pods of this node. A group's cgroup path gives the pod uid and the
 * container id (src/groups/naming.ts); people know them by namespace, pod, container, image and
 * the workload that owns the pod, which only the pod list knows (metadata, ownerReferences,
 * containerStatuses). This parses pod objects as the API server or the kubelet serves them, keeps
 * them by uid, and joins a group to its labels. Pure: src/k8s/watch.ts and poll.ts feed it.
 *
 * The API's JSON is input like any other: a name that is not a DNS name, an image with control
 * characters or a field of the wrong type is left out (the group keeps its uid name), never
 * passed on into a group name or a label.
 */
import type { KubeNames } from '../groups/naming.js';

/** A container of a pod, by the id its cgroup carries. */
export interface ContainerMeta {
  name: string;
  /** The image the runtime runs ('' when the status and the spec name none that is valid). */
  image: string;
}

/** An ownerReference (the controller's): what made this object. */
export interface OwnerRef {
  kind: string;
  name: string;
  uid: string;
}

/** What a pod uid names. */
export interface PodMeta {
  uid: string;
  name: string;
  namespace: string;
  /** Container id (64 hex, lowercase, without the `containerd://` scheme) -> the container. */
  containers: Map<string, ContainerMeta>;
  /** The controller among the pod's ownerReferences; absent: a bare pod. */
  owner?: OwnerRef;
  /** The `pod-template-hash` label a Deployment's ReplicaSet puts on its pods. */
  templateHash?: string;
}

/** The owning workload: Deployment, StatefulSet, DaemonSet, Job, CronJob, ... (src/k8s/owners.ts). */
export interface Workload {
  kind: string;
  name: string;
}

/** The pod labels of a group: empty strings when unknown (or it is not a pod). */
export interface PodLabels {
  pod_name: string;
  pod_namespace: string;
  container: string;
  image: string;
  workload_kind: string;
  workload_name: string;
}

/** The annotation a mirror pod carries: the static pod's uid as the kubelet (and its cgroup) knows it. */
const MIRROR = 'kubernetes.io/config.mirror';
/** A DNS subdomain (RFC 1123): pod, namespace and owner names. */
const SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$/;
/** A DNS label: container names. */
const LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
/** An object kind: `ReplicaSet`. */
const KIND = /^[A-Z][A-Za-z0-9]{0,62}$/;
/** A uid: a UUID, or 32 hex for a static pod's (the kubelet's hash of its manifest). */
const UID = /^[0-9a-fA-F-]{32,36}$/;
/** An image reference: `registry:5000/path/name:tag@sha256:<hex>`; nothing that needs escaping. */
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,511}$/;
/** `containerd://<64 hex>`, `cri-o://…`, `docker://…`. */
const CONTAINER_ID = /^[a-z0-9-]{1,32}:\/\/([0-9a-f]{64})$/;
/** More containers than a pod can have (init, ephemeral and app containers together) are ignored. */
const MAX_CONTAINERS = 256;

const str = (v: unknown, re: RegExp): string | undefined => (typeof v === 'string' && re.test(v) ? v : undefined);
const record = (v: unknown): Record<string, unknown> | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The controller ownerReference of an object's metadata (the one with controller: true); undefined: none that is valid. */
export function controllerOf(metadata: Record<string, unknown> | undefined): OwnerRef | undefined {
  for (const r of list(metadata?.ownerReferences)) {
    const o = record(r);
    if (o?.controller !== true) continue;
    const kind = str(o.kind, KIND);
    const name = str(o.name, SUBDOMAIN);
    const uid = str(o.uid, UID);
    return kind && name && uid ? { kind, name, uid: uid.toLowerCase() } : undefined;
  }
  return undefined;
}

/**
 * A pod object (an item of a PodList, or a watch event's object) as PodMeta; undefined when it has
 * no valid uid, name or namespace. Containers come from containerStatuses (app, init, ephemeral):
 * the status's image, or the spec's image of the container of that name.
 */
export function parsePod(item: unknown): PodMeta | undefined {
  const o = record(item);
  const md = record(o?.metadata);
  const uid = str(md?.uid, UID);
  const name = str(md?.name, SUBDOMAIN);
  const namespace = str(md?.namespace, SUBDOMAIN);
  if (!md || !uid || !name || !namespace) return undefined;
  const spec = record(o?.spec);
  const specImages = new Map<string, string>();
  for (const key of ['containers', 'initContainers', 'ephemeralContainers']) {
    for (const c of list(spec?.[key]).slice(0, MAX_CONTAINERS)) {
      const n = str(record(c)?.name, LABEL);
      const image = str(record(c)?.image, IMAGE);
      if (n && image) specImages.set(n, image);
    }
  }
  const status = record(o?.status);
  const containers = new Map<string, ContainerMeta>();
  for (const key of ['containerStatuses', 'initContainerStatuses', 'ephemeralContainerStatuses']) {
    for (const c of list(status?.[key]).slice(0, MAX_CONTAINERS)) {
      const s = record(c);
      const cname = str(s?.name, LABEL);
      const id = typeof s?.containerID === 'string' ? CONTAINER_ID.exec(s.containerID)?.[1] : undefined;
      if (!cname || !id || containers.size >= MAX_CONTAINERS) continue;
      containers.set(id, { name: cname, image: str(s?.image, IMAGE) ?? specImages.get(cname) ?? '' });
    }
  }
  const pod: PodMeta = { uid: uid.toLowerCase(), name, namespace, containers };
  const owner = controllerOf(md);
  if (owner) pod.owner = owner;
  const hash = str(record(md.labels)?.['pod-template-hash'], LABEL);
  if (hash) pod.templateHash = hash;
  return pod;
}

/** The uid a static pod's cgroup carries: its mirror pod's config.mirror annotation. */
function mirrorUid(item: unknown): string | undefined {
  const annotations = record(record(record(item)?.metadata)?.annotations);
  return str(annotations?.[MIRROR], UID)?.toLowerCase();
}

/**
 * The pods by uid; a static pod also by the kubelet's uid its mirror pod names. Changes report
 * whether naming could change (a pod came or went, or its containers changed), so that groups are
 * named again only then.
 */
export class PodIndex {
  private readonly byUid = new Map<string, PodMeta>();
  /** Pod uid -> the other keys it is indexed under (the mirror uid). */
  private readonly aliases = new Map<string, string>();

  get size(): number {
    return this.byUid.size - this.aliases.size;
  }

  get(uid: string): PodMeta | undefined {
    return this.byUid.get(uid.toLowerCase());
  }

  /** A pod was added or changed; true when its naming changed. */
  upsert(item: unknown): boolean {
    const pod = parsePod(item);
    if (!pod) return false;
    const before = this.byUid.get(pod.uid);
    this.byUid.set(pod.uid, pod);
    const mirror = mirrorUid(item);
    if (mirror && mirror !== pod.uid) {
      this.byUid.set(mirror, pod);
      this.aliases.set(pod.uid, mirror);
    }
    return before === undefined || !sameContainers(before, pod);
  }

  /** A pod was deleted; true when it was known. */
  remove(item: unknown): boolean {
    const uid = str(record(record(item)?.metadata)?.uid, UID)?.toLowerCase();
    if (!uid || !this.byUid.delete(uid)) return false;
    const alias = this.aliases.get(uid);
    if (alias) this.byUid.delete(alias);
    this.aliases.delete(uid);
    return true;
  }

  /** A whole list (kind PodList, items[]): replaces what was known. Anything but a list keeps it and returns false. */
  replace(podList: unknown): boolean {
    const items = record(podList)?.items;
    if (!Array.isArray(items)) return false;
    this.byUid.clear();
    this.aliases.clear();
    for (const item of items) this.upsert(item);
    return true;
  }
}

function sameContainers(a: PodMeta, b: PodMeta): boolean {
  if (a.name !== b.name || a.namespace !== b.namespace || a.containers.size !== b.containers.size) return false;
  for (const [id, c] of a.containers) if (b.containers.get(id)?.name !== c.name) return false;
  return true;
}

/** What the agent asks of the pod list: a pod by uid, and the workload that owns a pod. */
export interface PodLookup {
  pod(uid: string): PodMeta | undefined;
  workload(pod: PodMeta): Workload | undefined;
}

/** Group naming's view (src/groups/naming.ts kubernetesName): the pod's names, and the container's when listed. */
export function kubeNames(lookup: PodLookup, podUid: string, containerId: string | undefined): KubeNames | undefined {
  const pod = lookup.pod(podUid);
  if (!pod) return undefined;
  const container = containerId === undefined ? undefined : pod.containers.get(containerId)?.name;
  return container === undefined ? { namespace: pod.namespace, pod: pod.name } : { namespace: pod.namespace, pod: pod.name, container };
}

/** The join: a group's pod uid and container id to its labels. */
export function podLabels(lookup: PodLookup | undefined, podUid: string | undefined, containerId: string | undefined): PodLabels {
  const pod = podUid ? lookup?.pod(podUid) : undefined;
  const c = pod && containerId ? pod.containers.get(containerId) : undefined;
  const w = pod && lookup?.workload(pod);
  return {
    pod_name: pod?.name ?? '',
    pod_namespace: pod?.namespace ?? '',
    container: c?.name ?? '',
    image: c?.image ?? '',
    workload_kind: w?.kind ?? '',
    workload_name: w?.name ?? '',
  };
}
