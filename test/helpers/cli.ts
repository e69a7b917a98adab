/** Runs the built CLI the way a person does: a process with argv, exit code, stdout, stderr. */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'bin/forkwatch.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `forkwatch ...args` to completion. `prefix` runs it through another program (setpriv …). */
export function runCli(args: string[], opts: { prefix?: string[]; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const argv = [...(opts.prefix ?? []), process.execPath, CLI, ...args];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000, env: opts.env ?? process.env });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** A CLI process left running (forkwatch tail, forkwatch run) with its output collected. */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], opts: SpawnOptions = {}) {
    this.child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    // 'exit' can come before the last output is read: wait for the pipes to close too, but not for
    // ever (a program the agent left running may hold them).
    const closed = new Promise<void>((resolve) => this.child.on('close', () => resolve()));
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        const late = setTimeout(() => resolve({ code, signal }), 2000);
        void closed.then(() => {
          clearTimeout(late);
          resolve({ code, signal });
        });
      }),
    );
  }

  /**
   * Resolves once stderr shows `m`. A line the process has written may not have been read yet
   * when something it did after writing it is already visible (a cgroup file, an HTTP answer):
   * wait for it rather than expect it at once.
   */
  async logged(m: string | RegExp, timeoutMs = 15_000): Promise<void> {
    const has = (p: CliProcess) => (typeof m === 'string' ? p.stderr.includes(m) : m.test(p.stderr));
    await this.waitFor(has, `stderr to show ${String(m)}`, timeoutMs);
  }

  /** Resolves when `pred` holds for the output so far; rejects after timeoutMs or on exit. */
  async waitFor(pred: (p: CliProcess) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const start = Date.now();
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (!pred(this)) {
      if (exited) throw new Error(`forkwatch exited while waiting for ${what}; stderr: ${this.stderr}`);
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}; stderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** JSON lines printed so far. */
  jsonLines<T = Record<string, unknown>>(): T[] {
    return this.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as T);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.child.kill(signal);
  }
}
