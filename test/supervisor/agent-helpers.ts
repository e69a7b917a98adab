/** Talking to a built agent that supervises programs: its API, its event stream, the CLI. */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { ProgramStatus } from '../../src/supervisor/types.js';
import { CLI } from '../helpers/cli.js';
import { waitFor } from './cgroup-helpers.js';

/** `programs:` YAML from plain objects (JSON is YAML 1.2, and needs no quoting thought). */
export function programsYaml(programs: Record<string, unknown>[]): string {
  return ['programs:', ...programs.map((p) => `  - ${JSON.stringify(p)}`)].join('\n');
}

/** One request to the agent's API over its unix socket. */
export function api<T>(socket: string, method: 'GET' | 'POST', pathname: string): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path: pathname }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: (res.headers['content-type']?.includes('json') ? JSON.parse(text) : text) as T });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

export async function status(socket: string, program: string): Promise<ProgramStatus> {
  const { body } = await api<ProgramStatus[]>(socket, 'GET', '/api/programs');
  const p = body.find((x) => x.name === program);
  if (!p) throw new Error(`program ${program} not in /api/programs: ${JSON.stringify(body.map((x) => x.name))}`);
  return p;
}

export async function waitStatus(
  socket: string,
  program: string,
  pred: (p: ProgramStatus) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<ProgramStatus> {
  let last: ProgramStatus | undefined;
  await waitFor(`${program}: ${what} (last: ${JSON.stringify(last)})`, async () => pred((last = await status(socket, program))), timeoutMs).catch(() => {
    throw new Error(`timed out waiting for ${program}: ${what}; last status ${JSON.stringify(last)}`);
  });
  return last!;
}

/**
 * The built CLI to completion, without blocking this process's event loop (runCli's spawnSync
 * would stop us reading the agent's stderr, and an agent blocked on a full pipe stops too).
 */
export function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const start = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - start }));
  });
}

export interface EventReader {
  events: Record<string, unknown>[];
  close(): void;
}

/** The agent's /events stream over its unix socket, filtered to `types`, collected as it comes. */
export function readEvents(socket: string, types: string): EventReader {
  const reader: EventReader = { events: [], close: () => req.destroy() };
  let partial = '';
  const req = http.request({ socketPath: socket, path: `/events?events=${types}` }, (res) => {
    res.setEncoding('utf8').on('data', (d: string) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.startsWith('{')) reader.events.push(JSON.parse(line) as Record<string, unknown>);
    });
    res.on('error', () => undefined);
  });
  req.on('error', () => undefined);
  req.end();
  return reader;
}
