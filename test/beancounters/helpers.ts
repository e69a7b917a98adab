/** Helpers of the beancounter kernel tests: C workloads, v1 twins of test cgroups, the accounting log. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestCgroup } from '../helpers/cgroup.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const built = new Map<string, string>();

/** Path of test/beancounters/workloads/<name>.c, compiled once per run. */
export function tool(name: string): string {
  const have = built.get(name);
  if (have) return have;
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-bc-')), name);
  execFileSync('cc', ['-O2', '-o', out, path.join(HERE, 'workloads', `${name}.c`)]);
  built.set(name, out);
  return out;
}

/** Removes the compiled workloads (call from afterAll). */
export function removeTools(): void {
  for (const bin of built.values()) fs.rmSync(path.dirname(bin), { recursive: true, force: true });
  built.clear();
}

/**
 * The cgroup of the same path in a v1 controller's hierarchy (/sys/fs/cgroup/pids/<path>): on a
 * hybrid host that is where pids.max and the memory limit live.
 */
export class V1Twin {
  readonly dir: string;
  constructor(controller: 'pids' | 'memory', cg: TestCgroup) {
    this.dir = path.join('/sys/fs/cgroup', controller, cg.path);
    fs.mkdirSync(this.dir);
  }
  write(file: string, value: string): void {
    fs.writeFileSync(path.join(this.dir, file), value);
  }
  read(file: string): string {
    return fs.readFileSync(path.join(this.dir, file), 'utf8');
  }
  /** `echo $$ > …` for a script that must run in this cgroup too. */
  get joinCommand(): string {
    return `echo $$ > ${path.join(this.dir, 'cgroup.procs')}`;
  }
  /** Removes the cgroup once the processes in it are gone (kill them through the v2 twin first). */
  async remove(): Promise<void> {
    for (let i = 0; i < 250 && fs.existsSync(this.dir); i++) {
      const procs = fs.readFileSync(path.join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      for (const pid of procs) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      try {
        fs.rmdirSync(this.dir);
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}

/** The lines of an NDJSON file (none if it is not there yet). */
export function ndjson<T = Record<string, unknown>>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

/** Epoch ms with the microseconds of an ISO 8601 time (Date.parse stops at milliseconds). */
export function isoMs(iso: string): number {
  const m = /^(.*\.\d{3})(\d*)Z$/.exec(iso);
  if (!m) return Date.parse(iso);
  return Date.parse(`${m[1]}Z`) + (m[2] ? Number(`0.${m[2]}`) : 0);
}

/** `key=value` lines of an env dump. */
export function envFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/**
 * A test cgroup whose removal is queued on `cleanups`: thawed first (a frozen cgroup's tasks
 * still die of SIGKILL, but thawing keeps the removal quick), then emptied and removed.
 */
export function thawingCgroup(label: string, cleanups: Array<() => Promise<void> | void>): TestCgroup {
  const cg = TestCgroup.create(label);
  cleanups.push(async () => {
    try {
      fs.writeFileSync(path.join(cg.dir, 'cgroup.freeze'), '0');
    } catch {
      /* gone already */
    }
    await cg.remove();
  });
  return cg;
}

/** Runs queued cleanups last made first; one that fails is reported and the rest still run. */
export async function runCleanups(cleanups: Array<() => Promise<void> | void>): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c();
    } catch (err) {
      console.error(`cleanup: ${(err as Error).message}`);
    }
  }
}
