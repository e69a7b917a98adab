/** Which group a cgroup joins: by the cgroup its name came from, never by a shortened name alone. */
import { describe, expect, it } from 'vitest';
import type { GroupRule } from '../../src/config/types.js';
import { GroupRegistry, OVERFLOW_GROUP } from '../../src/groups/registry.js';

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
    const { r } = registry({ 1: `/machine.slice/libpod-${ID}.scope`, 2: `/machine.slice/libpod-${ID}.scope/container`, 3: '/system.slice/a.service', 4: '/system.slice/a.service/workers' });
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
    const rule: GroupRule = { name: 'web.service', match: { comm: /^nginx$/ }, resources: {} };
    const { r } = registry({ 1: '/system.slice/web.service' }, [rule]);
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
    r.reconfigure({ rules: [{ name: 'web.service', match: { comm: /^nginx$/ }, resources: {} }], defaults: {}, maxGroups: 100, evictAfterS: 60, cgroupPath: () => '/system.slice/web.service', now: () => 0 });
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
    expect(r.evict(61_000).map((g) => g.name).sort()).toEqual(['/other.slice/web.service', 'web.service']);
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
