/**
 * The real Agent without root: recorded ring bytes (test/fixtures/record-agent.mjs, record.mjs)
 * replayed through a fake binding into the real decoder, process table, groups and metrics, over
 * cgroupfs and procfs in memory (test/helpers/fake-host.ts). What it exports is checked against
 * what the recorded workload did: groups, counts from the kernel's counter rows, live tasks and
 * threads, the /metrics text, and the rebuild from procfs after records were lost.
 *
 * No root by construction: the fake host has no file, addon or kernel under it (the Agent reads
 * the host only through src/agent/host.ts). Checked as nobody, from a copy of src/ and test/ that
 * user can read: `setpriv --reuid=65534 --regid=65534 --clear-groups node_modules/.bin/vitest run
 * --configLoader runner test/agent/replay.test.ts` (the runner loader: vitest writes no bundled
 * config into a node_modules that user cannot write).
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/agent.js';
import { EventType } from '../../src/events/layout.js';
import { decodeRecord } from '../../src/events/decode.js';
import { workloadOf } from '../../src/k8s/owners.js';
import { PodIndex } from '../../src/k8s/pods.js';
import { buildRegistry } from '../../src/metrics/registry.js';
import { fakeAgent, FakeHost, loadRecording, proc, records, type Recording } from '../helpers/fake-host.js';

const A = '/forkwatch-fixture-a';
const B = '/forkwatch-fixture-b';

/** The recorded batch cut into wake-ups of `n` records each. */
function wakeups(rec: Recording, n: number, drop: (r: Buffer) => boolean = () => false): Buffer[] {
  const all = rec.batches.flatMap(records).filter((r) => !drop(r));
  if (all.length === 0) throw new Error('nothing to replay');
  const out: Buffer[] = [];
  for (let i = 0; i < all.length; i += n) out.push(Buffer.concat(all.slice(i, i + n)));
  return out;
}

const type = (r: Buffer) => r.readUInt16LE(0);
const pidOf = (r: Buffer) => decodeRecord(r, 0, r.readUInt16LE(2)).pid;

async function metricsText(agent: Agent, node = 'test-node'): Promise<string> {
  const snap = agent.snapshot();
  const reg = buildRegistry('prometheus', () => snap, node);
  return reg.metrics();
}

/** The lines of the forkwatch_* families whose group label is `group`. */
const linesOf = (text: string, group: string) =>
  text.split('\n').filter((l) => l.startsWith('forkwatch_') && l.includes(`group="${group}"`) && !l.includes('_bucket'));

