/**
 * Turns a cgroup path into the name a person would give that workload: the systemd unit, the
 * container or the Kubernetes pod it belongs to. Pure: the path is the only input, so the same
 * cgroup gets the same name on every host and after every restart.
 *
 * Choices made here (docs/config.md repeats them for users):
 * - Containers win over systemd units: a container is the workload even when it runs its own
 *   systemd inside, so `/system.slice/docker-<id>.scope/system.slice/x.service` is the container.
 * - A runtime's name counts only where that runtime puts its cgroups, because anyone who owns a
 *   cgroup can name its children anything. The systemd drivers' `docker-<id>.scope`,
 *   `libpod-<id>.scope`, `crio-<id>.scope`, `cri-containerd-<id>.scope`, pod slices… only in a
 *   chain of slices (systemd never delegates a slice: only services and scopes are handed to
 *   their users); the cgroupfs drivers' `/docker/<id>`, `/libpod_parent/…`, `/lxc.payload.<name>`
 *   only at the top, and `kubepods/…` at the top or below the kubelet's --cgroup-root (plain
 *   directories, in no service or scope). Elsewhere (below a service or a scope, below a plain
 *   directory) such a name is just a cgroup of the unit it is in: `/system.slice/bob.service/
 *   docker-<id>.scope` is `bob.service/docker-<id>.scope`, never Docker's container <id>.
 * - "The top" and "a chain of slices" are counted from the root of the hierarchy, of a user
 *   manager (`user@N.service`, reached through slices) or of a recognised container. What is
 *   found inside a user manager or a container is that one's, and its name says so:
 *   `user@1000.service/podman-<12>` (rootless podman), `docker-<outer>/docker-<inner>` (Docker in
 *   Docker), `docker-<node>/pod-<uid>/<12>` (a pod on a kind node). A container's ids are unique
 *   only within its runtime, so a tenant who names a nested cgroup after a host container gets a
 *   name of its own, never the host container's.
 * - With nesting, the innermost container names the group: that is the workload the processes
 *   belong to.
 * - Cgroups below the recognised container or unit fold into it (`.../libpod-<id>.scope/container`
 *   is the podman container): `anchor` is the cgroup the name was taken from.
 * - Without a container, the innermost systemd unit names the group, qualified by each enclosing
 *   service or scope: `/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service` is
 *   `user@1000.service/foo.service`. Unit names are unique only within one systemd manager, and
 *   every user manager (and every nspawn machine) runs one: unqualified, each user's `init.scope`
 *   and `pipewire.service` would merge with each other and with the host's.
 *
 * Two cgroups can still end up with one name (ids sharing their first 12 digits, a unit name
 * under two slices): the registry keeps them apart by anchor (src/groups/registry.ts).
 */

/** Which runtime or manager created the cgroup a group is named after. */
export type GroupKind =
  | 'systemd'
  | 'docker'
  | 'podman'
  | 'kubernetes'
  | 'containerd'
  | 'crio'
  | 'lxc'
  | 'user'
  | 'root'
  | 'cgroup'
  /** A group defined by a rule in the config (not derived from a cgroup path). */
  | 'config';

/** A group's stable identity, as derived from its cgroup path by {@link nameCgroup}. */
export interface GroupIdentity {
  name: string;
  kind: GroupKind;
  /** Full container id (64 hex for OCI runtimes; the container name for LXC). */
  container_id?: string;
  /** Kubernetes pod UID, with dashes (the systemd driver writes it with underscores). */
  pod_uid?: string;
  /**
   * For a pod's groups: the qualifier of the manager or container the pod was found in ('' on the
   * host, `docker-<12>/` on a kind node) and the container's role in the pod ('' or `conmon-`),
   * so that {@link kubernetesName} can name it again the way Kubernetes does.
   */
  pod_scope?: string;
  pod_role?: string;
  /**
   * The cgroup the name was taken from (the container's, the unit's, or the cgroup itself);
   * cgroups below it fold into it. Absent for groups defined by the config.
   */
  anchor?: string;
}

