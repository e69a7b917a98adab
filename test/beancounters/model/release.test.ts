import { describe, expect, it } from 'vitest';
import { exitOutcome, GroupLife } from '../../../src/beancounters/model/release.js';

describe('exitOutcome', () => {
  const cases: Array<[number | null, number | string | null, string]> = [
    [0, null, 'success'],
    [1, null, 'failure'],
    [255, 0, 'failure'],
    [null, 'SIGKILL', 'signaled'],
    [null, 9, 'signaled'],
    [0, 15, 'signaled'],
    [null, null, 'failure'],
  ];
  it.each(cases)('code %s, signal %s -> %s', (code, signal, outcome) => {
    expect(exitOutcome(code, signal)).toBe(outcome);
  });
});

describe('GroupLife', () => {
  const t0 = Date.UTC(2024, 0, 2, 3, 4, 5, 600);

  it('sums up a life in the release record', () => {
    const life = new GroupLife('build', t0, { cgroup: '/build.slice/job-1' });
    for (const live of [1, 2, 5, 3, 0]) life.tasks(live);
    life.created(4);
    life.created();
    for (const [code, signal] of [
      [0, null],
      [0, null],
      [2, null],
      [null, 'SIGKILL'],
      [0, null],
    ] as const)
      life.exited(exitOutcome(code, signal));
    life.addCpuSeconds(1.25);
    life.addCpuSeconds(0.5);
    expect(life.finish(t0 + 90_250)).toEqual({
      type: 'release',
      group: 'build',
      cgroup: '/build.slice/job-1',
      start: '2024-01-02T03:04:05.600Z',
      end: '2024-01-02T03:05:35.850Z',
      duration_s: 90.25,
      processes: 5,
      max_tasks: 5,
      exits: { success: 3, failure: 1, signaled: 1 },
      cpu_s: 1.75,
    });
  });

  it('leaves out the cgroup when there is none, and starts empty', () => {
    const record = new GroupLife('g', t0).finish(t0);
    expect('cgroup' in record).toBe(false);
    expect(record).toMatchObject({ duration_s: 0, processes: 0, max_tasks: 0, exits: { success: 0, failure: 0, signaled: 0 }, cpu_s: 0 });
  });

  it('adds only increases of cumulative CPU readings, per cgroup', () => {
    const life = new GroupLife('g', t0);
    // [reading, cgroup, countExisting]: baseline 10 s, +2; a new cgroup counted in full; a reset.
    const readings: Array<[number, string, boolean]> = [
      [10, '/a', false],
      [12, '/a', false],
      [0.5, '/b', true],
      [1.5, '/b', false],
      [0.25, '/a', false],
    ];
    for (const [s, cg, countExisting] of readings) life.sampleCpuSeconds(s, cg, { countExisting });
    expect(life.finish(t0 + 1).cpu_s).toBe(3.75);
  });

  it('rounds away float noise and ignores nonsense CPU amounts', () => {
    const life = new GroupLife('g', t0);
    for (let i = 0; i < 10; i++) life.addCpuSeconds(0.1);
    life.addCpuSeconds(-5);
    life.addCpuSeconds(Number.NaN);
    expect(life.finish(t0).cpu_s).toBe(1);
  });

  it('hands out a record that does not change with later events', () => {
    const life = new GroupLife('g', t0);
    life.exited('success');
    const first = life.finish(t0 + 1000);
    life.exited('success');
    expect(first.exits.success).toBe(1);
    expect(life.finish(t0 + 2000).exits.success).toBe(2);
  });
});
