import { describe, expect, it } from 'vitest';
import { kubernetesName, nameCgroup, type GroupIdentity } from '../../src/groups/naming.js';

// Real-looking ids: 64 hex for OCI containers, UUIDs for pods.
const ID = '3f4e1b2c9d8a7f6e5d4c3b2a1908f7e6d5c4b3a291807f6e5d4c3b2a19087f6e';
const ID2 = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const UID = '8a3c6e2f-1b4d-4f7a-9c2e-5d6b8a0f1e3c';
const UID_ = UID.replaceAll('-', '_');
const STATIC_UID = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';

const cases: Array<[string, string, GroupIdentity]> = [
  // root and plain cgroups
  ['root', '/', { name: '/', kind: 'root' }],
  ['empty path is the root', '', { name: '/', kind: 'root' }],
  ['unknown cgroup keeps its path', '/foo/bar', { name: '/foo/bar', kind: 'cgroup' }],
  ['unknown cgroup, trailing slash and doubled slash', '/foo//bar/', { name: '/foo/bar', kind: 'cgroup' }],
  ['bare 64 hex outside a runtime is just a cgroup', `/batch/${ID}`, { name: `/batch/${ID}`, kind: 'cgroup' }],

  // systemd
  ['system service', '/system.slice/nginx.service', { name: 'nginx.service', kind: 'systemd' }],
  ['trailing slash', '/system.slice/nginx.service/', { name: 'nginx.service', kind: 'systemd' }],
  ['slice alone', '/system.slice', { name: 'system.slice', kind: 'systemd' }],
  ['init scope', '/init.scope', { name: 'init.scope', kind: 'systemd' }],
  ['template instance', '/system.slice/system-getty.slice/getty@tty1.service', { name: 'getty@tty1.service', kind: 'systemd' }],
  ['docker daemon is a unit, not a container', '/system.slice/docker.service', { name: 'docker.service', kind: 'systemd' }],
  ['unit names that start like runtimes', '/system.slice/crio-wipe.service', { name: 'crio-wipe.service', kind: 'systemd' }],
  [
    'sub-cgroup of a unit folds into it',
    '/system.slice/nginx.service/workers',
    { name: 'nginx.service', kind: 'systemd', anchor: '/system.slice/nginx.service' },
  ],
  ['kubepods slice without a pod', '/kubepods.slice/kubepods-burstable.slice', { name: 'kubepods-burstable.slice', kind: 'systemd' }],
  [
    'nspawn machine: units qualified by the machine',
    '/machine.slice/systemd-nspawn@web.service/payload/system.slice/nginx.service',
    { name: 'systemd-nspawn@web.service/nginx.service', kind: 'systemd' },
  ],

  // user sessions and user managers
  ['user slice', '/user.slice', { name: 'user.slice', kind: 'user' }],
  ['user-N slice', '/user.slice/user-1000.slice', { name: 'user-1000.slice', kind: 'user' }],
  ['session scope', '/user.slice/user-1000.slice/session-3.scope', { name: 'session-3.scope', kind: 'user' }],
  ['user manager', '/user.slice/user-1000.slice/user@1000.service', { name: 'user@1000.service', kind: 'user' }],
  [
    'unit under a user manager is qualified by it',
    '/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service',
    { name: 'user@1000.service/foo.service', kind: 'user' },
  ],
  [
    "user manager's init.scope does not merge with PID 1's",
    '/user.slice/user-1000.slice/user@1000.service/init.scope',
    { name: 'user@1000.service/init.scope', kind: 'user' },
  ],
  ['slice under a user manager', '/user.slice/user-1000.slice/user@1000.service/app.slice', { name: 'user@1000.service/app.slice', kind: 'user' }],

  // Docker
  ['docker, systemd driver', `/system.slice/docker-${ID}.scope`, { name: `docker-${ID.slice(0, 12)}`, kind: 'docker', container_id: ID }],
  ['docker, cgroupfs driver', `/docker/${ID}`, { name: `docker-${ID.slice(0, 12)}`, kind: 'docker', container_id: ID }],
  ['docker, trailing slash', `/docker/${ID}/`, { name: `docker-${ID.slice(0, 12)}`, kind: 'docker', container_id: ID }],
  [
    'systemd inside a docker container folds into the container',
    `/system.slice/docker-${ID}.scope/system.slice/nginx.service`,
    { name: `docker-${ID.slice(0, 12)}`, kind: 'docker', container_id: ID, anchor: `/system.slice/docker-${ID}.scope` },
  ],
  [
    'docker in docker: the innermost container, qualified by the outer one',
    `/docker/${ID}/docker/${ID2}`,
    { name: `docker-${ID.slice(0, 12)}/docker-${ID2.slice(0, 12)}`, kind: 'docker', container_id: ID2 },
  ],
  [
    'docker in docker, systemd driver outside: qualified by the outer container',
    `/system.slice/docker-${ID2}.scope/docker/${ID}`,
    { name: `docker-${ID2.slice(0, 12)}/docker-${ID.slice(0, 12)}`, kind: 'docker', container_id: ID },
  ],
  [
    "rootless docker: the user manager's container, not the host's",
    `/user.slice/user-1000.slice/user@1000.service/user.slice/docker-${ID}.scope`,
    { name: `user@1000.service/docker-${ID.slice(0, 12)}`, kind: 'docker', container_id: ID },
  ],

  // Podman
  ['podman', `/machine.slice/libpod-${ID}.scope`, { name: `podman-${ID.slice(0, 12)}`, kind: 'podman', container_id: ID }],
  [
    'podman, container sub-cgroup',
    `/machine.slice/libpod-${ID}.scope/container`,
    { name: `podman-${ID.slice(0, 12)}`, kind: 'podman', container_id: ID, anchor: `/machine.slice/libpod-${ID}.scope` },
  ],
  ['podman, cgroupfs driver', `/libpod_parent/libpod-${ID}`, { name: `podman-${ID.slice(0, 12)}`, kind: 'podman', container_id: ID }],
  ['podman conmon', `/machine.slice/libpod-conmon-${ID}.scope`, { name: `podman-conmon-${ID.slice(0, 12)}`, kind: 'podman', container_id: ID }],
  [
    'rootless podman',
    `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope/container`,
    {
      name: `user@1000.service/podman-${ID.slice(0, 12)}`,
      kind: 'podman',
      container_id: ID,
      anchor: `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope`,
    },
  ],
  [
    'rootless podman pod',
    `/user.slice/user-1000.slice/user@1000.service/user.slice/user-libpod_pod_${ID2}.slice/libpod-${ID}.scope`,
    { name: `user@1000.service/podman-${ID.slice(0, 12)}`, kind: 'podman', container_id: ID },
  ],
  ['podman pod', `/machine.slice/machine-libpod_pod_${ID2}.slice`, { name: `podman-pod-${ID2.slice(0, 12)}`, kind: 'podman' }],
  [
    'container in a podman pod',
    `/machine.slice/machine-libpod_pod_${ID2}.slice/libpod-${ID}.scope/container`,
    { name: `podman-${ID.slice(0, 12)}`, kind: 'podman', container_id: ID, anchor: `/machine.slice/machine-libpod_pod_${ID2}.slice/libpod-${ID}.scope` },
  ],

  // Kubernetes, systemd driver
  [
    'burstable pod container (containerd)',
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    { name: `pod-${UID}/${ID.slice(0, 12)}`, kind: 'kubernetes', container_id: ID, pod_uid: UID },
  ],
  [
    'besteffort pod container (CRI-O)',
    `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/crio-${ID}.scope`,
    { name: `pod-${UID}/${ID.slice(0, 12)}`, kind: 'kubernetes', container_id: ID, pod_uid: UID },
  ],
  [
    'guaranteed pod container (dockershim / cri-dockerd)',
    `/kubepods.slice/kubepods-pod${UID_}.slice/docker-${ID}.scope`,
    { name: `pod-${UID}/${ID.slice(0, 12)}`, kind: 'kubernetes', container_id: ID, pod_uid: UID },
  ],
  [
    'CRI-O conmon in a pod',
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-conmon-${ID}.scope`,
    { name: `pod-${UID}/conmon-${ID.slice(0, 12)}`, kind: 'kubernetes', container_id: ID, pod_uid: UID },
  ],
  [
    'pod-level cgroup',
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`,
    { name: `pod-${UID}`, kind: 'kubernetes', pod_uid: UID },
  ],
  [
    'static pod (hash UID)',
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${STATIC_UID}.slice/cri-containerd-${ID}.scope`,
    { name: `pod-${STATIC_UID}/${ID.slice(0, 12)}`, kind: 'kubernetes', container_id: ID, pod_uid: STATIC_UID },
  ],
  [
    'sub-cgroup of a pod container folds into it',
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${ID}.scope/container`,
    {
      name: `pod-${UID}/${ID.slice(0, 12)}`,
      kind: 'kubernetes',
      container_id: ID,
      pod_uid: UID,
      anchor: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${ID}.scope`,
    },
  ],

  // Kubernetes, cgroupfs driver
  [
    'burstable pod container',
    `/kubepods/burstable/pod${UID}/${ID}`,
    { name: `pod-${UID}/${ID.slice(0, 12)}`, kind: 'kubernetes', container_id: ID, pod_uid: UID },
  ],
  ['guaranteed pod container', `/kubepods/pod${UID}/${ID}`, { name: `pod-${UID}/${ID.slice(0, 12)}`, kind: 'kubernetes', container_id: ID, pod_uid: UID }],
  ['pod-level cgroup (cgroupfs)', `/kubepods/besteffort/pod${UID}`, { name: `pod-${UID}`, kind: 'kubernetes', pod_uid: UID }],
  ['pod<uid> outside kubepods is not a pod', `/batch/pod${UID}`, { name: `/batch/pod${UID}`, kind: 'cgroup' }],

  // nested: a kind node is a docker container holding a kubelet
  [
    'pod on a kind node: the pod container, qualified by the node container',
    `/system.slice/docker-${ID2}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    { name: `docker-${ID2.slice(0, 12)}/pod-${UID}/${ID.slice(0, 12)}`, kind: 'kubernetes', container_id: ID, pod_uid: UID },
  ],
  [
    'kubelet of a kind node is the node container',
    `/system.slice/docker-${ID2}.scope/kubelet.slice`,
    { name: `docker-${ID2.slice(0, 12)}`, kind: 'docker', container_id: ID2, anchor: `/system.slice/docker-${ID2}.scope` },
  ],

  // containerd outside Kubernetes
  [
    'cri-containerd scope without a pod',
    `/system.slice/cri-containerd-${ID}.scope`,
    { name: `containerd-${ID.slice(0, 12)}`, kind: 'containerd', container_id: ID },
  ],
  ['nerdctl', `/system.slice/nerdctl-${ID}.scope`, { name: `containerd-${ID.slice(0, 12)}`, kind: 'containerd', container_id: ID }],
  [
    'container under containerd.service',
    `/system.slice/containerd.service/default/${ID}`,
    { name: `containerd-${ID.slice(0, 12)}`, kind: 'containerd', container_id: ID },
  ],
  ['containerd daemon itself', '/system.slice/containerd.service', { name: 'containerd.service', kind: 'systemd' }],

  // CRI-O outside pods
  ['crio scope', `/system.slice/crio-${ID}.scope`, { name: `crio-${ID.slice(0, 12)}`, kind: 'crio', container_id: ID }],
  ['crio conmon scope', `/system.slice/crio-conmon-${ID}.scope`, { name: `crio-conmon-${ID.slice(0, 12)}`, kind: 'crio', container_id: ID }],

  // LXC / LXD
  ['lxc, legacy layout', '/lxc/web1', { name: 'lxc-web1', kind: 'lxc', container_id: 'web1' }],
  ['lxc payload', '/lxc.payload.web1', { name: 'lxc-web1', kind: 'lxc', container_id: 'web1' }],
  ['lxc monitor', '/lxc.monitor.web1', { name: 'lxc-web1', kind: 'lxc', container_id: 'web1' }],
  ['lxc name with dots', '/lxc.payload.db.prod', { name: 'lxc-db.prod', kind: 'lxc', container_id: 'db.prod' }],
  [
    'systemd inside an lxc container folds into it',
    '/lxc.payload.web1/system.slice/nginx.service',
    { name: 'lxc-web1', kind: 'lxc', container_id: 'web1', anchor: '/lxc.payload.web1' },
  ],
  [
    'docker inside lxc: the innermost container, qualified by the outer one',
    `/lxc.payload.web1/system.slice/docker-${ID}.scope`,
    { name: `lxc-web1/docker-${ID.slice(0, 12)}`, kind: 'docker', container_id: ID },
  ],

  // Look-alikes: a runtime's name where that runtime never puts it. Below a service or a scope
  // (which may be delegated to its user) or under a plain directory, it is just a cgroup of that
  // unit; below a user manager, it is that user's; inside a container, that container's.
  [
    "the issue's look-alike: docker-<id>.scope at the root of a user manager is that user's",
    `/user.slice/user-1000.slice/user@1000.service/docker-${ID}.scope`,
    { name: `user@1000.service/docker-${ID.slice(0, 12)}`, kind: 'docker', container_id: ID },
  ],
  [
    'below a delegated service: a unit of that service, not a container',
    `/system.slice/bob.service/docker-${ID}.scope`,
    { name: `bob.service/docker-${ID}.scope`, kind: 'systemd' },
  ],
  [
    'below a session scope: a unit of that scope',
    `/user.slice/user-1000.slice/session-3.scope/libpod-${ID}.scope/container`,
    { name: `session-3.scope/libpod-${ID}.scope`, kind: 'user', anchor: `/user.slice/user-1000.slice/session-3.scope/libpod-${ID}.scope` },
  ],
  [
    'a slice made inside a delegated service does not restore a slice chain',
    `/system.slice/bob.service/evil.slice/docker-${ID}.scope`,
    { name: `bob.service/docker-${ID}.scope`, kind: 'systemd' },
  ],
  [
    "a user manager's name inside a delegated service is not a user manager",
    `/system.slice/bob.service/user@0.service/user.slice/docker-${ID}.scope`,
    { name: `bob.service/user@0.service/docker-${ID}.scope`, kind: 'systemd' },
  ],
  [
    'cgroupfs docker parent below a service',
    `/system.slice/foo.service/docker/${ID}`,
    { name: 'foo.service', kind: 'systemd', anchor: '/system.slice/foo.service' },
  ],
  ['cgroupfs docker parent not at the root', `/batch/docker/${ID}`, { name: `/batch/docker/${ID}`, kind: 'cgroup' }],
  [
    'kubepods layout below a service',
    `/system.slice/foo.service/kubepods/pod${UID}/${ID}`,
    { name: 'foo.service', kind: 'systemd', anchor: '/system.slice/foo.service' },
  ],
  [
    "kubepods below the kubelet's --cgroup-root (plain directories)",
    `/custom/root/kubepods/burstable/pod${UID}/${ID}`,
    { name: `pod-${UID}/${ID.slice(0, 12)}`, kind: 'kubernetes', container_id: ID, pod_uid: UID },
  ],
  [
    'kubepods below a plain directory inside a scope',
    `/user.slice/user-1000.slice/session-3.scope/x/kubepods/pod${UID}/${ID}`,
    { name: 'session-3.scope', kind: 'user', anchor: '/user.slice/user-1000.slice/session-3.scope' },
  ],
  ['a directory only named like kubepods', `/kubepods-x/burstable/pod${UID}/${ID}`, { name: `/kubepods-x/burstable/pod${UID}/${ID}`, kind: 'cgroup' }],
  [
    'pod slice below a delegated service',
    `/system.slice/bob.service/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    { name: `bob.service/cri-containerd-${ID}.scope`, kind: 'systemd' },
  ],
  [
    'a pod container only directly in its pod',
    `/kubepods.slice/kubepods-pod${UID_}.slice/evil/cri-containerd-${ID}.scope`,
    { name: `pod-${UID}`, kind: 'kubernetes', pod_uid: UID, anchor: `/kubepods.slice/kubepods-pod${UID_}.slice` },
  ],
  ['lxc payload below a service', '/system.slice/bob.service/lxc.payload.web1', { name: 'bob.service', kind: 'systemd', anchor: '/system.slice/bob.service' }],
  ['lxc parent not at the root', '/batch/lxc/web1', { name: '/batch/lxc/web1', kind: 'cgroup' }],
  ['podman cgroupfs parent not at the root', `/batch/libpod_parent/libpod-${ID}`, { name: `/batch/libpod_parent/libpod-${ID}`, kind: 'cgroup' }],
  [
    'containerd namespace below a delegated service is not containerd',
    `/system.slice/bob.service/containerd.service/default/${ID}`,
    { name: 'bob.service/containerd.service', kind: 'systemd', anchor: '/system.slice/bob.service/containerd.service' },
  ],
  [
    'an unprivileged lxc container of a user',
    '/user.slice/user-1000.slice/user@1000.service/lxc.payload.c1/system.slice/x.service',
    { name: 'user@1000.service/lxc-c1', kind: 'lxc', container_id: 'c1', anchor: '/user.slice/user-1000.slice/user@1000.service/lxc.payload.c1' },
  ],
  [
    "a container's tenant forging a host container's id: qualified by the container it is in",
    `/system.slice/docker-${ID2}.scope/system.slice/docker-${ID}.scope`,
    { name: `docker-${ID2.slice(0, 12)}/docker-${ID.slice(0, 12)}`, kind: 'docker', container_id: ID },
  ],
  [
    'an lxc tenant forging a pod: qualified by the container it is in',
    `/lxc.payload.web1/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`,
    { name: `lxc-web1/pod-${UID}/${ID.slice(0, 12)}`, kind: 'kubernetes', container_id: ID, pod_uid: UID },
  ],
];

/** The cgroup the name was taken from: the path itself unless a case says otherwise. */
const withAnchor = (path: string, want: GroupIdentity): GroupIdentity => ({ anchor: '/' + path.split('/').filter(Boolean).join('/'), ...want });

describe('nameCgroup', () => {
  it.each(cases)('%s: %s', (_title, path, want) => {
    // How a pod's group is named again once Kubernetes names it: kubernetesName's cases, below.
    const { pod_scope: _scope, pod_role: _role, ...id } = nameCgroup(path);
    expect(id).toStrictEqual(withAnchor(path, want));
  });

  it.each([
    ['a unit', '/system.slice/nginx.service/workers/a', '/system.slice/nginx.service'],
    ['a container', `/system.slice/docker-${ID}.scope/system.slice/nginx.service`, `/system.slice/docker-${ID}.scope`],
    ['a pod container', `/kubepods/burstable/pod${UID}/${ID}/sub`, `/kubepods/burstable/pod${UID}/${ID}`],
    ['the root', '/', '/'],
  ])('the anchor of a cgroup folded into %s is that cgroup', (_t, path, anchor) => {
    expect(nameCgroup(path).anchor).toBe(anchor);
  });
});

describe('kubernetesName', () => {
  const names = { namespace: 'shop', pod: 'web-0', container: 'app' };
  it.each([
    ['a container (cgroupfs driver)', `/kubepods/burstable/pod${UID}/${ID}`, names, 'shop/web-0/app'],
    [
      "CRI-O's monitor of it",
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-conmon-${ID}.scope`,
      names,
      'shop/web-0/conmon-app',
    ],
    [
      'a pod on a kind node, qualified as before',
      `/system.slice/docker-${ID2}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod${UID_}.slice/cri-containerd-${ID}.scope`,
      names,
      `docker-${ID2.slice(0, 12)}/shop/web-0/app`,
    ],
    ["the pod's own cgroup", `/kubepods/pod${UID}`, { namespace: 'shop', pod: 'web-0' }, 'shop/web-0'],
    ['a container the list does not name', `/kubepods/pod${UID}/${ID}`, { namespace: 'shop', pod: 'web-0' }, undefined],
    ['not a pod', `/system.slice/docker-${ID}.scope`, names, undefined],
  ])('%s', (_t, path, k, want) => {
    expect(kubernetesName(nameCgroup(path), k)).toBe(want);
  });
});