/** How many hex digits of a container id a name shows, as `docker ps` does. */
const SHORT_ID = 12;

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Container cgroups whose segment says what they are. The id must be hex so that unit names such
 * as `docker-compose@x.service` or `crio-wipe.service` stay systemd units. Outside a pod only the
 * `.scope` forms (systemd drivers) count; in a pod, CRI-O's cgroupfs forms too.
 */
const RUNTIME_SEGMENTS: ReadonlyArray<{ re: RegExp; kind: GroupKind; prefix: string; inPod: string }> = [
  { re: /^docker-([0-9a-f]{12,64})\.scope$/, kind: 'docker', prefix: 'docker', inPod: '' },
  { re: /^libpod-conmon-([0-9a-f]{12,64})\.scope$/, kind: 'podman', prefix: 'podman-conmon', inPod: 'conmon-' },
  { re: /^libpod-([0-9a-f]{12,64})\.scope$/, kind: 'podman', prefix: 'podman', inPod: '' },
  { re: /^crio-conmon-([0-9a-f]{12,64})(?:\.scope)?$/, kind: 'crio', prefix: 'crio-conmon', inPod: 'conmon-' },
  { re: /^crio-([0-9a-f]{12,64})(?:\.scope)?$/, kind: 'crio', prefix: 'crio', inPod: '' },
  { re: /^cri-containerd-([0-9a-f]{12,64})\.scope$/, kind: 'containerd', prefix: 'containerd', inPod: '' },
  { re: /^nerdctl-([0-9a-f]{12,64})\.scope$/, kind: 'containerd', prefix: 'containerd', inPod: '' },
];

/** A podman pod's slice (`podman pod create` with the systemd driver; `user-` when rootless). */
const PODMAN_POD = /^(?:machine|user)-libpod_pod_([0-9a-f]{12,64})\.slice$/;

/** podman's cgroupfs driver: /libpod_parent/libpod-<id>, or /libpod_parent/<pod>/libpod-<id>. */
const LIBPOD_CGROUPFS = /^libpod-([0-9a-f]{12,64})$/;

// A pod UID is a UUID, or 32 hex digits for static pods (a hash of the manifest). The systemd
// driver replaces its dashes with underscores because "-" separates a slice from its parent.
const UID = '[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32}';
/** `kubepods-burstable-pod<uid>.slice`, `kubelet-kubepods-pod<uid>.slice` (kind). */
const POD_SYSTEMD = new RegExp(`^(?:[a-z0-9_]+-)*kubepods(?:-[a-z]+)*-pod(${UID})\\.slice$`);
/** The cgroupfs driver: [<cgroup root>/]kubepods/[<qos>/]pod<uid>. */
const POD_CGROUPFS = new RegExp(`^pod(${UID})$`);
const QOS = ['besteffort', 'burstable'];

/** LXC 4+ and LXD: /lxc.payload.<name>, /lxc.monitor.<name>; older LXC: /lxc/<name>. */
const LXC = /^lxc\.(?:payload|monitor)\.(.+)$/;
const LXC_PARENTS = ['lxc', 'lxc.payload', 'lxc.monitor'];

const USER_MANAGER = /^user@\d+\.service$/;
const UNIT = /^.+\.(?:service|scope|slice)$/;

const short = (id: string) => id.slice(0, SHORT_ID);

/** Where the walk is: the root of the current manager or container, and what names there carry. */
interface Context {
  /** Index of the context's first segment. */
  start: number;
  /** Qualifier of names found in it: '' on the host, `user@1000.service/`, `docker-<12>/`. */
  prefix: string;
  /** Index of the first segment in it that is not a slice (past the end while all are). */
  chainEnd: number;
  /** Index of the first service or scope in it, which may be delegated (past the end while none). */
  unitAt: number;
}

