/**
 * A real NATS JetStream cluster for tests (Debian's nats-server): n servers on loopback, routed to
 * each other, each with its own store; servers can be killed (SIGKILL) and started again on the
 * same ports and store. Ready means each server's /healthz says JetStream is up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ProcessEvent } from '../../src/events/model.js';
import type { NatsExporterOptions } from '../../src/export/nats.js';
import { freePort } from './net.js';

/**
 * A made-up event of `node` with its `seq`, as an exporter is given it. One time for all: the
 * order a reader shows then comes from the chain alone, not from the merge by time.
 */
export function natsEvent(type: 'fork' | 'exec' | 'exit', seq: number, node = 'n1'): ProcessEvent {
  const e: ProcessEvent = {
    type,
    time: '2026-12-06T20:00:00.000001Z',
    pid: 2000 + seq,
    tid: 2000 + seq,
    ppid: 1,
    comm: 'w',
    uid: 0,
    cgroup: '/t',
    cgroup_id: 7,
    ns_pid: 7,
  };
  if (type === 'exec') Object.assign(e, { filename: '/bin/true', argv: ['true'], argv_truncated: false });
  return { ...e, node, seq };
}

/** An exporter of node's events into stream (made by it), small and quick to give up, logging into logs. */
export const exporterOptions = (servers: string[], node: string, stream: string, logs: string[], more: Partial<NatsExporterOptions>): NatsExporterOptions => ({
  servers,
  stream,
  subject_prefix: 'forkwatch',
  create_stream: true,
  replicas: 1,
  max_age_s: 0,
  batch: 16,
  buffer_events: 100,
  node,
  streamId: `run-${node}`,
  log: { info: (m) => logs.push(m), warn: (m) => logs.push(m) },
  stopTimeoutMs: 200,
  ackTimeoutMs: 1000,
  ...more,
});

interface Server {
  name: string;
  port: number;
  clusterPort: number;
  httpPort: number;
  dir: string;
  child?: ChildProcess;
  log: string;
}

export class NatsCluster {
  private constructor(
    private readonly servers: Server[],
    private readonly dir: string,
    private readonly configFile?: string,
  ) {}

  /** `config`: a nats-server config file's text every server reads (authorization, accounts); the flags set the rest. */
  static async start(n = 3, config?: string): Promise<NatsCluster> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-nats-'));
    let configFile: string | undefined;
    if (config !== undefined) {
      configFile = path.join(dir, 'nats.conf');
      fs.writeFileSync(configFile, config);
    }
    const servers: Server[] = [];
    for (let i = 0; i < n; i++) {
      servers.push({
        name: `n${i + 1}`,
        port: await freePort(),
        clusterPort: await freePort(),
        httpPort: await freePort(),
        dir: path.join(dir, `n${i + 1}`),
        log: '',
      });
    }
    const c = new NatsCluster(servers, dir, configFile);
    for (let i = 0; i < n; i++) c.launch(i);
    await Promise.all(servers.map((_, i) => c.ready(i)));
    return c;
  }

  /** nats://127.0.0.1:PORT of every server. */
  get urls(): string[] {
    return this.servers.map((s) => `nats://127.0.0.1:${s.port}`);
  }

  url(i: number): string {
    return this.urls[i];
  }

  private launch(i: number): void {
    const s = this.servers[i];
    const routes = this.servers.filter((o) => o !== s).map((o) => `nats://127.0.0.1:${o.clusterPort}`);
    const args = [
      ...(this.configFile ? ['-c', this.configFile] : []),
      '-a',
      '127.0.0.1',
      '-p',
      String(s.port),
      '-m',
      String(s.httpPort),
      '--server_name',
      s.name,
      '-js',
      '-sd',
      s.dir,
    ];
    if (this.servers.length > 1) args.push('--cluster_name', 'forkwatch-test', '--cluster', `nats://127.0.0.1:${s.clusterPort}`, '--routes', routes.join(','));
    const child = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (s.log = (s.log + d).slice(-4000)));
    s.child = child;
  }

  /** Waits until the server's JetStream is up (the meta group has a leader). */
  async ready(i: number, timeoutMs = 30_000): Promise<void> {
    const s = this.servers[i];
    const start = Date.now();
    for (;;) {
      try {
        const r = await fetch(`http://127.0.0.1:${s.httpPort}/healthz?js-enabled-only=false`);
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      if (s.child?.exitCode != null) throw new Error(`nats-server ${s.name} exited: ${s.log}`);
      if (Date.now() - start > timeoutMs) throw new Error(`nats-server ${s.name} not ready: ${s.log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGKILL: no goodbye to clients or routes. */
  async kill(i: number): Promise<void> {
    const child = this.servers[i].child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }

  /** Starts a killed server again, same ports and store, and waits until it is ready. */
  async restart(i: number): Promise<void> {
    this.launch(i);
    await this.ready(i);
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((_, i) => this.kill(i)));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
