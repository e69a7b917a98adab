/**
 * The addon's spawnInCgroup with real processes in a real cgroup, as root: where the child is
 * created, what it inherits (credentials, descriptors, signal state), how its exit and its
 * failures are reported, and that its watch neither leaks nor holds the event loop.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { readdirSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDON_PATH, loadBinding, type NativeBinding, type NativeChild, type NativeExit, type SpawnOptions } from '../../src/host/binding.js';
import { detectCgroup2Mount } from '../../src/host/cgroupfs.js';
import { destroyTree, gone, requireRoot, waitFor } from './cgroup-helpers.js';

let native: NativeBinding;
let rootDir = '';
let cgroupDir = '';
let cgroupPath = '';

beforeAll(async () => {
  requireRoot();
  native = loadBinding();
  const mount = detectCgroup2Mount();
  const root = `/forkwatch-test-spawn-${process.pid}-${Date.now().toString(36)}`;
  rootDir = join(mount, root);
  cgroupPath = `${root}/program`;
  cgroupDir = join(mount, cgroupPath);
  await mkdir(cgroupDir, { recursive: true });
});

afterAll(async () => {
  if (rootDir) await destroyTree(rootDir);
});

interface Run {
  child: NativeChild;
  stdout: string;
  stderr: string;
  exit: NativeExit;
}

/** Output socket that collects what the program writes until EOF. */
function collect(fd: number): { text: () => string; closed: Promise<void> } {
  let text = '';
  const socket = new Socket({ fd, readable: true, writable: false });
  socket.setEncoding('utf8').on('data', (d: string) => (text += d));
  return { text: () => text, closed: new Promise((resolve) => socket.once('close', () => resolve())) };
}

/** Spawn with sensible defaults and wait for the exit and both pipes' EOF. */
async function run(opts: Partial<SpawnOptions> & { script?: string }, during?: (child: NativeChild) => void): Promise<Run> {
  const { script, ...rest } = opts;
  let onExit!: (exit: NativeExit) => void;
  const exited = new Promise<NativeExit>((resolve) => (onExit = resolve));
  const child = native.spawnInCgroup(
    { file: '/bin/sh', argv: ['sh', '-c', script ?? 'true'], envp: ['PATH=/usr/bin:/bin'], cwd: '/', cgroupDir, ...rest },
    onExit,
  );
  const out = collect(child.stdoutFd);
  const err = collect(child.stderrFd);
  during?.(child);
  const [exit] = await Promise.all([exited, out.closed, err.closed]);
  return { child, stdout: out.text(), stderr: err.text(), exit };
}

function statusField(text: string, field: string): string {
  return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '<missing>';
}

