/**
 * ThreadedHooks: hooks run with their environment, results and log lines come back, close() kills
 * what runs, and run() does not wait for the child to start. A worker cannot load TypeScript, so
 * src/beancounters/hook-worker.ts is bundled (test/helpers/hook-worker.ts) and its URL given; the built layout (dist/, the worker found beside hook-thread.js) is covered through
 * the CLI by test/beancounters/agent.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HookRequest } from '../../src/beancounters/hooks.js';
import { ThreadedHooks } from '../../src/beancounters/hook-thread.js';
import { bundleHookWorker, type BundledWorker } from '../helpers/hook-worker.js';
import { envFile } from './helpers.js';

let worker: BundledWorker;
let workerUrl: URL;
beforeAll(async () => {
  worker = await bundleHookWorker();
  workerUrl = worker.url;
});
afterAll(() => worker.remove());

const dirs: string[] = [];
const open: ThreadedHooks[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function setup() {
  const lines: string[] = [];
  const hooks = new ThreadedHooks({ info: (m) => void lines.push(`info: ${m}`), warn: (m) => void lines.push(`warn: ${m}`) }, workerUrl);
  open.push(hooks);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-hookthread-'));
  dirs.push(dir);
  return { hooks, lines, dir };
}

const request = (over: Partial<HookRequest>): HookRequest => ({
  group: 'web',
  resource: 'tasks',
  event: 'barrier',
  held: 21,
  barrier: 20,
  limit: 40,
  cgroup: '/web',
  command: ['/bin/true'],
  timeout_s: 5,
  ...over,
});

describe('ThreadedHooks', () => {
  it('runs a hook with the crossing in its environment and relays its output and result', async () => {
    const { hooks, lines, dir } = setup();
    const file = path.join(dir, 'env');
    const r = await hooks.run(request({ command: ['/bin/sh', '-c', `env > ${file}; echo hello; exit 3`] })).done;
    expect(r).toMatchObject({ status: 'failed', exitCode: 3 });
    expect(envFile(file)).toMatchObject({
      FORKWATCH_GROUP: 'web',
      FORKWATCH_RESOURCE: 'tasks',
      FORKWATCH_EVENT: 'barrier',
      FORKWATCH_HELD: '21',
      FORKWATCH_BARRIER: '20',
      FORKWATCH_LIMIT: '40',
      FORKWATCH_CGROUP: '/web',
    });
    expect(lines.some((l) => /^info: hook web\/tasks barrier \[\d+\]: hello$/.test(l))).toBe(true);
    expect(lines.some((l) => /^warn: hook web\/tasks barrier \[\d+\]: failed: exit status 3 after/.test(l))).toBe(true);
  });

  it('close() kills a running hook and its children, and refuses new ones', async () => {
    const { hooks, lines, dir } = setup();
    const pidFile = path.join(dir, 'pid');
    const running = hooks.run(request({ command: ['/bin/sh', '-c', `sleep 1000 & echo $! > ${pidFile}; wait`], timeout_s: 60 })).done;
    const deadline = Date.now() + 5000;
    while (!fs.existsSync(pidFile) || fs.readFileSync(pidFile, 'utf8') === '') {
      if (Date.now() > deadline) throw new Error('the hook did not start');
      await new Promise((r) => setTimeout(r, 10));
    }
    const child = Number(fs.readFileSync(pidFile, 'utf8'));
    await hooks.close();
    expect((await running).status).toBe('closed');
    await new Promise((r) => setTimeout(r, 100));
    expect(fs.existsSync(`/proc/${child}`) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${child}/status`, 'utf8'))).toBe(false);
    expect((await hooks.run(request({})).done).status).toBe('closed');
    expect(lines.some((l) => l.includes('not run, the hook runner is closed'))).toBe(true);
  });

  it('run() returns before the child exists: starting hooks costs the calling thread nothing', async () => {
    const { hooks } = setup();
    const t0 = performance.now();
    const runs = Array.from({ length: 10 }, (_, i) => hooks.run(request({ group: `g${i}` })).done);
    const spent = performance.now() - t0;
    const results = await Promise.all(runs);
    expect(results.map((r) => r.status)).toEqual(Array(10).fill('ok'));
    // Spawning ten children from this thread would take tens of milliseconds.
    expect(spent).toBeLessThan(10);
  });
});