/**
 * Names the group a cgroup path belongs to. `path` is relative to the hierarchy's root as the
 * kernel reports it (`/system.slice/nginx.service`), v2 or v1; a trailing slash or doubled
 * slashes are ignored.
 */
export function nameCgroup(path: string): GroupIdentity {
  const segs = path.split('/').filter((s) => s !== '');
  if (segs.length === 0) return { name: '/', kind: 'root', anchor: '/' };
  const upTo = (i: number) => '/' + segs.slice(0, i + 1).join('/');

  // Walk from the root, remembering the innermost container seen so far. Kubernetes needs two
  // segments (the pod, then the container in it), hence `pod`.
  let ctx: Context = { start: 0, prefix: '', chainEnd: Infinity, unitAt: Infinity };
  let found: GroupIdentity | undefined;
  let pod: { uid: string; index: number } | undefined;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    const inChain = ctx.chainEnd >= i;

    if (pod !== undefined && i === pod.index + 1) {
      const c = podContainer(seg);
      if (c !== undefined) {
        found = {
          name: `${ctx.prefix}pod-${pod.uid}/${c.prefix}${short(c.id)}`,
          kind: 'kubernetes',
          container_id: c.id,
          pod_uid: pod.uid,
          pod_scope: ctx.prefix,
          pod_role: c.prefix,
          anchor: upTo(i),
        };
        ctx = { start: i + 1, prefix: `${found.name}/`, chainEnd: Infinity, unitAt: Infinity };
        pod = undefined;
        continue;
      }
    }

    const uid = podUid(segs, i, ctx, inChain);
    if (uid !== undefined) {
      found = { name: `${ctx.prefix}pod-${uid}`, kind: 'kubernetes', pod_uid: uid, pod_scope: ctx.prefix, anchor: upTo(i) };
      pod = { uid, index: i };
    } else {
      const c = container(segs, i, ctx, inChain);
      if (c !== undefined) {
        found = { ...c, name: ctx.prefix + c.name, anchor: upTo(i) };
        // A podman pod is a slice of containers, not a runtime of its own: its containers stay the host's.
        if (!seg.endsWith('.slice')) {
          ctx = { start: i + 1, prefix: `${found.name}/`, chainEnd: Infinity, unitAt: Infinity };
          continue;
        }
      } else if (inChain && USER_MANAGER.test(seg)) {
        ctx = { start: i + 1, prefix: `${ctx.prefix}${seg}/`, chainEnd: Infinity, unitAt: Infinity };
        continue;
      }
    }
    if (inChain && !seg.endsWith('.slice')) ctx.chainEnd = i;
    if (ctx.unitAt === Infinity && (seg.endsWith('.service') || seg.endsWith('.scope'))) ctx.unitAt = i;
  }
  if (found !== undefined) return found;

  let innermost = -1;
  for (let i = segs.length - 1; i >= 0 && innermost < 0; i--) if (UNIT.test(segs[i])) innermost = i;
  if (innermost < 0) return { name: '/' + segs.join('/'), kind: 'cgroup', anchor: upTo(segs.length - 1) };
  const managers = segs.slice(0, innermost).filter((u) => UNIT.test(u) && !u.endsWith('.slice'));
  return {
    name: [...managers, segs[innermost]].join('/'),
    kind: segs[0] === 'user.slice' ? 'user' : 'systemd',
    anchor: upTo(innermost),
  };
}

/**
 * What Kubernetes calls a pod and one of its containers (the pod list's metadata and
 * containerStatuses, src/k8s); `container` is absent when the pod's list entry does not name this
 * container id (the sandbox, or a container whose status is not reported yet).
 */
export interface KubeNames {
  namespace: string;
  pod: string;
  container?: string;
}

/**
 * The name of a pod's group once Kubernetes names it: `<namespace>/<pod>/<container>` for a
 * container (`conmon-<container>` for CRI-O's monitor of it), `<namespace>/<pod>` for the pod's own
 * cgroup, qualified as the uid name was. Undefined when the group is not a pod's or Kubernetes
 * does not name its container. The names are the API's DNS names (src/k8s checks them), so the
 * result cannot be taken for a cgroup path (those start with "/").
 */
