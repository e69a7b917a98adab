/**
 * Real cgroups for kernel tests: made under the host's cgroup v2 (or a v1) hierarchy with a unique
 * name, and removed afterwards with everything left in them killed.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { detectHierarchy, type Hierarchy } from '../../src/host/cgroupfs.js';

export class TestCgroup {
  readonly dir: string;
  /** Path under the hierarchy root, as events name it ("/forkwatch-test-…"). */
  readonly path: string;

  private constructor(
    readonly hierarchy: Hierarchy,
    rel: string,
  ) {
    this.path = rel;
    this.dir = path.join(hierarchy.mount, rel);
    fs.mkdirSync(this.dir, { recursive: true });
  }

  /** Makes /forkwatch-test-<label>-<random> (or under `parent`). */
  static create(label: string, opts: { hierarchy?: string; parent?: string } = {}): TestCgroup {
    const h = detectHierarchy(opts.hierarchy ?? 'v2');
    const name = `forkwatch-test-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    return new TestCgroup(h, `${opts.parent ?? ''}/${name}`);
  }

  /** The cgroup id (its directory's inode). */
  get id(): number {
    return fs.statSync(this.dir).ino;
  }

  pids(): number[] {
    try {
      return fs.readFileSync(path.join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** Runs a bash script inside this cgroup: the shell moves itself in before it runs anything. */
  run(script: string): ChildProcess {
    const procs = path.join(this.dir, 'cgroup.procs');
    return spawn('/bin/sh', ['-c', `echo $$ > ${procs} && exec /bin/bash -c "$0"`, script], { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Runs a script inside the cgroup and resolves with its pid and exit status. */
  exec(script: string): Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
    const child = this.run(script);
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    return new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve({ pid: child.pid!, code, signal, stdout }));
    });
  }

  /** Moves an existing process into this cgroup. */
  adopt(pid: number): void {
    fs.writeFileSync(path.join(this.dir, 'cgroup.procs'), `${pid}\n`);
  }

  /** Kills whatever is left and removes the cgroup (children first). */
  async remove(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      const pids = this.pids();
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const removeTree = (dir: string) => {
      for (const d of fs.readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) removeTree(path.join(dir, d.name));
      fs.rmdirSync(dir);
    };
    if (fs.existsSync(this.dir)) removeTree(this.dir);
  }
}

/** Polls until pred() is true; fails with `what` (a function: read when it fails) after timeoutMs. */
export async function until(pred: () => boolean, what: string | (() => string), timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** BPF program ids held open by a process, read from its fdinfo. */
export function bpfProgIds(pid: number | 'self' = 'self'): number[] {
  const ids: number[] = [];
  const dir = `/proc/${pid}/fdinfo`;
  for (const fd of fs.readdirSync(dir)) {
    try {
      const m = /^prog_id:\s+(\d+)/m.exec(fs.readFileSync(`${dir}/${fd}`, 'utf8'));
      if (m) ids.push(Number(m[1]));
    } catch {
      /* fd closed meanwhile */
    }
  }
  return ids;
}

/** Loaded programs' ids, as `bpftool prog list` shows them. */
export function loadedProgIds(): Set<number> {
  const list = JSON.parse(execFileSync('bpftool', ['prog', 'list', '-j'], { encoding: 'utf8' })) as { id: number }[];
  return new Set(list.map((p) => p.id));
}

/** Fails the test (never skips) when not root: kernel tests must run in CI. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('kernel tests need root: run them with sudo (make test)');
}

/**
 * A memory limit of `bytes` for processes of `cg`: cg's own memory.max where the memory controller
 * is on cgroup v2, else a cgroup of the v1 memory hierarchy (hybrid hosts) with that limit. `enter`
 * is the shell line that moves the running shell under the limit; `id` is the memory cgroup's id.
 */
export function memoryLimit(cg: TestCgroup, bytes: number): { id: number; enter: string; remove: () => Promise<void> } {
  const max = path.join(cg.dir, 'memory.max');
  if (fs.existsSync(max)) {
    fs.writeFileSync(max, `${bytes}\n`);
    return { id: cg.id, enter: 'true', remove: async () => {} };
  }
  const mem = TestCgroup.create('memlimit', { hierarchy: 'memory' });
  fs.writeFileSync(path.join(mem.dir, 'memory.limit_in_bytes'), `${bytes}\n`);
  return { id: mem.id, enter: `echo 0 > ${path.join(mem.dir, 'cgroup.procs')}`, remove: () => mem.remove() };
}
