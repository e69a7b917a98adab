/** Which group a cgroup joins: by the cgroup its name came from, never by a shortened name alone. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { GroupRule } from '../../src/config/types.js';
import { GroupRegistry, OVERFLOW_GROUP } from '../../src/groups/registry.js';

/** The rules of a config's `groups:` section (YAML lines), as the agent gets them. */
const rules = (...yaml: string[]): GroupRule[] => parseConfig(['groups:', ...yaml].join('\n'), 'test.yaml', { hostname: 'test' }).groups.rules;

const ID = '3f4e1b2c9d8a7f6e5d4c3b2a1908f7e6d5c4b3a291807f6e5d4c3b2a19087f6e';
/** Another id with the same first 12 digits: the same short name. */
const ID_SAME_PREFIX = '3f4e1b2c9d8a' + 'b'.repeat(52);

function registry(paths: Record<number, string>, rules: GroupRule[] = [], maxGroups = 100) {
  let now = 0;
  const r = new GroupRegistry({ rules, defaults: {}, maxGroups, evictAfterS: 60, cgroupPath: (id) => paths[id], now: () => now });
  return { r, advance: (ms: number) => (now += ms) };
}

describe('GroupRegistry: identity decides, not the name', () => {
  it('cgroups below one container or unit fold into one group', () => {
    const { r } = registry({
      1: `/machine.slice/libpod-${ID}.scope`,
      2: `/machine.slice/libpod-${ID}.scope/container`,
      3: '/system.slice/a.service',
      4: '/system.slice/a.service/workers',
    });
    expect(r.forCgroup(1)).toBe(r.forCgroup(2));
    expect(r.forCgroup(3)).toBe(r.forCgroup(4));
    expect(r.forCgroup(1)).not.toBe(r.forCgroup(3));
  });

  it('two containers whose ids share the first 12 digits are two groups; the second is named by its cgroup', () => {
    const { r } = registry({ 1: `/system.slice/docker-${ID}.scope`, 2: `/system.slice/docker-${ID_SAME_PREFIX}.scope` });
    const a = r.forCgroup(1);
    const b = r.forCgroup(2);
    expect(a).not.toBe(b);
    expect(a.name).toBe(`docker-${ID.slice(0, 12)}`);
    expect(b.name).toBe(`/system.slice/docker-${ID_SAME_PREFIX}.scope`);
    expect(b.identity).toMatchObject({ kind: 'docker', container_id: ID_SAME_PREFIX });
    expect(r.get(b.name)).toBe(b);
  });

  it('one unit name under two slices is two groups', () => {
    const { r } = registry({ 1: '/system.slice/web.service', 2: '/other.slice/web.service', 3: '/other.slice/web.service/sub' });
    expect(r.forCgroup(1).name).toBe('web.service');
    expect(r.forCgroup(2).name).toBe('/other.slice/web.service');
    expect(r.forCgroup(3)).toBe(r.forCgroup(2));
  });

  it("a cgroup whose name is a configured group's name does not join the configured group", () => {
    const { r } = registry({ 1: '/system.slice/web.service' }, rules('  - name: web.service', '    match: { comm: "^nginx$" }'));
    const configured = r.get('web.service')!;
    const g = r.forCgroup(1);
    expect(g).not.toBe(configured);
    expect(g.name).toBe('/system.slice/web.service');
    expect(r.forProcess(1, { comm: 'nginx' })).toBe(configured);
    expect(r.forProcess(1, { comm: 'sh' })).toBe(g);
  });

  it('a rule added by a reload takes its name from a default group without taking its cgroups', () => {
    const { r } = registry({ 1: '/system.slice/web.service' });
    const before = r.forCgroup(1);
    expect(before.name).toBe('web.service');
    r.reconfigure({
      rules: rules('  - name: web.service', '    match: { comm: "^nginx$" }'),
      defaults: {},
      maxGroups: 100,
      evictAfterS: 60,
      cgroupPath: () => '/system.slice/web.service',
      now: () => 0,
    });
    const configured = r.get('web.service')!;
    expect(configured.configured).toBe(true);
    const g = r.forCgroup(1);
    expect(g).not.toBe(configured);
    expect(g.name).toBe('/system.slice/web.service');
  });

  it('after the first holder of a name is evicted, the name is free again; the cap still counts every group', () => {
    const { r, advance } = registry({ 1: '/system.slice/web.service', 2: '/other.slice/web.service' }, [], 2);
    const a = r.forCgroup(1);
    const b = r.forCgroup(2);
    expect(b.name).toBe('/other.slice/web.service');
    advance(61_000);
    expect(
      r
        .evict(61_000)
        .map((g) => g.name)
        .sort(),
    ).toEqual(['/other.slice/web.service', 'web.service']);
    r.dropCgroup(1);
    r.dropCgroup(2);
    expect(r.forCgroup(2).name).toBe('web.service');
    expect(r.forCgroup(1).name).toBe('/system.slice/web.service');
    expect(a).not.toBe(r.forCgroup(1));
    const { r: capped } = registry({ 1: '/system.slice/web.service', 2: '/other.slice/web.service' }, [], 1);
    capped.forCgroup(1);
    expect(capped.forCgroup(2).name).toBe(OVERFLOW_GROUP);
  });
});

