/** The agent's config from the command line: errors, SIGHUP reload, and the exposition formats. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot } from '../helpers/cgroup.js';
import { runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-config-'));
const write = (name: string, text: string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};

describe('forkwatch run --config errors', () => {
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['unknown key', 'lisen: "127.0.0.1:1"\n', /: \(top level\): unknown key "lisen"; expected one of listen, /],
    ['wrong type', 'bpf:\n  cpu_accounting: "yes"\n', /: bpf\.cpu_accounting: .*; expected true or false/],
    [
      'bad regex',
      'groups:\n  - name: web\n    match: { comm: "([" }\n',
      /: groups\[0\]\.match\.comm: invalid regex "\(\[": .*; expected a regular expression \(RE2 syntax: /,
    ],
    [
      'regex that backtracks',
      'groups:\n  - name: web\n    match: { comm: "(\\\\w+)\\\\1" }\n',
      /: groups\[0\]\.match\.comm: invalid regex "\(\\\\w\+\)\\\\1": backreferences cannot run in linear time/,
    ],
    ['barrier above limit', 'resources:\n  tasks: { barrier: 50, limit: 40 }\n', /: resources\.tasks: barrier 50 is above limit 40; expected barrier <= limit/],
    [
      'unknown resource',
      'resources:\n  sockets: { limit: 4 }\n',
      /: resources: unknown key "sockets"; expected one of tasks, threads, forks_per_second, cpu_cores, memory_bytes/,
    ],
    ['negative value', 'resources:\n  tasks: { limit: -1 }\n', /: resources\.tasks\.limit: .*-1.*; expected /],
    [
      'health http not a URL',
      'programs:\n  - { name: a, command: a, health: { http: "localhost:80" } }\n',
      /: programs\[0\]\.health\.http: "localhost:80" is not an http URL; expected /,
    ],
    [
      'health tcp not host:port',
      'programs:\n  - { name: a, command: a, health: { tcp: "h:x" } }\n',
      /: programs\[0\]\.health\.tcp: "h:x" is not host:port; expected /,
    ],
    [
      'health exec not a command',
      'programs:\n  - { name: a, command: a, health: { exec: { run: x } } }\n',
      /: programs\[0\]\.health\.exec: .* is not a command; expected /,
    ],
    [
      'after in a cycle',
      'programs:\n  - { name: a, command: a, after: [b] }\n  - { name: b, command: b, after: [a] }\n',
      /: programs\[0\]\.after: a cycle: a -> b -> a; expected /,
    ],
  ])('%s: one line naming file and key path, exit 2', (_name, yaml, message) => {
    const file = write(`c${Math.random()}.yaml`, yaml);
    const r = runCli(['run', '--config', file]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(file);
    expect(lines[0]).toMatch(message);
  });

  it('an unreadable file: one line, exit 2', () => {
    const r = runCli(['run', '--config', path.join(dir, 'missing.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^forkwatch: cannot read config .*missing\.yaml: ENOENT/);
  });

  it('a bad --listen: one line, exit 2', () => {
    const r = runCli(['run', '--listen', 'localhost']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('forkwatch: --listen "localhost": expected HOST:PORT, e.g. 127.0.0.1:10510 or [::1]:10510');
  });
});

describe('a running agent', () => {
  let agent: TestAgent;
  beforeAll(async () => {
    requireRoot();
    agent = await TestAgent.start('groups:\n  - name: first\n    match: { cgroup: /forkwatch-none-1 }\n');
  });
  afterAll(async () => {
    const r = await agent?.stop();
    expect(r?.code).toBe(0);
  });

  const metricsText = async () => (await agent.get('/metrics')).text();

  it('keeps the old config when a reloaded one is bad, and takes a good one without resetting counters', async () => {
    const before = await metricsText();
    expect(before).toMatch(/^forkwatch_tasks\{group="first",node="[^"]+"\} 0$/m);
    const forks = (t: string) => Number(/^forkwatch_forks_total\{group="\/",node="[^"]+"\} (\d+)/m.exec(t)![1]);
    agent.reload('groups:\n  - name: first\n    match: { comm: "([" }\n');
    await agent.proc.waitFor((p) => /SIGHUP: .*keeping the previous config/.test(p.stderr), 'the reload error');
    expect(await metricsText()).toMatch(/^forkwatch_tasks\{group="first",node="[^"]+"\} 0$/m);

    agent.reload('groups:\n  - name: first\n    match: { cgroup: /forkwatch-none-1 }\n  - name: second\n    match: { cgroup: /forkwatch-none-2 }\n');
    await agent.proc.waitFor((p) => p.stderr.includes('SIGHUP: reloaded'), 'the reload');
    const after = await metricsText();
    expect(after).toMatch(/^forkwatch_tasks\{group="second",node="[^"]+"\} 0$/m);
    expect(forks(after)).toBeGreaterThanOrEqual(forks(before));
  });

  it('refuses a SIGHUP that changes bpf.flush_interval, in one line naming the key, and keeps the running config', async () => {
    const before = agent.proc.stderr.split('\n').length;
    agent.reload('bpf:\n  flush_interval: 50ms\ngroups:\n  - name: third\n    match: { cgroup: /forkwatch-none-3 }\n');
    await agent.proc.waitFor(
      (p) =>
        p.stderr
          .split('\n')
          .slice(before - 1)
          .some((l) => l.includes('only take effect at start')),
      'the refusal',
    );
    const lines = agent.proc.stderr
      .split('\n')
      .slice(before - 1)
      .filter((l) => l.includes('SIGHUP'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /SIGHUP: bpf\.flush_interval changed, which only take effect at start; keeping the previous config \(restart the agent to apply it\)$/,
    );
    const text = await metricsText();
    expect(text).not.toMatch(/group="third"/);
    expect(text).toMatch(/^forkwatch_tasks\{group="second",node="[^"]+"\} 0$/m);
  });

  it('serves Prometheus text that promtool finds clean, and OpenMetrics on request', async () => {
    const text = await metricsText();
    expect(execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })).toBe('');
    for (const name of [
      'forkwatch_forks_total',
      'forkwatch_exits_total',
      'forkwatch_tasks',
      'forkwatch_threads',
      'forkwatch_cpu_seconds_total',
      'forkwatch_process_lifetime_seconds_bucket',
      'forkwatch_group_info',
      'forkwatch_events_total',
      'forkwatch_events_lost_total',
      'forkwatch_groups',
      'forkwatch_groups_overflow_total',
      'process_cpu_seconds_total',
    ]) {
      expect(text, name).toMatch(new RegExp(`^${name}[{ ]`, 'm'));
    }
    expect(text).not.toMatch(/\bpid="/);
    const om = await agent.get('/metrics', { Accept: 'application/openmetrics-text; version=1.0.0' });
    expect(om.headers.get('content-type')).toMatch(/^application\/openmetrics-text/);
    const body = await om.text();
    expect(body).toMatch(/^# TYPE forkwatch_forks counter$/m);
    expect(body).toMatch(/^forkwatch_forks_total\{group="\/",node="[^"]+"\} \d+$/m);
    expect(body.endsWith('# EOF\n')).toBe(true);
    // The text format is unchanged after an OpenMetrics scrape.
    expect(await metricsText()).toMatch(/^# TYPE forkwatch_forks_total counter$/m);
  });

  it('answers /healthz and /api/groups', async () => {
    const h = await agent.get('/healthz');
    expect(h.status).toBe(200);
    expect(await h.json()).toMatchObject({ status: 'ok' });
    const groups = await agent.json<{ group: string; tasks: number }[]>('/api/groups');
    expect(groups.find((g) => g.group === '/')!.tasks).toBeGreaterThan(0);
  });

  it('forkwatch groups prints the table from the running agent', () => {
    const r = runCli(['groups', '--url', agent.url, '--interval', '0.2', '--sort', 'tasks']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^GROUP\s+KIND\s+TASKS\s+THREADS\s+FORKS\/S\s+CPU%/);
    expect(lines.some((l) => /^\/\s+root\s+\d+/.test(l))).toBe(true);
    const json = runCli(['groups', '--url', agent.url, '--interval', '0.2', '--json']);
    expect((JSON.parse(json.stdout) as { group: string }[]).some((g) => g.group === 'second')).toBe(true);
    const bad = runCli(['groups', '--url', agent.url, '--sort', 'colour']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--sort "colour": expected one of/);
  });
});

describe('forkwatch groups without an agent', () => {
  it('says it cannot reach the agent, in one line', async () => {
    const port = await freePort();
    const r = runCli(['groups', '--url', `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(new RegExp(`^forkwatch: cannot reach the agent at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
  });
});