export function kubernetesName(id: GroupIdentity, k: KubeNames): string | undefined {
  if (id.kind !== 'kubernetes' || id.pod_uid === undefined) return undefined;
  const pod = `${id.pod_scope ?? ''}${k.namespace}/${k.pod}`;
  if (id.container_id === undefined) return pod;
  return k.container === undefined ? undefined : `${pod}/${id.pod_role ?? ''}${k.container}`;
}

/** A container cgroup at segment i, if its runtime puts containers there (the name unqualified). */
function container(segs: readonly string[], i: number, ctx: Context, inChain: boolean): GroupIdentity | undefined {
  const seg = segs[i];
  const depth = i - ctx.start;
  const top = segs[ctx.start];
  if (inChain) {
    if (seg.endsWith('.scope')) {
      for (const r of RUNTIME_SEGMENTS) {
        const m = r.re.exec(seg);
        if (m !== null) return { name: `${r.prefix}-${short(m[1])}`, kind: r.kind, container_id: m[1] };
      }
    }
    const podman = PODMAN_POD.exec(seg);
    if (podman !== null) return { name: `podman-pod-${short(podman[1])}`, kind: 'podman' };
  }

  // Bare ids only count where a runtime puts them; elsewhere 64 hex could be anything.
  if (HEX64.test(seg)) {
    if (depth === 1 && top === 'docker') return { name: `docker-${short(seg)}`, kind: 'docker', container_id: seg };
    // containerd.service (reached through slices) / <namespace> / <id>
    if (depth >= 2 && segs[i - 2] === 'containerd.service' && ctx.chainEnd === i - 2) {
      return { name: `containerd-${short(seg)}`, kind: 'containerd', container_id: seg };
    }
  }
  const libpod = LIBPOD_CGROUPFS.exec(seg);
  if (libpod !== null && top === 'libpod_parent' && (depth === 1 || depth === 2)) {
    return { name: `podman-${short(libpod[1])}`, kind: 'podman', container_id: libpod[1] };
  }

  const lxc = depth === 0 ? LXC.exec(seg) : null;
  const lxcName = lxc !== null ? lxc[1] : depth === 1 && LXC_PARENTS.includes(top) ? seg : undefined;
  if (lxcName !== undefined) return { name: `lxc-${lxcName}`, kind: 'lxc', container_id: lxcName };
  return undefined;
}

/** The container directly inside a pod's cgroup: `cri-containerd-<id>.scope`, `<id>`, ... */
function podContainer(seg: string): { id: string; prefix: string } | undefined {
  if (HEX64.test(seg)) return { id: seg, prefix: '' };
  for (const r of RUNTIME_SEGMENTS) {
    const m = r.re.exec(seg);
    if (m !== null) return { id: m[1], prefix: r.inPod };
  }
  return undefined;
}

/**
 * The pod UID segment i names: a pod slice in a chain of slices, or `kubepods/[qos/]pod<uid>`
 * (cgroupfs driver) with `kubepods` at the top or below the kubelet's --cgroup-root, plain
 * directories that are in no service or scope.
 */
function podUid(segs: readonly string[], i: number, ctx: Context, inChain: boolean): string | undefined {
  const kubepods = segs[i - 1] === 'kubepods' ? i - 1 : QOS.includes(segs[i - 1]) && segs[i - 2] === 'kubepods' ? i - 2 : -1;
  const cgroupfs = kubepods >= ctx.start && ctx.unitAt > kubepods;
  const m = (inChain ? POD_SYSTEMD.exec(segs[i]) : null) ?? (cgroupfs ? POD_CGROUPFS.exec(segs[i]) : null);
  return m === null ? undefined : m[1].replaceAll('_', '-');
}
