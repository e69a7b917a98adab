/**
 * src/agent/interest.ts without the kernel: which cgroups are watched, when records flow for all,
 * and what the kernel is told and when the table is rescanned as subscribers come and go.
 */
import { describe, expect, it } from 'vitest';
import { allReason, Interest, watchFlags } from '../../src/agent/interest.js';
import { Watch } from '../../src/events/layout.js';
import { lines, testConfig } from '../helpers/fake-host.js';

const none = { subscribers: 0, threads: 0 };

const BEAN = `groups:
  - name: web
    match: { cgroup: "/system.slice/web.service" }
    resources:
      tasks: { limit: 10 }
  - name: workers
    match: { cgroup: "/workers/*" }
    resources:
      threads: { limit: 100 }
  - name: jobs
    match: { cgroup: "/jobs/*" }
    on_release: [/bin/true]
  - name: quiet
    match: { cgroup: "/quiet" }
`;

describe('watchFlags', () => {
  const config = testConfig(BEAN);
  it.each([
    ['/system.slice/web.service', [], Watch.RECORDS],
    ['/workers/a', [], Watch.RECORDS | Watch.THREADS],
    ['/jobs/1', [], Watch.RECORDS],
    ['/quiet', [], 0],
    ['/system.slice/cron.service', [], 0],
    ['/forkwatch.programs/api', ['/forkwatch.programs/api'], Watch.RECORDS],
    ['/forkwatch.programs/api/sub', ['/forkwatch.programs/api'], Watch.RECORDS],
    ['/forkwatch.programs/apiary', ['/forkwatch.programs/api'], 0],
  ])('%s (supervised %j): %i', (path, supervised, want) => {
    expect(watchFlags(path, config, supervised)).toBe(want);
  });
});

describe('allReason', () => {
  it.each([
    ['', none, undefined],
    [BEAN, none, undefined],
    [BEAN, { subscribers: 1, threads: 0 }, 'event stream subscribers'],
    ['groups:\n  - name: n\n    match: { comm: nginx }\n', none, 'a group rule matches by comm, exe or uid'],
    ['groups:\n  - name: u\n    match: { cgroup: "/a", uid: [1000] }\n', none, 'a group rule matches by comm, exe or uid'],
    ['resources:\n  tasks: { limit: 100 }\n', none, 'default resources hold every group'],
    ['accounting:\n  log: { path: /tmp/acct.ndjson }\n', none, 'the accounting log'],
  ])('%j with %j: %s', (yaml, demand, want) => {
    expect(allReason(testConfig(yaml), demand)).toBe(want);
  });
});

function setup(yaml = BEAN, onDemand = true) {
  const cgroups = new Map<number, string>([
    [1, '/'],
    [10, '/system.slice/web.service'],
    [11, '/system.slice/cron.service'],
    [12, '/workers/a'],
  ]);
  const kernel = { all: true, threads: false, watched: new Map<number, number>(), writes: 0, room: Infinity };
  const rescans: string[] = [];
  const interest = new Interest(
    {
      kernel: {
        setInterest(all, threads) {
          kernel.all = all;
          kernel.threads = threads;
          kernel.writes++;
        },
        setWatched(ids, flags) {
          let full = 0;
          for (const id of ids) {
            if (!flags) kernel.watched.delete(id);
            else if (kernel.watched.size >= kernel.room && !kernel.watched.has(id)) full++;
            else kernel.watched.set(id, flags);
          }
          return full;
        },
      },
      cgroups: () => new Map(cgroups),
      idOf: (p) => [...cgroups].find(([, path]) => path === p)?.[0],
      rescan: (reason) => void rescans.push(reason),
      log: lines(),
    },
    testConfig(yaml),
    onDemand,
  );
  return { interest, kernel, rescans, cgroups };
}

