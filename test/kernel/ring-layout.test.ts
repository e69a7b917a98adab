/**
 * bench/ring-layout.mjs's probes (bench/ring-layout/): each build passes the verifier and attaches;
 * the ring builds hand every fork and exit record to their reader, on one ring or on one per CPU;
 * the staging build writes in place and reads nothing. The bench's numbers rest on these.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRingProbes, PROBES } from '../../bench/lib/ring-probe.mjs';
import { ROOT } from '../helpers/cli.js';
import { requireRoot } from '../helpers/cgroup.js';
import { workload } from '../helpers/workloads.js';

const FORKS = 50;

describe('the ring-layout probes', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-ringlayout-'));
  let built: { loader: string; objects: Record<string, string> };

  beforeAll(() => {
    requireRoot();
    built = buildRingProbes(ROOT, dir);
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Runs one probe around FORKS forks and exits of forkn; its exit code and what it printed. */
  async function around(name: string, ring: string): Promise<{ code: number | null; out: string; err: string }> {
    const p = spawn(built.loader, [built.objects[name], ring], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const attached = new Promise<void>((resolve, reject) => {
      p.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        if (/attached/.test(err)) resolve();
      });
      p.on('exit', () => reject(new Error(`probe ${name} exited before attaching: ${err}`)));
    });
    await attached;
    expect(spawnSync(workload('forkn'), [String(FORKS)]).status).toBe(0);
    // 'close', not 'exit': the process can be gone before its stdout has been read to the end.
    const code = new Promise<number | null>((resolve) => p.on('close', (c) => resolve(c)));
    p.kill('SIGINT');
    return { code: await code, out, err };
  }

  it.each(PROBES.filter((p) => p.ring !== 'stage').map((p) => [p.name, p.ring]))(
    '%s: every fork and exit of the loop reaches the reader, none lost',
    async (name, ring) => {
      const r = await around(name, ring);
      expect(r.code).toBe(0);
      const m = /^records (\d+) lost (\d+)$/m.exec(r.out);
      expect(m).not.toBeNull();
      // forkn's children: a fork and an exit each, beside whatever else the host did meanwhile.
      expect(Number(m![1])).toBeGreaterThanOrEqual(2 * FORKS);
      expect(Number(m![2])).toBe(0);
    },
  );

  it.each(PROBES.filter((p) => p.ring === 'stage').map((p) => [p.name, p.ring]))('%s: attaches, writes in place and reads nothing', async (name, ring) => {
    const r = await around(name, ring);
    expect(r.code).toBe(0);
    expect(r.out).toBe('records 0 lost 0\n');
  });

  it('refuses an unknown layout in one line, exit 2', () => {
    const r = spawnSync(built.loader, [built.objects.shared, 'perf\x1b[31m'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('usage: probe OBJECT.bpf.o shared|percpu|stage\n');
  });
});
