/**
 * The event file exporter: under a fork storm, rotated files hold every event once (seq 1..N, no
 * gap, no repeat), each line whole, each file within max_bytes, and the export counter says the
 * same; a disk that refuses writes costs exactly counted drops, never the agent; stdout works.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileExporter } from '../../src/export/file.js';
import type { StreamEvent } from '../../src/stream/bus.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { workload } from '../helpers/workloads.js';
import { metric, scrapeUntil } from '../kernel/scrape.js';

const ev = (i: number): StreamEvent => ({ type: 'restart', time: new Date(0).toISOString(), program: `p${i}`, seq: i });

describe('FileExporter without an agent', () => {
  it('a write refused by the disk (/dev/full) is counted dropped, whole, and the exporter goes on', async () => {
    const warnings: string[] = [];
    const x = new FileExporter({ path: '/dev/full', max_bytes: 1 << 20, keep: 0, warn: (m) => warnings.push(m) });
    await x.start();
    for (let i = 1; i <= 100; i++) x.publish(ev(i));
    await new Promise((r) => setImmediate(r));
    expect(x.counts()).toEqual({ sent: 0, dropped: 100, queued: 0 });
    x.publish(ev(101));
    await x.stop();
    expect(x.counts()).toEqual({ sent: 0, dropped: 101, queued: 0 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot write \/dev\/full: ENOSPC/);
  });

  it('stdout ("-") gets whole lines, counted sent once written', async () => {
    const out = new PassThrough();
    let text = '';
    out.setEncoding('utf8').on('data', (d: string) => (text += d));
    const x = new FileExporter({ path: '-', max_bytes: 4096, keep: 0, stdout: out });
    await x.start();
    for (let i = 1; i <= 1000; i++) x.publish(ev(i));
    await x.stop();
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(x.counts()).toEqual({ sent: 1000, dropped: 0, queued: 0 });
  });

  it("writes an exit's ancestors only when its filter asked for them (ancestors: true), as /events does", async () => {
    const exit = {
      type: 'exit',
      time: new Date(0).toISOString(),
      pid: 12,
      tid: 12,
      ppid: 11,
      comm: 'sh',
      uid: 0,
      cgroup: '/x',
      cgroup_id: 5,
      ns_pid: 12,
      argv: ['sh'],
      argv_truncated: false,
      ancestors: [{ pid: 11, comm: 'bash' }],
      seq: 1,
    } satisfies StreamEvent;
    const written = async (ancestors?: boolean) => {
      const out = new PassThrough();
      let text = '';
      out.setEncoding('utf8').on('data', (d: string) => (text += d));
      const x = new FileExporter({ path: '-', max_bytes: 4096, keep: 0, stdout: out, ancestors });
      await x.start();
      x.publish(exit);
      await x.stop();
      return JSON.parse(text) as Record<string, unknown>;
    };
    expect(await written(true)).toEqual(exit);
    const { ancestors: _, ...rest } = exit;
    expect(await written(false)).toEqual(rest);
    expect(await written()).toEqual(rest);
  });

  it('more than the buffer holds between two writes drops the oldest, counted', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-file-'));
    const x = new FileExporter({ path: path.join(dir, 'e.ndjson'), max_bytes: 1 << 20, keep: 0, bufferEvents: 10 });
    await x.start();
    for (let i = 1; i <= 25; i++) x.publish(ev(i));
    await x.stop();
    const seqs = fs
      .readFileSync(path.join(dir, 'e.ndjson'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs).toEqual(Array.from({ length: 10 }, (_, i) => i + 16));
    expect(x.counts()).toEqual({ sent: 10, dropped: 15, queued: 0 });
    fs.rmSync(dir, { recursive: true });
  });
});

describe('export.file on a running agent under a fork storm', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-export-file-'));
  const file = path.join(dir, 'out', 'events.ndjson');
  const MAX = 64 * 1024;
  let agent: TestAgent;
  let cg: TestCgroup;

  beforeAll(async () => {
    requireRoot();
    cg = TestCgroup.create('export-file');
    // Only the storm's cgroup: once it is done, nothing rotates the files while the test reads them.
    agent = await TestAgent.start(
      `node_name: filex\nexport:\n  file:\n    path: ${file}\n    max_bytes: 64KiB\n    keep: 1000\n    filter:\n      cgroup: ${cg.path}\n`,
    );
  });

  afterAll(async () => {
    await agent?.stop();
    await cg?.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Every file of the series, oldest first. */
  const files = () =>
    fs
      .readdirSync(path.dirname(file))
      .filter((f) => f.startsWith('events.ndjson'))
      .sort((a, b) => Number(b.split('.')[2] ?? 0) - Number(a.split('.')[2] ?? 0))
      .map((f) => path.join(path.dirname(file), f));

  it('rotates without losing, repeating or tearing a line', async () => {
    // Two storms at once (both CPUs): 2 x 8,000 children, a fork and an exit record each.
    const N = 8000;
    const storm = () =>
      new Promise<number | null>((resolve) => {
        const c = spawn('/bin/sh', ['-c', `echo $$ > ${cg.dir}/cgroup.procs && exec ${workload('forkn')} ${N}`], { stdio: 'ignore' });
        c.on('exit', (code) => resolve(code));
      });
    expect(await Promise.all([storm(), storm()])).toEqual([0, 0]);

    let lines: string[] = [];
    // `whole`: every file must end in a whole line. While the exporter still writes, a read can see
    // its last write half copied into the page cache (a regular file's write is not atomic to a
    // reader): then read again later. Once every exit is in, nothing more is written.
    const read = (whole: boolean) => {
      lines = [];
      for (const f of files()) {
        let text: string;
        try {
          text = fs.readFileSync(f, 'utf8');
        } catch (err) {
          // Rotated away between the listing and the read (the storm still runs): read again later.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return (lines = []);
          throw err;
        }
        const ended = text === '' || text.endsWith('\n');
        if (!ended && !whole) return (lines = []);
        expect(ended, `${f} ends in a whole line`).toBe(true);
        expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX);
        lines.push(...text.split('\n').slice(0, -1));
      }
      return lines;
    };
    const exitsIn = () => read(false).filter((l) => l.includes('"type":"exit"') && l.includes(`"cgroup":"${cg.path}"`)).length;
    await until(
      () => exitsIn() >= 2 * N + 2,
      () => `${2 * N + 2} exits in ${cg.path}, have ${exitsIn()}`,
      60_000,
    );

    read(true);
    const events = lines.map((l) => JSON.parse(l) as { type: string; seq: number; cgroup?: string; node: string });
    const seqs = events.map((e) => e.seq);
    // Once each, in the stream's order.
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]);
    // Exactly the storms: each a move in, forkn's exec, its children's forks and exits, its own exit.
    const count = (t: string) => events.filter((e) => e.type === t).length;
    expect([count('migrate'), count('exec'), count('fork'), count('exit')]).toEqual([2, 2, 2 * N, 2 * N + 2]);
    expect(events.length).toBe(4 * N + 6);
    expect(files().length).toBeGreaterThan(20);

    const text = await scrapeUntil(agent, (t) => metric(t, 'forkwatch_export_queued_events', 'exporter="file"') === 0);
    const sent = metric(text, 'forkwatch_export_events_total', 'exporter="file",outcome="sent"')!;
    expect(sent).toBe(seqs.length);
    expect(metric(text, 'forkwatch_export_events_total', 'exporter="file",outcome="dropped"')).toBe(0);
  }, 120_000);
});