describe('GroupRegistry: rules, the cap, eviction', () => {
  const PATHS = {
    1: '/',
    2: '/system.slice/nginx.service',
    3: '/system.slice/cron.service',
    4: '/batch/job-1',
    5: '/batch/job-2',
    6: '/user.slice/session-3.scope',
  };

  it('a cgroup rule takes whole cgroups (counted by the kernel), first match wins; the rest are named by their cgroup', () => {
    const { r } = registry(PATHS, rules('  - name: jobs', '    match: { cgroup: "/batch/*" }', '  - name: first-job', '    match: { cgroup: /batch/job-1 }'));
    const jobs = r.get('jobs')!;
    expect(r.forCgroup(4)).toBe(jobs);
    expect(r.forCgroup(5)).toBe(jobs);
    expect(jobs).toMatchObject({ configured: true, byCgroup: true, identity: { kind: 'config' } });
    expect(r.get('first-job')!.tasks).toBe(0); // configured, exported even though no cgroup reaches it
    expect(r.forCgroup(2)).toMatchObject({ name: 'nginx.service', byCgroup: true, configured: false, identity: { kind: 'systemd' } });
    expect(r.forCgroup(6).name).toBe('session-3.scope');
    expect(r.forCgroup(1).name).toBe('/');
  });

  it("process rules (comm, exe, uid) decide per process and count from events; a process matching none joins its cgroup's group", () => {
    const { r } = registry(PATHS, rules('  - name: shells', '    match: { comm: "^(ba)?sh$" }', '  - name: users', '    match: { uid: 1000 }'));
    const shells = r.get('shells')!;
    expect(shells.byCgroup).toBe(false);
    expect(r.forProcess(2, { comm: 'bash', uid: 0 })).toBe(shells);
    expect(r.forProcess(6, { comm: 'vim', uid: 1000 })).toBe(r.get('users'));
    expect(r.forProcess(6, { comm: 'bash', uid: 1000 })).toBe(shells);
    expect(r.forProcess(2, { comm: 'nginx', uid: 33 }).name).toBe('nginx.service');
    // The kernel's per-cgroup counters never feed a process rule's group.
    expect(r.forCgroup(2).name).toBe('nginx.service');
  });

  it('caps the groups nobody configured at max_groups: the rest count in "other", each refusal counted', () => {
    const { r } = registry(PATHS, rules('  - name: jobs', '    match: { cgroup: "/batch/*" }'), 2);
    expect(r.forCgroup(2).name).toBe('nginx.service');
    expect(r.forCgroup(3).name).toBe('cron.service');
    expect(r.forCgroup(4).name).toBe('jobs'); // configured groups are not capped
    const other = r.forCgroup(6);
    expect(other.name).toBe(OVERFLOW_GROUP);
    expect(r.forCgroup(1)).toBe(other);
    expect(r.overflows).toBe(2);
    expect(r.size).toBe(4);
  });

  it('evicts groups empty for evict_after_s that nobody configured, never configured or populated ones; a later cgroup makes its group again', () => {
    const { r, advance } = registry(PATHS, rules('  - name: jobs', '    match: { cgroup: "/batch/*" }'));
    const nginx = r.forCgroup(2);
    const cron = r.forCgroup(3);
    r.forCgroup(4);
    cron.tasks = 1;
    cron.emptySince = null;
    advance(59_999);
    expect(r.evict(59_999)).toEqual([]);
    expect(r.evict(60_000)).toEqual([nginx]);
    expect(r.get('nginx.service')).toBeUndefined();
    expect(r.get('jobs')).toBeDefined();
    expect(r.get('cron.service')).toBe(cron);
    const again = r.forCgroup(2);
    expect(again).not.toBe(nginx);
    expect(again.name).toBe('nginx.service');
    expect(again.retired.forks).toBe(0);
  });

  it('a reload that drops a rule leaves its group, counters kept, as an evictable one; the cap counts it', () => {
    const first = rules('  - name: jobs', '    match: { cgroup: "/batch/*" }');
    const { r } = registry(PATHS, first, 1);
    const jobs = r.forCgroup(4);
    jobs.retired.forks = 7;
    r.reconfigure({ rules: [], defaults: {}, maxGroups: 1, evictAfterS: 60, cgroupPath: (id) => PATHS[id as keyof typeof PATHS], now: () => 120_000 });
    expect(jobs.configured).toBe(false);
    expect(r.get('jobs')!.retired.forks).toBe(7);
    // The former rule's group holds the one place: a new cgroup overflows.
    expect(r.forCgroup(2).name).toBe(OVERFLOW_GROUP);
    expect(r.evict(120_000).map((g) => g.name)).toContain('jobs');
  });
});

