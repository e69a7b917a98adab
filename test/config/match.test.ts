import { describe, expect, it } from 'vitest';
import { effectiveResources, globToRegExp, isCgroupRule, matchGroup, type MatchFacts } from '../../src/config/match.js';
import { compilePattern } from '../../src/config/regex.js';
import type { GroupMatch, GroupRule, ResourceSpec } from '../../src/config/types.js';

describe('globToRegExp', () => {
  const cases: Array<[string, string, boolean]> = [
    ['/system.slice/nginx.service', '/system.slice/nginx.service', true],
    ['/system.slice/nginx.service', '/system.slice/nginx.service/sub', false],
    ['/system.slice/*.service', '/system.slice/nginx.service', true],
    ['/system.slice/*.service', '/system.slice/a/nginx.service', false],
    ['/system.slice/*.service', '/system.slice/nginx.scope', false],
    ['/system.slice/*', '/system.slice', false],
    ['/system.slice/**', '/system.slice', true],
    ['/system.slice/**', '/system.slice/a', true],
    ['/system.slice/**', '/system.slice/a/b/c', true],
    ['/system.slice/**', '/system.slicex/a', false],
    ['/**/init.scope', '/init.scope', true],
    ['/**/init.scope', '/user.slice/user-1000.slice/user@1000.service/init.scope', true],
    ['/**/init.scope', '/user.slice/xinit.scope', false],
    ['/kubepods**', '/kubepods.slice/kubepods-pod1.slice', true],
    ['/kubepods**', '/system.slice', false],
    ['/user.slice/user-?.slice', '/user.slice/user-0.slice', true],
    ['/user.slice/user-?.slice', '/user.slice/user-10.slice', false],
    ['/a.b', '/aXb', false],
    ['/a+(b)', '/a+(b)', true],
    ['/[x]', '/[x]', true],
    ['/', '/', true],
    ['/', '/a', false],
    ['/**', '/', true],
    ['/**', '/anything/at/all', true],
    ['/a/', '/a', true],
  ];
  it.each(cases)('%s ~ %s: %s', (glob, path, want) => {
    expect(globToRegExp(glob).test(path)).toBe(want);
  });
});

const spec = (limit: number): ResourceSpec => ({ limit, on_barrier: [], on_limit: [{ kind: 'event' }] });
const rule = (name: string, match: GroupRule['match'], resources: GroupRule['resources'] = {}): GroupRule => ({
  name,
  match,
  resources,
});

describe('matchGroup', () => {
  const rules: GroupRule[] = [
    rule('make-by-ci', { cgroup: '/ci/**', comm: compilePattern('^make$') }),
    rule('ci', { cgroup: '/ci/**' }),
    rule('nginx', { cgroup: '/system.slice/nginx.service' }),
    rule('services', { cgroup_regex: compilePattern('^/system\\.slice/[^/]+\\.service$') }),
    rule('python', { exe: compilePattern('/python3(\\.\\d+)?$') }),
    rule('alice', { uid: [1000, 1001] }),
  ];
  const cases: Array<[string, MatchFacts, string | undefined]> = [
    ['first match wins over a later, broader rule', { cgroup: '/ci/job1', comm: 'make' }, 'make-by-ci'],
    ['rule needing comm fails without it, next rule matches', { cgroup: '/ci/job1' }, 'ci'],
    ['comm that does not match', { cgroup: '/ci/job1', comm: 'cc1' }, 'ci'],
    ['exact glob before the regex', { cgroup: '/system.slice/nginx.service' }, 'nginx'],
    ['trailing slash is the same cgroup', { cgroup: '/system.slice/nginx.service/' }, 'nginx'],
    ['doubled slash is the same cgroup', { cgroup: '/system.slice//nginx.service' }, 'nginx'],
    ['cgroup_regex', { cgroup: '/system.slice/sshd.service' }, 'services'],
    ['exe', { cgroup: '/user.slice', exe: '/usr/bin/python3.11' }, 'python'],
    ['exe unknown fails the rule', { cgroup: '/user.slice', uid: 0 }, undefined],
    ['uid in the list', { cgroup: '/user.slice', uid: 1001 }, 'alice'],
    ['uid not in the list', { cgroup: '/user.slice', uid: 1002 }, undefined],
    ['nothing matches', { cgroup: '/init.scope', comm: 'systemd', exe: '/usr/lib/systemd/systemd', uid: 0 }, undefined],
  ];
  it.each(cases)('%s', (_title, facts, want) => {
    expect(matchGroup(rules, facts)?.name).toBe(want);
  });

  it('no rules: no match', () => {
    expect(matchGroup([], { cgroup: '/' })).toBeUndefined();
  });
});

describe('isCgroupRule', () => {
  it.each<[GroupMatch, boolean]>([
    [{ cgroup: '/a' }, true],
    [{ cgroup_regex: compilePattern('a') }, true],
    [{ cgroup: '/a', comm: compilePattern('x') }, false],
    [{ exe: compilePattern('x') }, false],
    [{ uid: [0] }, false],
  ])('%o: %s', (match, want) => {
    expect(isCgroupRule(match)).toBe(want);
  });
});

describe('effectiveResources', () => {
  const defaults = { tasks: spec(100), threads: spec(1000) };
  it.each([
    ['no rule: the defaults', undefined, { tasks: spec(100), threads: spec(1000) }],
    ['a rule overrides per resource', rule('a', { cgroup: '/a' }, { tasks: spec(10) }), { tasks: spec(10), threads: spec(1000) }],
    ['a rule adds a resource', rule('a', { cgroup: '/a' }, { memory_bytes: spec(1) }), { tasks: spec(100), threads: spec(1000), memory_bytes: spec(1) }],
    ['a spec without thresholds clears the default', rule('a', { cgroup: '/a' }, { tasks: { on_barrier: [], on_limit: [] } }), { threads: spec(1000) }],
  ])('%s', (_title, r, want) => {
    expect(effectiveResources(defaults, r)).toStrictEqual(want);
  });

  it('leaves the defaults alone', () => {
    effectiveResources(defaults, rule('a', { cgroup: '/a' }, { tasks: { on_barrier: [], on_limit: [] } }));
    expect(defaults.tasks).toStrictEqual(spec(100));
  });
});
