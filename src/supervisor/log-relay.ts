/**
 * Program logs (config `program_logs`): a program's stdout and stderr go to `<dir>/<name>.log`
 * through a log relay, addon/log-relay.c built as build/forkwatch-log-relay. One relay per
 * program start holds the read ends of the program's pipes, stamps each line and writes and
 * rotates the file; it lives in a cgroup of its own next to the programs', outside the agent's,
 * and ends when the pipes do. So the pipes outlive the agent: while an agent is killed and
 * restarted the program writes on, and the agent that adopts it has nothing to reattach.
 * Started from Node's spawn (which takes the fds); the relay is C (about 1 MiB resident), a Node
 * process per program would cost some 40 MiB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, statSync } from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvironmentError, errnoText, UsageError } from '../errors.js';
import { makeCgroup, moveIntoCgroup } from '../host/cgroup-dir.js';
import { LineSplitter } from './lines.js';
import type { Logger } from './types.js';

/** The built relay. */
export const RELAY_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../build/forkwatch-log-relay');

/** The relays' cgroup under the programs' root: "+" is in no program name (config/names.ts). */
export const RELAYS_CGROUP = '+log-relays';

/** What program_logs says, and where the relays run. */
export interface LogRelayOptions {
  dir: string;
  max_bytes: number;
  keep: number;
  /** Absolute directory of the relays' cgroup (RELAYS_CGROUP under the programs' root). */
  cgroupDir: string;
  logger: Logger;
  relayPath?: string;
}

/** A relay started before its program (the shell gate): the ends to give the program as stdout and stderr. */
export interface RelayInput {
  stdout: Socket;
  stderr: Socket;
  /** Drops the agent's copies once the program holds its own (or did not start). */
  close(): void;
}

/** Starts log relays for program starts. */
export class LogRelays {
  private movedWarned = false;

  private constructor(private readonly opts: Required<LogRelayOptions>) {}

  /**
   * Checks the relay is built and makes the directory (0750) and the relays' cgroup. Throws one
   * line: a directory someone other than the agent's user could write to is refused, since a
   * file planted there would be appended to (exit 2); a relay not built is exit 1.
   */
  static async prepare(opts: LogRelayOptions): Promise<LogRelays> {
    const relayPath = opts.relayPath ?? RELAY_PATH;
    try {
      accessSync(relayPath, constants.X_OK);
    } catch (err) {
      throw new EnvironmentError(`program_logs needs the log relay ${relayPath} (${errnoText(err)}); run 'make'`);
    }
    const dir = opts.dir;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o750 });
    } catch (err) {
      throw new UsageError(`program_logs.dir: mkdir ${dir}: ${errnoText(err)}`);
    }
    const st = statSync(dir);
    const uid = process.getuid?.() ?? 0;
    if (!st.isDirectory()) throw new UsageError(`program_logs.dir: ${dir} is not a directory`);
    if (st.uid !== uid || (st.mode & 0o022) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new UsageError(
        `program_logs.dir: ${dir} (owner uid ${st.uid}, mode ${mode}) can be written by others; expected a directory owned by uid ${uid} and writable by it alone`,
      );
    }
    try {
      await makeCgroup(opts.cgroupDir);
    } catch (err) {
      throw new EnvironmentError(`program_logs: mkdir ${opts.cgroupDir}: ${errnoText(err)}`);
    }
    return new LogRelays({ ...opts, relayPath });
  }

  /**
   * Hands a started program's pipe read ends to a new relay and closes the agent's copies. False
   * when the relay could not start (said in the log): the fds are left to the caller then.
   */
  attach(program: string, fds: readonly [number, number]): boolean {
    if (!this.start(program, [fds[0], fds[1]])) return false;
    for (const fd of fds) closeSync(fd);
    return true;
  }

  /** A relay waiting for its program (the shell gate starts the program after), or null when it could not start. */
  open(program: string): RelayInput | null {
    const child = this.start(program, ['pipe', 'pipe']);
    if (!child) return null;
    const [stdout, stderr] = [child.stdio[3] as Socket, child.stdio[4] as Socket];
    return {
      stdout,
      stderr,
      close: () => {
        stdout.destroy();
        stderr.destroy();
      },
    };
  }

  private start(program: string, input: [number, number] | ['pipe', 'pipe']): ChildProcess | null {
    const { dir, max_bytes, keep, logger } = this.opts;
    const child = spawn(this.opts.relayPath, [dir, program, String(max_bytes), String(keep)], {
      stdio: ['ignore', 'ignore', 'pipe', ...input],
      // Its own session: no signal for the agent's process group reaches it.
      detached: true,
    });
    child.on('error', () => undefined);
    if (child.pid === undefined) {
      logger.warn(`program "${program}": log relay ${this.opts.relayPath} did not start; its output goes to this log instead`);
      return null;
    }
    const lines = new LineSplitter();
    child.stderr?.on('data', (chunk: Buffer) => {
      for (const line of lines.push(chunk)) logger.warn(`program "${program}": log relay: ${line}`);
    });
    child.stderr?.on('error', () => undefined);
    child.on('exit', (code, signal) => {
      if (code !== 0) logger.warn(`program "${program}": log relay exited with ${signal ?? `code ${code}`}`);
    });
    // None of it keeps the agent alive: the relay outlives it on purpose.
    child.unref();
    (child.stderr as Socket | null)?.unref();
    moveIntoCgroup(this.opts.cgroupDir, child.pid).catch((err: unknown) => {
      if (this.movedWarned) return;
      this.movedWarned = true;
      logger.warn(`log relays stay in the agent's cgroup: write ${this.opts.cgroupDir}/cgroup.procs: ${errnoText(err)}`);
    });
    return child;
  }
}