describe('the Agent over a recorded workload in two cgroups', () => {
  let rec: Recording;
  let host: FakeHost;
  let agent: Agent | undefined;

  beforeEach(() => {
    rec = loadRecording('agent-two-cgroups.json');
    host = new FakeHost(rec.clocks);
    // Before the workload: init in the root cgroup; the two cgroups are made after the programs attach.
    host.procs = [proc(1, '/', { comm: 'systemd', exe: '/usr/lib/systemd/systemd' })];
  });
  afterEach(() => agent?.close());

  /** Runs the recording (as `wakeups`), with the kernel's counter rows and the processes left as recorded. */
  function replay(batches: Buffer[], yaml = '') {
    const made = fakeAgent(host, yaml);
    agent = made.agent;
    for (const [p, id] of Object.entries(rec.cgroups)) host.cgroups.set(p, id);
    host.procs.push(...rec.procs);
    made.probe.setCounters(rec.counters);
    made.probe.push(...batches);
    agent.source.drain();
    return made;
  }

  it('exports each cgroup as a group with the exact counts, live tasks and threads', () => {
    replay(wakeups(rec, 5));
    const groups = agent!.groups();
    expect(groups.map((g) => g.group).sort()).toEqual(['/', A, B]);
    const a = groups.find((g) => g.group === A)!;
    const b = groups.find((g) => g.group === B)!;
    // idle-threads (3 threads) and a sleep stay in a; the process that moved runs sleep in b.
    expect(a).toMatchObject({
      kind: 'cgroup',
      cgroup: A,
      configured: false,
      tasks: 2,
      threads: 4,
      forks: 8,
      execs: 5,
      exits: { success: 4, failure: 1, signaled: 1 },
    });
    expect(b).toMatchObject({
      kind: 'cgroup',
      cgroup: B,
      configured: false,
      tasks: 1,
      threads: 1,
      forks: 2,
      execs: 2,
      exits: { success: 1, failure: 1, signaled: 0 },
    });
    expect(groups.find((g) => g.group === '/')).toMatchObject({ tasks: 1, threads: 1, forks: 0 });
    const live = agent!.processesOf(agent!.registry.get(A)!).map((p) => [p.pid, p.comm, p.threads]);
    expect(live).toEqual([
      [rec.left[0], 'idle-threads', 3],
      [rec.left[2], 'sleep', 1],
    ]);
    expect(agent!.tracker.groupOf(rec.left[1])!.name).toBe(B);
    expect(agent!.table.size).toBe(4);
  });

  it('gives the same answer however the records are cut into wake-ups', () => {
    replay(wakeups(rec, 1));
    const one = JSON.stringify(agent!.groups());
    agent!.close();
    host = new FakeHost(rec.clocks);
    host.procs = [proc(1, '/', { comm: 'systemd' })];
    replay(wakeups(rec, 1000));
    expect(JSON.stringify(agent!.groups())).toBe(one);
  });

  it('serves /metrics for those groups: counters, gauges, lifetimes, group_info, records read', async () => {
    replay(wakeups(rec, 7));
    const text = await metricsText(agent!);
    const label = (g: string) => `group="${g}",node="test-node"`;
    const outcome = (g: string, o: string) => `{outcome="${o}",${label(g)}}`;
    expect(linesOf(text, A)).toEqual(
      expect.arrayContaining([
        `forkwatch_forks_total{${label(A)}} 8`,
        `forkwatch_threads_created_total{${label(A)}} 4`,
        `forkwatch_execs_total{${label(A)}} 5`,
        `forkwatch_exits_total${outcome(A, 'success')} 4`,
        `forkwatch_exits_total${outcome(A, 'failure')} 1`,
        `forkwatch_exits_total${outcome(A, 'signaled')} 1`,
        `forkwatch_tasks{${label(A)}} 2`,
        `forkwatch_threads{${label(A)}} 4`,
        `forkwatch_process_lifetime_seconds_count{${label(A)}} 6`,
        `forkwatch_group_info{group="${A}",cgroup="${A}",kind="cgroup",container_id="",pod_uid="",pod_name="",pod_namespace="",container="",image="",workload_kind="",workload_name="",node="test-node"} 1`,
      ]),
    );
    expect(linesOf(text, B)).toEqual(
      expect.arrayContaining([
        `forkwatch_forks_total{${label(B)}} 2`,
        `forkwatch_tasks{${label(B)}} 1`,
        `forkwatch_exits_total${outcome(B, 'failure')} 1`,
        `forkwatch_process_lifetime_seconds_count{${label(B)}} 2`,
      ]),
    );
    const all = rec.batches.flatMap(records);
    const read = (t: number) => all.filter((r) => type(r) === t).length;
    expect(text).toContain(`forkwatch_events_total{type="fork",node="test-node"} ${read(EventType.FORK)}`);
    expect(text).toContain(`forkwatch_events_total{type="exit",node="test-node"} ${read(EventType.EXIT)}`);
    expect(text).toContain(`forkwatch_events_total{type="cgroup_mkdir",node="test-node"} 2`);
    expect(text).toMatch(/^forkwatch_groups\{node="test-node"\} 3$/m);
    expect(text).not.toMatch(/\bpid="/);
  });

  it('after lost records (an exit and a fork), rebuilds the live counts from procfs at the next tick; counters stay exact', () => {
    // The exit of the `( exit 3 )` child and the fork of the `( exit 1 )` child in b never arrive.
    const all = rec.batches.flatMap(records);
    const exits = all.filter((r) => type(r) === EventType.EXIT && decodeRecord(r, 0, r.readUInt16LE(2)).status === 768);
    const forkB = all.find((r) => type(r) === EventType.FORK && decodeRecord(r, 0, r.readUInt16LE(2)).cgroupId === rec.cgroups[B]);
    expect(exits).toHaveLength(1);
    const lost = [exits[0], forkB!];
    const { probe, log } = replay(wakeups(rec, 5, (r) => lost.some((l) => l.equals(r))));
    // The tracker keeps a phantom (its exit record was lost); the kernel's live count does not.
    expect(agent!.registry.get(A)!.tasks).toBe(3);
    expect(agent!.groups().find((g) => g.group === A)!.tasks).toBe(2);
    probe.lost.exit = 1;
    probe.lost.fork = 1;
    const scans = host.scans;
    agent!.tick();
    expect(host.scans).toBe(scans + 1);
    const a = agent!.groups().find((g) => g.group === A)!;
    expect(a).toMatchObject({ tasks: 2, threads: 4, forks: 8, exits: { success: 4, failure: 1, signaled: 1 } });
    expect(agent!.groups().find((g) => g.group === B)).toMatchObject({ tasks: 1, forks: 2, exits: { success: 1, failure: 1, signaled: 0 } });
    expect(agent!.table.get(pidOf(exits[0]))).toBeUndefined();
    const warn = log.lines.filter((l) => l.startsWith('warn: records lost'));
    expect(warn).toHaveLength(1);
    expect(warn[0]).toMatch(
      /^warn: records lost: 2 since the last check; rebuilt the process table from \/proc in \d+ ms: 1 gone, 0 missing, 0 changed; live counts corrected in 1 groups \(tasks "\/forkwatch-fixture-a" 3->2\)/,
    );
    expect(agent!.snapshot().resyncs).toBe(1);
    // Losses that do not grow do not rescan again.
    host.advance(5000);
    agent!.tick();
    expect(host.scans).toBe(scans + 1);
  });

  it('groups by config rules: a comm rule counts from events, a cgroup rule from the counter rows', () => {
    replay(wakeups(rec, 5), ['groups:', '  - name: sleepers', '    match: { comm: "^sleep$" }', '  - name: bee', `    match: { cgroup: "${B}" }`].join('\n'));
    const groups = agent!.groups();
    const sleepers = groups.find((g) => g.group === 'sleepers')!;
    // Both sleeps exec'd sleep and live: the one in b too (first match wins).
    expect(sleepers).toMatchObject({ configured: true, tasks: 2, execs: 2, forks: 0 });
    expect(groups.find((g) => g.group === 'bee')).toMatchObject({ configured: true, tasks: 0, forks: 2, execs: 2 });
    expect(groups.find((g) => g.group === A)).toMatchObject({ tasks: 1, threads: 3 });
  });

  it('names pods through the pods stage: the group by <namespace>/<pod>/<container>, /api/groups and group_info alike', async () => {
    const uid = '1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b';
    const id = 'c3'.repeat(32);
    const pod = `/kubepods.slice/kubepods-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-${id}.scope`;
    host.cgroups.set(pod, 77);
    host.procs.push(proc(500, pod, { comm: 'nginx' }));
    const index = new PodIndex();
    index.upsert({
      metadata: {
        uid,
        name: 'web-0',
        namespace: 'shop',
        ownerReferences: [{ kind: 'StatefulSet', name: 'web', uid: 'b2c3d4e5-6f70-4819-9a0b-1c2d3e4f5a6b', controller: true }],
      },
      status: { containerStatuses: [{ name: 'app', image: 'nginx:1.27', containerID: `containerd://${id}` }] },
    });
    const { agent: a } = fakeAgent(host, '', { pods: { pod: (u) => index.get(u), workload: (p) => workloadOf(p, () => undefined) } });
    agent = a;
    const g = a.groups().find((x) => x.pod_uid === uid)!;
    expect(g).toMatchObject({
      group: 'shop/web-0/app',
      tasks: 1,
      pod_name: 'web-0',
      pod_namespace: 'shop',
      container: 'app',
      image: 'nginx:1.27',
      workload_kind: 'StatefulSet',
      workload_name: 'web',
    });
    expect(await metricsText(a)).toMatch(
      new RegExp(
        `^forkwatch_group_info\\{group="shop/web-0/app",.*pod_uid="${uid}",pod_name="web-0",pod_namespace="shop",container="app",image="nginx:1.27",workload_kind="StatefulSet",workload_name="web",node="test-node"\\} 1$`,
        'm',
      ),
    );
  });
});

describe('the Agent over test/fixtures/pipeline.bin (one cgroup, made and removed inside it)', () => {
  it('counts the script from its records, and retires the removed child cgroup at the tick', () => {
    const bytes = fs.readFileSync(new URL('../fixtures/pipeline.bin', import.meta.url));
    const all = records(bytes).map((r) => decodeRecord(r, 0, r.readUInt16LE(2)));
    const host = new FakeHost();
    const { agent, probe } = fakeAgent(host, ['groups:', '  - name: script', '    match: { uid: 0 }'].join('\n'));
    try {
      probe.push(bytes);
      agent.source.drain();
      const script = agent.groups().find((g) => g.group === 'script')!;
      const exits = all.filter((e) => e.type === EventType.EXIT && e.flags === 0);
      expect(script).toMatchObject({
        configured: true,
        forks: all.filter((e) => e.type === EventType.FORK && e.flags === 0).length,
        execs: all.filter((e) => e.type === EventType.EXEC).length,
        exits: { success: exits.filter((e) => e.status === 0).length, failure: 1, signaled: 1 },
      });
      const made = all.find((e) => e.type === EventType.CGROUP_MKDIR && e.path.endsWith('/child'))!;
      expect(agent.source.names.path(made.cgroupId)).toBe(made.path);
      agent.tick();
      expect(agent.snapshot().eventsRead).toMatchObject({ cgroup_mkdir: 2, cgroup_rmdir: 1 });
    } finally {
      agent.close();
    }
  });
});
