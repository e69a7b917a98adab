import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HookRunner, type HookRequest } from '../../src/beancounters/hooks.js';
import { requireRoot, until } from '../helpers/cgroup.js';
import { alive, killIfSame, processAtPid } from '../helpers/pids.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'forkwatch-hooks-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A hook's line in `path`, once whole: the shell creates the file before echo writes to it. */
async function lineIn(path: string): Promise<string> {
  let text = '';
  await until(() => existsSync(path) && (text = readFileSync(path, 'utf8')).endsWith('\n'), `a line in ${path}`, 2000);
  return text.trim();
}

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

function capture() {
  const lines: Array<{ level: 'info' | 'warn'; msg: string }> = [];
  return {
    lines,
    logger: { info: (msg: string) => lines.push({ level: 'info', msg }), warn: (msg: string) => lines.push({ level: 'warn', msg }) },
    text: (level: 'info' | 'warn') =>
      lines
        .filter((l) => l.level === level)
        .map((l) => l.msg)
        .join('\n'),
  };
}

function request(command: string[], over: Partial<HookRequest> = {}): HookRequest {
  return {
    group: 'web',
    resource: 'tasks',
    event: 'barrier',
    held: 150,
    barrier: 100,
    limit: 200,
    cgroup: '/system.slice/web.service',
    command,
    timeout_s: 10,
    ...over,
  };
}

