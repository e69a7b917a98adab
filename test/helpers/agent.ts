/** The built agent (`forkwatch run`) on a loopback port with a config the test writes. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CliProcess } from './cli.js';
import { freePort } from './net.js';

export class TestAgent {
  private constructor(
    readonly proc: CliProcess,
    readonly port: number,
    readonly configPath: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts `forkwatch run` with `configYaml` (the listen address is added) and waits until it serves. */
  /** `env` replaces the agent's environment (e.g. NODE_OPTIONS to cap its heap). */
  static async start(configYaml = '', extraArgs: string[] = [], env?: NodeJS.ProcessEnv): Promise<TestAgent> {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-agent-'));
    const configPath = path.join(dir, 'forkwatch.yaml');
    fs.writeFileSync(configPath, TestAgent.withDefaults(configYaml, port, dir));
    const proc = new CliProcess(['run', '--config', configPath, ...extraArgs], env ? { env } : {});
    await proc.waitFor((p) => p.stderr.includes('serving http://'), 'the agent to serve');
    return new TestAgent(proc, port, configPath);
  }

  /** Adds the listen address and, unless the test sets its own, a socket of this agent's own. */
  private static withDefaults(configYaml: string, port: number, dir: string): string {
    const api = /^api:/m.test(configYaml) ? '' : `api:\n  socket: ${path.join(dir, 'api.sock')}\n`;
    return `listen: "127.0.0.1:${port}"\n${api}${configYaml}`;
  }

  /** The agent's unix socket (when the test did not set api itself). */
  get socket(): string {
    return path.join(path.dirname(this.configPath), 'api.sock');
  }

  async get(pathname: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(this.url + pathname, { headers });
  }

  async json<T>(pathname: string): Promise<T> {
    return (await (await this.get(pathname)).json()) as T;
  }

  /** Writes a new config (listen kept) and sends SIGHUP. */
  reload(configYaml: string): void {
    fs.writeFileSync(this.configPath, TestAgent.withDefaults(configYaml, this.port, path.dirname(this.configPath)));
    this.proc.kill('SIGHUP');
  }

  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.child.exitCode === null && this.proc.child.signalCode === null) this.proc.kill('SIGTERM');
    const r = await this.proc.exited;
    fs.rmSync(path.dirname(this.configPath), { recursive: true, force: true });
    return r;
  }
}

/** SIGTERM, and SIGKILL if the agent has not gone after 20 s: a broken stop must not hang the run. */
export async function stopAgent(agent: TestAgent | undefined): Promise<void> {
  if (!agent) return;
  const timer = setTimeout(() => agent.proc.kill('SIGKILL'), 20_000);
  try {
    await agent.stop();
  } finally {
    clearTimeout(timer);
  }
}
