/**
 * The `enforce` action in BeancounterService over an in-memory cgroupfs: which cgroups get which
 * kernel limit, new cgroups, missing controllers, failed writes, reloads, stop, the record and
 * the kernel's refusals as `limit` events. The real kernel's side is test/beancounters/enforce.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnforcedFile, Enforcer, limitVerdict, type EnforcedEntry } from '../../src/beancounters/enforcer.js';
import { parseConfig } from '../../src/config/load.js';
import { FakeIO, harness, RecordingLog } from './fakes.js';

const ci = (tasks: string, memory = '') =>
  `groups:\n  - name: ci\n    match: { cgroup: "/ci/*" }\n    resources:\n      tasks: ${tasks}\n${memory ? `      memory_bytes: ${memory}\n` : ''}`;
const CGROUPS = { 1: '/ci', 2: '/ci/a', 3: '/ci/a/x', 4: '/ci/b', 5: '/web' };

/** A harness whose cgroups all have pids.max "max" (and memory files), before the service is built. */
function withLimits(yaml: string, files: string[] = ['/ci/a/pids.max', '/ci/a/x/pids.max', '/ci/b/pids.max', '/web/pids.max'], readOnly: string[] = []) {
  const io = new FakeIO();
  for (const f of files) io.limits.set(f, { id: f.split('/').slice(0, -1).join('/'), value: 'max', writes: 0 });
  for (const f of readOnly) io.readOnly.add(f);
  return harness(yaml, { cgroups: CGROUPS, io });
}

describe('enforce', () => {
  it('sets pids.max on the outermost cgroups the rule matches, not below them nor elsewhere, and restores them at stop', async () => {
    const h = withLimits(ci('{ limit: 10, on_limit: [enforce] }'));
    expect(h.io.writes).toEqual(['/ci/a/pids.max=10', '/ci/b/pids.max=10']);
    expect(h.log.lines).toContain('info: group ci: set pids.max of /ci/a to 10 (was max, /ci/a/pids.max)');
    await h.service.close();
    expect(h.io.writes.slice(2)).toEqual(['/ci/a/pids.max=max', '/ci/b/pids.max=max']);
  });

  it('memory_bytes: memory.max from the limit, memory.high from the barrier', () => {
    const files = ['/ci/a/memory.max', '/ci/a/memory.high'];
    const h = withLimits(ci('{ limit: 10 }', '{ barrier: 1MiB, limit: 2MiB, on_barrier: [enforce], on_limit: [enforce] }'), files);
    expect(h.io.writes).toEqual([`/ci/a/memory.max=${2 ** 21}`, `/ci/a/memory.high=${2 ** 20}`]);
  });

  it('a cgroup made later gets the limit; one made below an enforced cgroup is covered by it; a removed one is forgotten', () => {
    const h = withLimits(ci('{ limit: 10, on_limit: [enforce] }'));
    h.io.limits.set('/ci/c/pids.max', { id: 'c', value: '100', writes: 0 });
    h.host.mkdir(6, '/ci/c');
    h.host.mkdir(7, '/ci/a/y');
    h.host.mkdir(8, '/elsewhere');
    expect(h.io.writes).toEqual(['/ci/a/pids.max=10', '/ci/b/pids.max=10', '/ci/c/pids.max=10']);
    h.host.rmdir(6);
    h.io.limits.delete('/ci/c/pids.max');
    h.tick();
    void h.service.close();
    expect(h.io.writes.slice(3)).toEqual(['/ci/a/pids.max=max', '/ci/b/pids.max=max']);
  });

  it('a cgroup without the controller: warned once at the second look, set once the file appears', () => {
    const h = withLimits(ci('{ limit: 10, on_limit: [enforce] }'), ['/ci/a/pids.max']);
    expect(h.io.writes).toEqual(['/ci/a/pids.max=10']);
    h.tick(); // /ci/b looked at again after 1 s
    h.tick(2000);
    const warned = h.log.lines.filter((l) => l.includes('not enabled'));
    expect(warned).toEqual([
      'warn: group ci: cannot enforce pids.max 10 on /ci/b: the pids controller is not enabled for it (none of /ci/b/pids.max exists); tried again later',
    ]);
    h.io.limits.set('/ci/b/pids.max', { id: 'b', value: '64', writes: 0 });
    h.tick(5000);
    expect(h.io.writes).toEqual(['/ci/a/pids.max=10', '/ci/b/pids.max=10']);
  });

  it('a write the kernel refuses is one line, however often it is tried', () => {
    const h = withLimits(ci('{ limit: 10, on_limit: [enforce] }'), ['/ci/a/pids.max'], ['/ci/a/pids.max']);
    const reload = (yaml: string) => h.host.reload(parseConfig(yaml, 'test.yaml', { hostname: 'test' }));
    reload(ci('{ limit: 10, on_limit: [enforce] }'));
    reload(ci('{ limit: 12, on_limit: [enforce] }'));
    reload(ci('{ limit: 10, on_limit: [enforce] }'));
    expect(h.log.lines.filter((l) => l.includes('cannot set'))).toEqual([
      'warn: group ci: cannot set pids.max of /ci/a to 10: EACCES (permission denied)',
      'warn: group ci: cannot set pids.max of /ci/a to 12: EACCES (permission denied)',
    ]);
    expect(h.io.limits.get('/ci/a/pids.max')?.value).toBe('max');
  });

  it('a reload that changes the limit rewrites it, keeping the first original; one that drops enforce restores', () => {
    const h = withLimits(ci('{ limit: 10, on_limit: [enforce] }'), ['/ci/a/pids.max']);
    const reload = (yaml: string) => h.host.reload(parseConfig(yaml, 'test.yaml', { hostname: 'test' }));
    reload(ci('{ limit: 20, on_limit: [enforce] }'));
    expect(h.log.lines).toContain('info: group ci: changed pids.max of /ci/a to 20 (was max, /ci/a/pids.max)');
    reload(ci('{ limit: 20 }'));
    expect(h.io.writes).toEqual(['/ci/a/pids.max=10', '/ci/a/pids.max=20', '/ci/a/pids.max=max']);
    expect(h.log.lines).toContain('info: group ci: restored pids.max of /ci/a to max, which the config no longer asks for');
  });

  it("the kernel's refusals in an enforced cgroup are failcnt and `limit` events with `refused`", () => {
    const h = withLimits(ci('{ limit: 10, on_limit: [enforce] }'), ['/ci/a/pids.max']);
    h.io.refused.set('pids:/ci/a', 0);
    h.tick(); // baseline: /ci/a was there before the agent
    h.io.refused.set('pids:/ci/a', 21);
    h.tick();
    expect(h.row('ci', 'tasks')?.failcnt).toBe(21);
    expect(h.events).toEqual([
      expect.objectContaining({ type: 'limit', direction: 'up', group: 'ci', resource: 'tasks', held: 0, limit: 10, refused: 21, cgroup: '/ci/a' }),
    ]);
    expect(h.records).toContainEqual(h.events[0]);
    expect(h.log.lines).toContain('warn: group ci: the kernel refused 21 forks (pids.max) in /ci/a');
  });
});