describe('GroupRegistry: pods named by Kubernetes', () => {
  const UID = '1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b';
  const RUN1 = 'a'.repeat(64);
  const RUN2 = 'b'.repeat(64);
  const SANDBOX = 'c'.repeat(64);
  const pod = (id: string) => `/kubepods/burstable/pod${UID}/${id}`;

  /** A registry whose pod list (what kubeNames answers) the test changes. */
  function kube(paths: Record<number, string>) {
    const containers = new Map<string, string>();
    let listed = false;
    let now = 0;
    const r = new GroupRegistry({
      rules: [],
      defaults: {},
      maxGroups: 100,
      evictAfterS: 60,
      cgroupPath: (id) => paths[id],
      now: () => now,
      kubeNames: (uid, id) => {
        if (!listed || uid !== UID) return undefined;
        const container = id === undefined ? undefined : containers.get(id);
        return container === undefined ? { namespace: 'shop', pod: 'web-0' } : { namespace: 'shop', pod: 'web-0', container };
      },
    });
    return { r, containers, list: () => (listed = true), advance: (ms: number) => (now += ms) };
  }

  it('a container listed when its group is made takes <namespace>/<pod>/<container> at once', () => {
    const { r, containers, list } = kube({ 1: pod(RUN1), 2: `${pod(RUN1)}/sub` });
    list();
    containers.set(RUN1, 'app');
    const g = r.forCgroup(1);
    expect(g.name).toBe('shop/web-0/app');
    expect(r.forCgroup(2)).toBe(g);
    expect(r.get('shop/web-0/app')).toBe(g);
  });

  it('a group made before the kubelet reports its container is renamed once the list has it, and only once', () => {
    const { r, containers, list } = kube({ 1: pod(RUN1), 2: pod(SANDBOX) });
    const g = r.forCgroup(1);
    const sandbox = r.forCgroup(2);
    expect(g.name).toBe(`pod-${UID}/${RUN1.slice(0, 12)}`);
    list();
    expect(r.nameKnownPods()).toBe(0); // the pod is listed, its container not yet
    containers.set(RUN1, 'app');
    expect(r.nameKnownPods()).toBe(1);
    expect(g.name).toBe('shop/web-0/app');
    expect(r.get(`pod-${UID}/${RUN1.slice(0, 12)}`)).toBeUndefined();
    expect(r.forCgroup(1)).toBe(g);
    expect(sandbox.name).toBe(`pod-${UID}/${SANDBOX.slice(0, 12)}`); // never in containerStatuses: its uid name
    containers.set(RUN1, 'renamed');
    expect(r.nameKnownPods()).toBe(0);
    expect(g.name).toBe('shop/web-0/app');
  });

  it('a restarted container continues the group of its earlier run once that run has no process: one group, counters added', () => {
    const { r, containers, list } = kube({ 1: pod(RUN1), 2: pod(RUN2) });
    list();
    containers.set(RUN1, 'app');
    const first = r.forCgroup(1);
    first.retired.exitsSignaled = 3;
    first.tasks = 1;
    containers.set(RUN2, 'app');
    const second = r.forCgroup(2);
    expect(second.name).toBe(`pod-${UID}/${RUN2.slice(0, 12)}`); // the earlier run still has a process
    first.tasks = 0;
    expect(r.nameKnownPods()).toBe(1);
    expect(second.name).toBe('shop/web-0/app');
    expect(second.retired.exitsSignaled).toBe(3);
    expect(r.get('shop/web-0/app')).toBe(second);
    expect(r.forCgroup(1)).toBe(second); // the earlier cgroup's rows, until it is removed
    expect([...r.all()]).not.toContain(first);
  });
});
