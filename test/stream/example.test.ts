/**
 * docs/examples/restart-on-exit.mjs, the library example, against a real agent: it imports
 * `forkwatch` as a user's program would, and restarts a process each time it is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { ROOT } from '../helpers/cli.js';

const EXAMPLE = path.join(ROOT, 'docs/examples/restart-on-exit.mjs');

describe('docs/examples/restart-on-exit.mjs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-example-'));
  // A program with a name of its own (comm is the file name): a copy of sleep.
  const victim = path.join(dir, 'fw-victim');
  let agent: TestAgent;
  let cg: TestCgroup;
  let example: ChildProcess | undefined;
  let out = '';

  beforeAll(async () => {
    requireRoot();
    fs.copyFileSync('/bin/sleep', victim);
    fs.chmodSync(victim, 0o755);
    cg = TestCgroup.create('example');
    agent = await TestAgent.start('node_name: example\n');
  });

  afterAll(async () => {
    if (example && example.exitCode === null) example.kill('SIGKILL');
    await cg?.remove();
    await agent?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('restarts the watched process in its cgroup each time it dies, and leaves others alone', async () => {
    example = spawn(process.execPath, [EXAMPLE, '--from', `unix:${agent.socket}`, '--cgroup', cg.path, '--comm', '^fw-victim$', '--', victim, '300'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    example.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    example.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
    await until(() => out.includes('watching'), `the example to connect: ${out}`);
    expect(out).toContain(`restart-on-exit: watching ${cg.path} for exits of ^fw-victim$ (node example)`);

    const comm = (p: number) => {
      try {
        return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim();
      } catch {
        return undefined;
      }
    };
    // Running as fw-victim: killed while still the shell that execs it, it would not be watched.
    const victimRunning = (not?: number) => cg.pids().length === 1 && cg.pids()[0] !== not && comm(cg.pids()[0]) === 'fw-victim';
    cg.run(`exec ${victim} 300`);
    await until(() => victimRunning(), 'the first victim');
    let pid = cg.pids()[0];
    for (const [i, sig] of (['SIGKILL', 'SIGTERM'] as const).entries()) {
      process.kill(pid, sig);
      await until(() => victimRunning(pid), `restart ${i + 1}`).catch((err: Error) => {
        throw new Error(`${err.message}; the example said:\n${out}`);
      });
      const next = cg.pids()[0];
      const said = `restart-on-exit: fw-victim (pid ${pid}) exited with signal ${sig}; started again as pid ${next}`;
      await until(() => out.includes(said), `the example to say: ${said}`);
      pid = next;
    }

    // Another command in the same cgroup dying is not its business.
    const other = await cg.exec('/bin/sleep 0.01');
    expect(other.code).toBe(0);
    // The stream is in order: once the example has restarted a victim killed after that exit, it
    // has seen (or been spared) that exit, and a restart for it would already show.
    process.kill(pid, 'SIGKILL');
    await until(() => victimRunning(pid), 'restart 3').catch((err: Error) => {
      throw new Error(`${err.message}; the example said:\n${out}`);
    });
    const last = cg.pids()[0];
    const said = `restart-on-exit: fw-victim (pid ${pid}) exited with signal SIGKILL; started again as pid ${last}`;
    await until(() => out.includes(said), `the example to say: ${said}`);
    expect(cg.pids()).toEqual([last]);
    expect(out.match(/started again/g)).toHaveLength(3);

    example.kill('SIGTERM');
    const code = await new Promise((r) => example!.on('exit', r));
    expect(code).toBe(0);
  });
});