describe('Interest', () => {
  it('starts watching the beancounter groups’ cgroups only, without a rescan (the table is seeded after)', () => {
    const { interest, kernel, rescans } = setup();
    interest.start();
    expect(kernel).toMatchObject({ all: false, threads: false });
    expect([...kernel.watched]).toEqual([
      [10, Watch.RECORDS],
      [12, Watch.RECORDS | Watch.THREADS],
    ]);
    expect(interest.keeps(10)).toBe(true);
    expect(interest.keeps(11)).toBe(false);
    expect(rescans).toEqual([]);
    expect(interest.sample()).toEqual({ mode: 'watched', watchedCgroups: 2, threads: false });
  });

  it('widens for a subscriber (rescan), turns threads on for a threads subscriber (no rescan), narrows when they leave (rescan)', () => {
    const { interest, kernel, rescans } = setup();
    interest.start();
    interest.setDemand({ subscribers: 1, threads: 0 });
    expect(kernel).toMatchObject({ all: true, threads: false });
    expect(interest.keeps(11)).toBe(true);
    expect(rescans).toHaveLength(1);
    interest.setDemand({ subscribers: 2, threads: 1 });
    expect(kernel).toMatchObject({ all: true, threads: true });
    expect(rescans).toHaveLength(1);
    interest.setDemand({ subscribers: 1, threads: 0 });
    expect(kernel).toMatchObject({ all: true, threads: false });
    interest.setDemand(none);
    expect(kernel).toMatchObject({ all: false, threads: false });
    expect(interest.keeps(11)).toBe(false);
    expect(rescans).toHaveLength(2);
    // The watched map was kept while records flowed for all.
    expect([...kernel.watched.keys()]).toEqual([10, 12]);
  });

  it('watches a cgroup a beancounter group takes when it is made, asking for a rescan only in watched mode', () => {
    const { interest, kernel } = setup();
    interest.start();
    expect(interest.cgroupMade(20, '/workers/b')).toBe(true);
    expect(kernel.watched.get(20)).toBe(Watch.RECORDS | Watch.THREADS);
    expect(interest.cgroupMade(20, '/workers/b')).toBe(false); // already watched
    expect(interest.cgroupMade(21, '/elsewhere')).toBe(false);
    interest.cgroupGone(20);
    expect(kernel.watched.has(20)).toBe(false);
    interest.setDemand({ subscribers: 1, threads: 0 });
    expect(interest.cgroupMade(22, '/workers/c')).toBe(false); // all: nothing to read
    expect(kernel.watched.has(22)).toBe(true);
  });

  it('watches a supervised cgroup before its program starts, and everything below it', () => {
    const { interest, kernel, cgroups } = setup();
    interest.start();
    interest.setSupervised(['/forkwatch.programs/api']);
    cgroups.set(30, '/forkwatch.programs/api');
    interest.watchPath('/forkwatch.programs/api');
    expect(kernel.watched.get(30)).toBe(Watch.RECORDS);
    expect(interest.cgroupMade(31, '/forkwatch.programs/api/worker')).toBe(true);
  });

  it('a reload that adds a comm rule widens, one that removes it narrows; each rescans', () => {
    const { interest, kernel, rescans } = setup();
    interest.start();
    interest.reload(testConfig(BEAN + '  - name: n\n    match: { comm: nginx }\n'));
    expect(kernel.all).toBe(true);
    expect(interest.reason).toBe('a group rule matches by comm, exe or uid');
    interest.reload(testConfig(BEAN));
    expect(kernel.all).toBe(false);
    expect(rescans).toHaveLength(2);
  });

  it('records everything when the watched map is full', () => {
    const { interest, kernel } = setup();
    kernel.room = 1;
    interest.start();
    expect(kernel.all).toBe(true);
    expect(interest.reason).toBe('the watched cgroup map is full');
  });

  it('with records on demand off, records every event and thread, whoever listens', () => {
    const { interest, kernel, rescans } = setup(BEAN, false);
    interest.start();
    expect(kernel).toMatchObject({ all: true, threads: true });
    interest.setDemand({ subscribers: 1, threads: 0 });
    interest.setDemand(none);
    expect(kernel).toMatchObject({ all: true, threads: true });
    expect(rescans).toEqual([]);
  });
});
