/**
 * A real Prometheus server (Debian's package) for tests: started on loopback with a temporary
 * config that scrapes the given targets every second, queried through its HTTP API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './net.js';

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export class TestPrometheus {
  private log = '';
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly dir: string,
  ) {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.log = (this.log + d).slice(-4000)));
  }

  static async start(targets: string[], opts: { ruleFiles?: string[] } = {}): Promise<TestPrometheus> {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-prom-'));
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      ...(opts.ruleFiles?.length ? ['rule_files:', ...opts.ruleFiles.map((f) => `  - ${f}`)] : []),
      'scrape_configs:',
      '  - job_name: forkwatch',
      '    static_configs:',
      `      - targets: [${targets.map((t) => `"${t}"`).join(', ')}]`,
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), config + '\n');
    const child = spawn(
      'prometheus',
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.enable-lifecycle',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const p = new TestPrometheus(child, port, dir);
    const start = Date.now();
    for (;;) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/-/ready`)).ok) break;
      } catch {
        /* not up yet */
      }
      if (child.exitCode !== null) throw new Error(`prometheus exited: ${p.log}`);
      if (Date.now() - start > 30_000) throw new Error(`prometheus did not get ready: ${p.log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return p;
  }

  /** An instant query; returns the vector's samples. */
  async query(promql: string): Promise<Sample[]> {
    const res = await fetch(`http://127.0.0.1:${this.port}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`);
    if (body.data.resultType === 'scalar') return [{ metric: {}, value: Number((body.data.result as unknown as [number, string])[1]) }];
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /** The single value of a query, or undefined when it has no sample. */
  async value(promql: string): Promise<number | undefined> {
    const r = await this.query(promql);
    return r.length ? r[0].value : undefined;
  }

  /** Polls until the query's single value satisfies pred; returns it (fails with the last value). */
  async waitFor(promql: string, pred: (v: number | undefined) => boolean, timeoutMs = 20_000): Promise<number | undefined> {
    const start = Date.now();
    let v: number | undefined;
    for (;;) {
      v = await this.value(promql);
      if (pred(v)) return v;
      if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting on ${promql}: last value ${v}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Waits for one more completed scrape of every target (so a value read afterwards is fresh). */
  async nextScrape(): Promise<void> {
    const before = await this.value('max(timestamp(up))');
    await this.waitFor('max(timestamp(up))', (v) => v !== undefined && before !== undefined && v > before + 0.5);
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    await new Promise((r) => (this.child.exitCode !== null ? r(null) : this.child.once('exit', r)));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
