/**
 * Turns a cgroup path into the name a person would give that workload: the systemd unit, the
 * container or the Kubernetes pod it belongs to. Pure: the path is the only input, so the same
 * cgroup gets the same name on every host and after every restart.
 *
 * Choices made here (docs/config.md repeats them for users):
 * - Containers win over systemd units: a container is the workload even when it runs its own
 *   systemd inside, so `/system.slice/docker-<id>.scope/system.slice/x.service` is the container.
 * - With nesting, the innermost container wins (docker in docker, pods on a kind node), because
 *   that is the workload the processes belong to.
 * - Cgroups below the recognised container or unit fold into it (`.../libpod-<id>.scope/container`
 *   is the podman container). Several cgroups can therefore carry one name.
 * - Without a container, the innermost systemd unit names the group, qualified by each enclosing
 *   service or scope: `/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service` is
 *   `user@1000.service/foo.service`. Unit names are unique only within one systemd manager, and
 *   every user manager (and every nspawn machine) runs one: unqualified, each user's `init.scope`
 *   and `pipewire.service` would merge with each other and with the host's.
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
}

/** How many hex digits of a container id a name shows, as `docker ps` does. */
const SHORT_ID = 12;

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Container cgroups whose segment alone says what they are. The id must be hex so that unit
 * names such as `docker-compose@x.service` or `crio-wipe.service` stay systemd units.
 */
const RUNTIME_SEGMENTS: ReadonlyArray<{ re: RegExp; kind: GroupKind; prefix: string; inPod: string }> = [
  { re: /^docker-([0-9a-f]{12,64})\.scope$/, kind: 'docker', prefix: 'docker', inPod: '' },
  { re: /^libpod-conmon-([0-9a-f]{12,64})\.scope$/, kind: 'podman', prefix: 'podman-conmon', inPod: 'conmon-' },
  // cgroupfs driver: /libpod_parent/libpod-<id>
  { re: /^libpod-([0-9a-f]{12,64})(?:\.scope)?$/, kind: 'podman', prefix: 'podman', inPod: '' },
  { re: /^crio-conmon-([0-9a-f]{12,64})(?:\.scope)?$/, kind: 'crio', prefix: 'crio-conmon', inPod: 'conmon-' },
  { re: /^crio-([0-9a-f]{12,64})(?:\.scope)?$/, kind: 'crio', prefix: 'crio', inPod: '' },
  { re: /^cri-containerd-([0-9a-f]{12,64})\.scope$/, kind: 'containerd', prefix: 'containerd', inPod: '' },
  { re: /^nerdctl-([0-9a-f]{12,64})\.scope$/, kind: 'containerd', prefix: 'containerd', inPod: '' },
];

/** A podman pod's slice (`podman pod create` with the systemd driver). */
const PODMAN_POD = /^machine-libpod_pod_([0-9a-f]{12,64})\.slice$/;

/** `kubepods`, `kubepods.slice`, `kubepods-burstable.slice`, `kubelet-kubepods.slice` (kind). */
const KUBEPODS = /(?:^|-)kubepods(?:[.-]|$)/;

// A pod UID is a UUID, or 32 hex digits for static pods (a hash of the manifest). The systemd
// driver replaces its dashes with underscores because "-" separates a slice from its parent.
const UID = '[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32}';
const POD_SYSTEMD = new RegExp(`^(?:[a-z0-9_]+-)*kubepods(?:-[a-z]+)*-pod(${UID})\\.slice$`);
const POD_CGROUPFS = new RegExp(`^pod(${UID})$`);

const UNIT = /^.+\.(?:service|scope|slice)$/;

/**
 * Names the group a cgroup path belongs to. `path` is relative to the hierarchy's root as the
 * kernel reports it (`/system.slice/nginx.service`), v2 or v1; a trailing slash or doubled
 * slashes are ignored.
 */
export function nameCgroup(path: string): GroupIdentity {
  const segs = path.split('/').filter((s) => s !== '');
  if (segs.length === 0) return { name: '/', kind: 'root' };

  // Walk from the root, remembering the innermost container seen so far. Kubernetes needs two
  // segments (the pod, then the container in it), hence the bit of state.
  let found: GroupIdentity | undefined;
  let inKubepods = false;
  let pod: { uid: string; index: number } | undefined;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    const prev = i > 0 ? segs[i - 1] : '';

    if (pod !== undefined && i === pod.index + 1) {
      const c = podContainer(seg);
      if (c !== undefined) {
        found = {
          name: `pod-${pod.uid}/${c.prefix}${c.id.slice(0, SHORT_ID)}`,
          kind: 'kubernetes',
          container_id: c.id,
          pod_uid: pod.uid,
        };
        pod = undefined;
        inKubepods = false;
        continue;
      }
    }

    const uid = podUid(seg, inKubepods);
    if (uid !== undefined) {
      found = { name: `pod-${uid}`, kind: 'kubernetes', pod_uid: uid };
      pod = { uid, index: i };
      continue;
    }
    if (KUBEPODS.test(seg)) inKubepods = true;

    const c = container(seg, prev, segs, i);
    if (c !== undefined) {
      found = c;
      pod = undefined;
      inKubepods = false;
    }
  }
  if (found !== undefined) return found;

  const units = segs.filter((s) => UNIT.test(s));
  if (units.length === 0) return { name: '/' + segs.join('/'), kind: 'cgroup' };
  const innermost = units[units.length - 1];
  const managers = units.slice(0, -1).filter((u) => !u.endsWith('.slice'));
  return {
    name: [...managers, innermost].join('/'),
    kind: segs[0] === 'user.slice' ? 'user' : 'systemd',
  };
}

/** A container cgroup recognisable outside a pod, given its segment and the path above it. */
function container(seg: string, prev: string, segs: readonly string[], i: number): GroupIdentity | undefined {
  for (const r of RUNTIME_SEGMENTS) {
    const m = r.re.exec(seg);
    if (m !== null) return { name: `${r.prefix}-${m[1].slice(0, SHORT_ID)}`, kind: r.kind, container_id: m[1] };
  }
  const podman = PODMAN_POD.exec(seg);
  if (podman !== null) return { name: `podman-pod-${podman[1].slice(0, SHORT_ID)}`, kind: 'podman' };

  // Bare ids only count where a runtime puts them; elsewhere 64 hex could be anything.
  if (HEX64.test(seg)) {
    if (prev === 'docker') return { name: `docker-${seg.slice(0, SHORT_ID)}`, kind: 'docker', container_id: seg };
    if (segs.slice(0, i).includes('containerd.service')) {
      return { name: `containerd-${seg.slice(0, SHORT_ID)}`, kind: 'containerd', container_id: seg };
    }
  }

  // LXC 4+: /lxc.payload.<name> and /lxc.monitor.<name>; older LXC and LXD: /lxc/<name>.
  const lxc = /^lxc\.(?:payload|monitor)\.(.+)$/.exec(seg);
  const lxcName = lxc !== null ? lxc[1] : ['lxc', 'lxc.payload', 'lxc.monitor'].includes(prev) ? seg : undefined;
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

/** The pod UID a segment names; a bare `pod<uid>` (cgroupfs driver) only below `kubepods`. */
function podUid(seg: string, inKubepods: boolean): string | undefined {
  const m = POD_SYSTEMD.exec(seg) ?? (inKubepods ? POD_CGROUPFS.exec(seg) : null);
  return m === null ? undefined : m[1].replaceAll('_', '-');
}