describe('spawnInCgroup', () => {
  it("creates the child inside the given cgroup, never in the caller's", async () => {
    const own = /^0::(.*)$/m.exec(await readFile('/proc/self/cgroup', 'utf8'))?.[1];
    // The shell reads its own cgroup before anything could have moved it.
    const r = await run({ script: 'grep "^0::" /proc/$$/cgroup' });
    expect(r.stdout).toBe(`0::${cgroupPath}\n`);
    expect(own).not.toBe(cgroupPath);
    expect(r.exit).toEqual({ code: 0, signal: null });
  });

  it('reports the exit code, the killing signal, and kills through the pidfd', async () => {
    expect((await run({ script: 'echo out; echo err >&2; exit 7' })).exit).toEqual({ code: 7, signal: null });
    expect((await run({ script: 'kill -TERM $$' })).exit).toEqual({ code: null, signal: 'SIGTERM' });
    let child: NativeChild | undefined;
    const killed = await run({ file: '/bin/sleep', argv: ['sleep', '1000'] }, (c) => {
      child = c;
      expect(c.kill(9)).toBe(true);
    });
    expect(killed.exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(child?.kill(9)).toBe(false); // exited: no signal to anyone who took the pid
  });

  it('hands output to the pipes and gives stdin /dev/null', async () => {
    const r = await run({ script: 'echo "to stdout"; echo "to stderr" >&2; readlink /proc/$$/fd/0; cat' });
    expect(r.stdout).toBe('to stdout\n/dev/null\n');
    expect(r.stderr).toBe('to stderr\n');
  });

  it("passes argv, the environment (and nothing else of the caller's) and the directory", async () => {
    process.env.FW_SPAWN_TEST = 'leak';
    try {
      const r = await run({
        argv: ['sh', '-c', 'echo "$0|$1|$FOO|${FW_SPAWN_TEST-unset}|$(pwd)"', 'zero', 'one'],
        envp: ['FOO=bar baz', 'PATH=/usr/bin:/bin'],
        cwd: '/tmp',
      });
      expect(r.stdout).toBe('zero|one|bar baz|unset|/tmp\n');
    } finally {
      delete process.env.FW_SPAWN_TEST;
    }
  });

  it('an exec, a chdir or a cgroup that fails: an error naming the step, the object and the errno', async () => {
    const base = { argv: ['x'], envp: [], cwd: '/', cgroupDir };
    const attempt = (opts: Partial<SpawnOptions>) => {
      try {
        native.spawnInCgroup({ file: '/bin/true', ...base, ...opts }, () => undefined);
      } catch (err) {
        return err as Error & { code: string; errno: number; step: string; object: string };
      }
      throw new Error('spawnInCgroup did not throw');
    };
    expect(attempt({ file: '/nonexistent/forkwatch-exe' })).toMatchObject({
      message: 'execve(/nonexistent/forkwatch-exe): No such file or directory',
      code: 'ENOENT',
      errno: 2,
      step: 'execve',
      object: '/nonexistent/forkwatch-exe',
    });
    expect(attempt({ cwd: '/nonexistent-forkwatch-dir' })).toMatchObject({ code: 'ENOENT', step: 'chdir', object: '/nonexistent-forkwatch-dir' });
    expect(attempt({ cgroupDir: join(rootDir, 'missing') })).toMatchObject({ code: 'ENOENT', step: 'open', object: join(rootDir, 'missing') });
    // As nobody, root's directory cannot be entered: the drop happens before the exec.
    expect(attempt({ file: '/root/forkwatch-none', uid: 65534, gid: 65534, groups: [] })).toMatchObject({ code: 'EACCES', step: 'execve' });
    // The failed children were reaped on the spot: no zombie of them is left in the cgroup.
    expect((await readFile(join(cgroupDir, 'cgroup.procs'), 'utf8')).trim()).toBe('');
  });

  it('runs a script without #! through /bin/sh, as execvp does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'forkwatch-spawn-'));
    try {
      const script = join(dir, 'script');
      await writeFile(script, 'echo "from-script $1"\n', { mode: 0o755 });
      expect((await run({ file: script, argv: [script, 'arg1'] })).stdout).toBe('from-script arg1\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('drops to the given uid, gid and supplementary groups, or clears the groups', async () => {
    const script = 'grep -E "^(Uid|Gid|Groups):" /proc/$$/status';
    const dropped = await run({ script, uid: 65534, gid: 65534, groups: [65534, 100] });
    expect(statusField(dropped.stdout, 'Uid')).toMatch(/^65534\s+65534\s+65534\s+65534$/);
    expect(statusField(dropped.stdout, 'Gid')).toMatch(/^65534\s+65534\s+65534\s+65534$/);
    expect(statusField(dropped.stdout, 'Groups')).toBe('100 65534');
    const cleared = await run({ script, uid: 65534, gid: 65534, groups: [] });
    expect(statusField(cleared.stdout, 'Groups')).toBe('');
    const kept = await run({ script });
    expect(statusField(kept.stdout, 'Uid')).toMatch(/^0\s+0\s+0\s+0$/);
  });

  it('leaves the program no descriptor beyond 0, 1 and 2', async () => {
    expect(readdirSync('/proc/self/fd').length).toBeGreaterThan(10); // the caller has plenty
    const r = await run({ script: 'ls /proc/$$/fd' });
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(['0', '1', '2']);
  });

  it('starts the program with no signal blocked, none handled, and only SIGPIPE ignored', async () => {
    const handler = () => undefined;
    process.on('SIGUSR2', handler); // a handler in the caller must not become the program's
    try {
      const r = await run({ file: '/bin/cat', argv: ['cat', '/proc/self/status'] });
      expect(statusField(r.stdout, 'SigBlk')).toBe('0000000000000000');
      expect(statusField(r.stdout, 'SigIgn')).toBe('0000000000001000'); // bit 13 - 1: SIGPIPE
      expect(statusField(r.stdout, 'SigCgt')).toBe('0000000000000000');
    } finally {
      process.off('SIGUSR2', handler);
    }
  });

  it('gets its status even while Node reaps children of its own', async () => {
    const busy = Array.from({ length: 10 }, () => spawn('/bin/true'));
    const r = await run({ script: 'sleep 0.2; exit 5' }, () => {
      for (let i = 0; i < 10; i++) busy.push(spawn('/bin/true'));
    });
    expect(r.exit).toEqual({ code: 5, signal: null });
    await Promise.all(busy.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.once('exit', resolve)))));
  });

  it('closes its pidfd and pipes once the program is gone: no descriptor left behind', async () => {
    const before = (await readdir('/proc/self/fd')).length;
    await Promise.all(Array.from({ length: 20 }, (_, i) => run({ script: `echo ${i}; exit ${i % 3}` })));
    await waitFor('the descriptors to close', async () => (await readdir('/proc/self/fd')).length <= before, 5000);
  });

  it('keeps Node running until the exit, unless unref()ed', async () => {
    const script = (unref: boolean, seconds: number) => `
      const net = require('node:net');
      const b = require(${JSON.stringify(ADDON_PATH)});
      const c = b.spawnInCgroup({ file: '/bin/sleep', argv: ['sleep', '${seconds}'], envp: [], cwd: '/', cgroupDir: ${JSON.stringify(cgroupDir)} },
        (e) => console.log('exit ' + JSON.stringify(e)));
      const s = [c.stdoutFd, c.stderrFd].map((fd) => new net.Socket({ fd, readable: true, writable: false }));
      console.log('pid ' + c.pid);
      if (${unref}) { c.unref(); s.forEach((x) => x.unref()); }`;
    const held = spawnSync(process.execPath, ['-e', script(false, 0.3)], { encoding: 'utf8', timeout: 10_000 });
    expect(held.stdout).toMatch(/^pid \d+\nexit \{"code":0,"signal":null\}\n$/);
    const t0 = Date.now();
    const free = spawnSync(process.execPath, ['-e', script(true, 1000)], { encoding: 'utf8', timeout: 10_000 });
    expect(free.status).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    const pid = Number(/^pid (\d+)$/m.exec(free.stdout)?.[1]);
    expect(free.stdout).not.toMatch(/exit/);
    // The program outlived the Node that started it, in its cgroup.
    expect(await gone(pid)).toBe(false);
    expect((await readFile(join(cgroupDir, 'cgroup.procs'), 'utf8')).split('\n')).toContain(String(pid));
    process.kill(pid, 'SIGKILL');
    await waitFor('the orphan to go', () => gone(pid));
  });
});