/** Gone or a zombie nobody reaped (a container's PID 1 may not reap): either way, not running. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const runners: HookRunner[] = [];
function runner(logger: { info(m: string): void; warn(m: string): void }, opts: { drain_ms?: number } = {}): HookRunner {
  const r = new HookRunner({ logger, ...opts });
  runners.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.close()));
});

describe('HookRunner with real processes', () => {
  it('passes the FORKWATCH_ environment and the caller’s own', async () => {
    const log = capture();
    const sh = script('env.sh', 'env | grep -E "^(FORKWATCH_|EXTRA=)" | sort');
    const r = await runner(log.logger).run(request([sh], { env: { EXTRA: 'yes' } })).done;
    expect(r.status).toBe('ok');
    const out = log.text('info');
    for (const line of [
      'FORKWATCH_GROUP=web',
      'FORKWATCH_RESOURCE=tasks',
      'FORKWATCH_HELD=150',
      'FORKWATCH_BARRIER=100',
      'FORKWATCH_LIMIT=200',
      'FORKWATCH_EVENT=barrier',
      'FORKWATCH_CGROUP=/system.slice/web.service',
      'EXTRA=yes',
    ]) {
      expect(out).toContain(line);
    }
  });

  it('passes empty values for missing thresholds and cgroup', async () => {
    const log = capture();
    const sh = script('empty.sh', 'echo "b=[$FORKWATCH_BARRIER] l=[$FORKWATCH_LIMIT] c=[$FORKWATCH_CGROUP] e=$FORKWATCH_EVENT"');
    await runner(log.logger).run(request([sh], { barrier: undefined, limit: undefined, cgroup: undefined, event: 'release' })).done;
    expect(log.text('info')).toContain('b=[] l=[] c=[] e=release');
  });

  it('logs stdout lines as info and stderr lines as warnings, without a shell between', async () => {
    const log = capture();
    const sh = script('out.sh', 'echo "one $1"; echo two >&2; printf "no newline"');
    const r = await runner(log.logger).run(request([sh, '$HOME;x'])).done;
    expect(r.status).toBe('ok');
    expect(log.lines.filter((l) => l.level === 'info').map((l) => l.msg.replace(/^.*\]: /, ''))).toEqual(expect.arrayContaining(['one $HOME;x', 'no newline']));
    expect(log.text('warn')).toMatch(/hook web\/tasks barrier \[\d+\]: two/);
  });

  it('kills a hanging hook and what it started after its timeout', async () => {
    const log = capture();
    const pidfile = join(dir, 'child.pid');
    const sh = script('hang.sh', `sleep 30 & echo $! > ${pidfile}; wait`);
    const started = Date.now();
    const r = await runner(log.logger).run(request([sh], { timeout_s: 0.3 })).done;
    expect(r.status).toBe('timeout');
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(log.text('warn')).toContain('killed after 0.3 s timeout');
    const child = Number(readFileSync(pidfile, 'utf8'));
    // SIGKILL is delivered asynchronously: give a loaded machine a moment to finish the kill.
    for (let i = 0; i < 100 && running(child); i++) await new Promise((r) => setTimeout(r, 20));
    expect(running(child)).toBe(false);
  });

  it('logs a failing hook with its exit status', async () => {
    const log = capture();
    const sh = script('fail.sh', 'exit 3');
    const r = await runner(log.logger).run(request([sh])).done;
    expect(r).toMatchObject({ status: 'failed', exitCode: 3, signal: null });
    expect(log.text('warn')).toMatch(/failed: exit status 3/);
  });

  it('logs a hook killed by a signal', async () => {
    const log = capture();
    const sh = script('signal.sh', 'kill -TERM $$');
    const r = await runner(log.logger).run(request([sh])).done;
    expect(r).toMatchObject({ status: 'failed', signal: 'SIGTERM' });
    expect(log.text('warn')).toContain('killed by SIGTERM');
  });

  it('logs a command that cannot start, and does not throw', async () => {
    const log = capture();
    const r = await runner(log.logger).run(request([join(dir, 'missing')])).done;
    expect(r.status).toBe('error');
    expect(log.text('warn')).toMatch(/cannot start .*missing: .*ENOENT/);
    const empty = await runner(log.logger).run(request([])).done;
    expect(empty.status).toBe('error');
  });

  it('never runs two hooks of one key at once, and coalesces to the latest values', async () => {
    const log = capture();
    const lock = join(dir, 'lock');
    const record = join(dir, 'runs.txt');
    writeFileSync(record, '');
    const sh = script(
      'serial.sh',
      `mkdir ${lock} 2>/dev/null || echo OVERLAP >> ${record}\necho "held=$FORKWATCH_HELD" >> ${record}\nsleep 0.3\nrmdir ${lock}`,
    );
    const r = runner(log.logger);
    const handles = [1, 2, 3, 4, 5].map((held) => r.run(request([sh], { held })));
    expect(handles.map((h) => h.coalesced)).toEqual([false, true, true, true, true]);
    expect(r.isRunning('web', 'tasks')).toBe(true);
    const results = await Promise.all(handles.map((h) => h.done));
    expect(readFileSync(record, 'utf8')).toBe('held=1\nheld=5\n');
    // Every coalesced caller learns the outcome of the run that carried the latest values.
    expect(results.map((x) => x.request.held)).toEqual([1, 5, 5, 5, 5]);
    expect(r.isRunning('web', 'tasks')).toBe(false);
  });

  it('queues a different command of the same key instead of dropping it', async () => {
    const log = capture();
    const record = join(dir, 'cmds.txt');
    writeFileSync(record, '');
    const a = script('a.sh', `echo "a $FORKWATCH_EVENT" >> ${record}; sleep 0.2`);
    const b = script('b.sh', `echo "b $FORKWATCH_EVENT" >> ${record}`);
    const r = runner(log.logger);
    const hs = [r.run(request([a], { event: 'barrier' })), r.run(request([b], { event: 'limit' })), r.run(request([a], { event: 'release' }))];
    await Promise.all(hs.map((h) => h.done));
    expect(readFileSync(record, 'utf8')).toBe('a barrier\nb limit\na release\n');
  });

  it('runs hooks of different keys side by side', async () => {
    const log = capture();
    const sh = script('slow.sh', 'sleep 0.5');
    const r = runner(log.logger);
    const started = Date.now();
    const a = r.run(request([sh], { group: 'a' }));
    const b = r.run(request([sh], { group: 'b' }));
    expect([a.coalesced, b.coalesced]).toEqual([false, false]);
    expect(r.isRunning('a', 'tasks') && r.isRunning('b', 'tasks')).toBe(true);
    await Promise.all([a.done, b.done]);
    // One after the other would take at least 1 s.
    expect(Date.now() - started).toBeLessThan(950);
  });

  it('does not wait for a background child holding the output pipe', async () => {
    const log = capture();
    const pidfile = join(dir, 'bg.pid');
    const sh = script('bg.sh', `sleep 5 & echo $! > ${pidfile}; echo started`);
    const started = Date.now();
    const r = await runner(log.logger, { drain_ms: 200 }).run(request([sh])).done;
    expect(r.status).toBe('ok');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(log.text('info')).toContain('started');
    process.kill(Number(readFileSync(pidfile, 'utf8')), 'SIGKILL');
  });

  it('close() kills running hooks, drops queued ones and refuses new ones', async () => {
    const log = capture();
    const pidfile = join(dir, 'closing.pid');
    const sh = script('closing.sh', `echo $$ > ${pidfile}; sleep 30`);
    const r = runner(log.logger);
    const first = r.run(request([sh]));
    const queued = r.run(request([sh], { held: 9 }));
    await lineIn(pidfile);
    await r.close();
    expect((await first.done).status).toBe('closed');
    expect((await queued.done).status).toBe('closed');
    expect(running(Number(readFileSync(pidfile, 'utf8')))).toBe(false);
    expect((await r.run(request([sh])).done).status).toBe('closed');
    expect(log.text('warn')).toContain('the hook runner is closing');
  });

  it('close() after a hook exited never signals its process group by number: the number may be a new group', async () => {
    requireRoot();
    const log = capture();
    const pids = join(dir, 'reuse.pids');
    // The hook leaves a child of its own session holding its output pipe, then exits: the runner
    // waits for the pipe (drain), and the hook's group has no process left.
    const sh = script('leaves.sh', `setsid sleep 30 & echo "$$ $!" > ${pids}; exit 0`);
    const r = runner(log.logger, { drain_ms: 60_000 });
    const done = r.run(request([sh])).done;
    const [hook, bg] = (await lineIn(pids)).split(' ').map(Number);
    try {
      for (let i = 0; i < 100 && existsSync(`/proc/${hook}`); i++) await new Promise((res) => setTimeout(res, 20));
      // A new session leader gets the hook's number: process group <hook> is theirs now.
      const other = processAtPid(hook);
      try {
        await r.close();
        expect((await done).status).toBe('ok');
        await new Promise((res) => setTimeout(res, 100));
        expect(alive(other.pid)).toBe(true);
      } finally {
        killIfSame(other);
      }
    } finally {
      process.kill(bg, 'SIGKILL');
    }
  });

  it('survives a logger that throws', async () => {
    const sh = script('noisy.sh', 'echo hi; echo ho >&2; exit 1');
    const bad = {
      info: () => {
        throw new Error('info');
      },
      warn: () => {
        throw new Error('warn');
      },
    };
    const r = await runner(bad).run(request([sh])).done;
    expect(r.status).toBe('failed');
  });
});
