/**
 * `forkwatch run --log-format json` (the built agent, as root): every line on stderr is a pino
 * object with level and component, and a supervised program's output is its own child logger's
 * lines. `text`, the default, is what the other agent tests read.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot } from '../helpers/cgroup.js';
import { runCli } from '../helpers/cli.js';

describe('forkwatch run --log-format', () => {
  let agent: TestAgent | undefined;
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  it('json: level, time and component on every line; program output with the program name', async () => {
    requireRoot();
    const name = `talker-${process.pid}`;
    const program = { name, command: ['/bin/sh', '-c', 'echo hello from talker; echo to stderr >&2; exec sleep 60'], restart: 'never' };
    agent = await TestAgent.start(`programs:\n  - ${JSON.stringify(program)}`, ['--log-format', 'json']);
    const proc = agent.proc;
    await proc.waitFor((p) => p.stderr.includes('to stderr'), 'the program output');
    const a = agent;
    agent = undefined;
    expect((await a.stop()).code).toBe(0);

    const lines = proc.stderr.split('\n').filter(Boolean);
    const objs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const o of objs) {
      expect(['info', 'warn', 'error']).toContain(o.level);
      expect(typeof o.component).toBe('string');
      expect(typeof o.msg).toBe('string');
      expect(Date.parse(o.time as string)).toBeGreaterThan(0);
    }
    expect(objs.some((o) => o.level === 'info' && o.component === 'agent' && /^serving http:\/\//.test(o.msg as string))).toBe(true);
    expect(objs).toContainEqual(expect.objectContaining({ level: 'info', component: 'program', program: name, stream: 'stdout', msg: 'hello from talker' }));
    expect(objs).toContainEqual(expect.objectContaining({ level: 'info', component: 'program', program: name, stream: 'stderr', msg: 'to stderr' }));
    expect(objs).toContainEqual(expect.objectContaining({ component: 'agent', msg: 'SIGTERM: stopping' }));
  });

  it('an unknown format is one line and exit 2', () => {
    const r = runCli(['run', '--log-format', 'xml']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^forkwatch: Invalid values:.*log-format.*xml.*"text", "json"/);
  });
});