describe('Enforcer record', () => {
  const entry: EnforcedEntry = {
    group: 'g',
    cgroup: '/a',
    knob: 'pids.max',
    file: '/sys/fs/cgroup/pids/a/pids.max',
    id: '7',
    original: 'max',
    value: '10',
    writtenNs: '5',
  };

  it('judges whose a recorded limit is', () => {
    expect(limitVerdict(entry, undefined)).toBe('gone');
    expect(limitVerdict(entry, { id: '8', value: '10', writtenNs: '5' })).toBe('replaced');
    expect(limitVerdict(entry, { id: '7', value: '10', writtenNs: '6' })).toBe('rewritten');
    expect(limitVerdict(entry, { id: '7', value: '10', writtenNs: '5' })).toBe('ours');
    expect(limitVerdict({ ...entry, writtenNs: undefined }, { id: '7', value: 'max', writtenNs: '9' })).toBe('ours');
  });

  it('reads back what it wrote, and drops entries that would write elsewhere or anything but a limit', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-enf-rec-'));
    try {
      const p = path.join(dir, 'run', 'enforced-cgroups.json');
      new EnforcedFile(p, 'boot1').save([entry]);
      expect(new EnforcedFile(p, 'boot1').load()).toEqual([entry]);
      expect(new EnforcedFile(p, 'boot2').load()).toEqual([]);
      const bad = [
        { ...entry, file: '/etc/passwd' },
        { ...entry, file: '/sys/fs/cgroup/pids/../../../etc/pids.max' },
        { ...entry, original: '1; rm -rf /' },
        { ...entry, knob: 'cgroup.procs' },
        { ...entry, cgroup: 'a' },
      ];
      fs.writeFileSync(p, JSON.stringify({ boot_id: 'boot1', enforced: [...bad, entry] }));
      expect(new EnforcedFile(p, 'boot1').load()).toEqual([entry]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unreadable record is one line, and nothing is restored from it', () => {
    const log = new RecordingLog();
    const store = { where: '/run/forkwatch/enforced-cgroups.json', load: () => JSON.parse('{') as EnforcedEntry[], save: () => {} };
    new Enforcer(new FakeIO(), store, log).recover();
    expect(log.lines).toEqual([
      expect.stringMatching(/^warn: enforced limits: cannot read \/run\/forkwatch\/enforced-cgroups\.json: .*; limits an earlier agent set stay as they are$/),
    ]);
  });
});
