/**
 * CPU per cgroup without a sched_switch program on cgroup v2 (src/agent/cgroup-cpu.ts): the agent
 * reads cpu.stat at scrape. Real agent, real cgroups: a parent and its child each run a busy loop
 * that reports its own CPU (the process's CPU clock); each group shows its own loop's CPU, the child's not in the
 * parent's, and removing the child leaves the parent's counter where it was. The switch program is
 * attached only when groups come from a v1 hierarchy.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GroupView } from '../../src/agent/agent.js';
import { TestAgent } from '../helpers/agent.js';
import { bpfProgIds, requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { workload } from '../helpers/workloads.js';

/** Names of the BPF programs a process holds. */
function progNames(pid: number): string[] {
  return bpfProgIds(pid).map(
    (id) => (JSON.parse(execFileSync('bpftool', ['prog', 'show', 'id', String(id), '-j'], { encoding: 'utf8' })) as { name: string }).name,
  );
}

/**
 * A group's CPU is its loop's CPU (burn counts it from its main, so what the process spent before
 * its shell moved into the cgroup is not in it) plus the CPU its shell spent in the cgroup (bash
 * starting after it moved in, exec): a few ms, far under the 0.1 s allowed above it here. The
 * child's loop (1.5 s) counted in the parent would be far over it. Below: cpu.stat and the task's
 * clock charge the same runtime at the same points, so the loop's CPU is a floor; 10 ms under is
 * allowed all the same.
 */
const SHELL_ALLOWANCE_S = 0.1;
const BELOW_S = 0.01;

describe('CPU per cgroup on cgroup v2, from cpu.stat', () => {
  it("shows each cgroup's own CPU, a nested child's not in its parent, and a removed child changes nothing", async () => {
    requireRoot();
    const agent = await TestAgent.start();
    const parent = TestCgroup.create('cpuparent');
    const child = TestCgroup.create('cpuchild', { parent: parent.path });
    try {
      const names = progNames(agent.proc.child.pid!);
      expect(names).toContain('handle_fork');
      expect(names).not.toContain('handle_switch');

      const cpu = async () => {
        const groups = await agent.json<GroupView[]>('/api/groups');
        const of = (p: string) => groups.find((g) => g.cgroup === p)?.cpu_seconds ?? 0;
        return { parent: of(parent.path), child: of(child.path) };
      };
      const burn = workload('burn');
      const runs = [parent.exec(`${burn} 1`), child.exec(`${burn} 1.5`)];
      // Read while they run: neither counter ever goes back.
      const readings: { parent: number; child: number }[] = [];
      let done = false;
      const all = Promise.all(runs).finally(() => (done = true));
      while (!done) {
        readings.push(await cpu());
        await new Promise((r) => setTimeout(r, 50));
      }
      const [p, c] = await all;
      expect([p.code, c.code]).toEqual([0, 0]);
      for (let i = 1; i < readings.length; i++) {
        expect(readings[i].parent).toBeGreaterThanOrEqual(readings[i - 1].parent);
        expect(readings[i].child).toBeGreaterThanOrEqual(readings[i - 1].child);
      }
      const own = (out: string) => Number(/cpu_ns (\d+)/.exec(out)![1]) / 1e9;
      const [pLoop, cLoop] = [own(p.stdout), own(c.stdout)];
      expect(pLoop).toBeGreaterThanOrEqual(1);
      expect(cLoop).toBeGreaterThanOrEqual(1.5);

      const after = await cpu();
      expect(after.parent).toBeGreaterThan(pLoop - BELOW_S);
      expect(after.parent - pLoop).toBeLessThan(SHELL_ALLOWANCE_S);
      expect(after.child).toBeGreaterThan(cLoop - BELOW_S);
      expect(after.child - cLoop).toBeLessThan(SHELL_ALLOWANCE_S);

      // The child goes: its CPU stays in the parent's cpu.stat, and must not show up as the parent's own.
      await child.remove();
      await until(() => !fs.existsSync(child.dir), 'the child cgroup removed');
      const gone = await cpu();
      expect(gone.parent).toBe(after.parent);
      // The parent's cpu.stat does hold the child's CPU (what own = usage − children subtracts): the
      // two loops' sum, less what the rstat sums lag behind getrusage (seen 14 ms under the
      // suite's load), far more than the parent's loop alone.
      const usage = Number(/usage_usec (\d+)/.exec(fs.readFileSync(path.join(parent.dir, 'cpu.stat'), 'utf8'))![1]) / 1e6;
      expect(usage).toBeGreaterThan(pLoop + cLoop - 3 * BELOW_S);
    } finally {
      await child.remove();
      await parent.remove();
      await agent.stop();
    }
  });

  it('attaches the switch program when groups come from a v1 hierarchy', async () => {
    requireRoot();
    const agent = await TestAgent.start('cgroup:\n  hierarchy: name=systemd\n');
    try {
      expect(progNames(agent.proc.child.pid!)).toContain('handle_switch');
    } finally {
      await agent.stop();
    }
  });
});
