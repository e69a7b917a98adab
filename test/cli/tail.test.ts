/** `forkwatch tail` as a person runs it: the built CLI, real processes, real cgroups. */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PATTERN_EXPECTED } from '../../src/config/regex.js';
import type { ProcessEvent } from '../../src/events/model.js';
import { bpfProgIds, loadedProgIds, memoryLimit, requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { CLI, CliProcess, runCli } from '../helpers/cli.js';
import { expectIdentity, IDENTITY_SCRIPT } from '../helpers/identity.js';
import { workload } from '../helpers/workloads.js';

const cgroups: TestCgroup[] = [];
afterEach(async () => {
  for (const cg of cgroups.splice(0)) await cg.remove();
});

async function tail(args: string[]): Promise<CliProcess> {
  const p = new CliProcess(['tail', '--json', ...args]);
  await p.waitFor((x) => x.stderr.includes('tailing'), 'tail to attach');
  return p;
}

describe('forkwatch tail', () => {
  it('shows one fork and one exit for a process with 8 threads, and the threads only with --threads', async () => {
    requireRoot();
    const threads = workload('threads');
    const cg = TestCgroup.create('threads');
    cgroups.push(cg);
    const plain = await tail(['--cgroup', cg.path]);
    const withThreads = await tail(['--cgroup', cg.path, '--threads']);
    const run = await cg.exec(`${threads} 8; true`);
    expect(run.code).toBe(0);
    const done = (p: CliProcess) => p.jsonLines<ProcessEvent>().some((e) => e.type === 'exit' && e.pid === run.pid);
    await plain.waitFor(done, 'the script exit (plain)');
    await withThreads.waitFor(done, 'the script exit (--threads)');
    plain.kill('SIGINT');
    withThreads.kill('SIGINT');
    expect((await plain.exited).code).toBe(0);
    expect((await withThreads.exited).code).toBe(0);

    const ofWorkload = (p: CliProcess) => p.jsonLines<ProcessEvent>().filter((e) => e.comm === 'threads' || (e.type === 'fork' && e.ppid === run.pid));
    const a = ofWorkload(plain);
    expect(a.filter((e) => e.type === 'fork')).toHaveLength(1); // bash forks once for `threads`
    expect(a.filter((e) => e.type === 'exit' && e.comm === 'threads')).toHaveLength(1);
    expect(a.some((e) => e.thread)).toBe(false);

    const b = withThreads.jsonLines<ProcessEvent>().filter((e) => e.comm === 'threads');
    expect(b.filter((e) => e.type === 'fork' && e.thread)).toHaveLength(8);
    expect(b.filter((e) => e.type === 'exit' && e.thread)).toHaveLength(8);
    expect(b.filter((e) => e.type === 'exit' && !e.thread)).toHaveLength(1);
    const exit = b.find((e) => e.type === 'exit' && !e.thread)!;
    expect(exit).toMatchObject({ exit_code: 0, signal: null, core_dumped: false, cgroup: cg.path });
    expect(exit.lifetime_s).toBeGreaterThan(0);
    expect(exit.cpu_s).toBeGreaterThanOrEqual(0);
  });

  it('--failed says why: OOM-killed, and who sent a fatal signal (a process, or the kernel for a segfault)', async () => {
    requireRoot();
    const cg = TestCgroup.create('why');
    const killers = TestCgroup.create('whykill');
    cgroups.push(cg, killers);
    const limit = memoryLimit(cg, 32 << 20);
    try {
      const human = new CliProcess(['tail', '--cgroup', cg.path, '--failed']);
      await human.waitFor((x) => x.stderr.includes('tailing'), 'tail to attach');
      const json = await tail(['--cgroup', cg.path, '--failed']);
      const victim = cg.run('exec sleep 30');
      await until(() => cg.pids().includes(victim.pid!) && fs.readFileSync(`/proc/${victim.pid}/comm`, 'utf8').trim() === 'sleep', 'the sleep');
      const killer = await killers.exec(`kill -TERM ${victim.pid}`);
      const segv = await cg.exec(`ulimit -c 0; exec /usr/bin/python3 -c 'import ctypes; ctypes.string_at(0)'`);
      const oom = await cg.exec(`${limit.enter}; exec /usr/bin/python3 -c 'b = b"x" * (256 << 20)'`);
      expect([segv.signal, oom.signal]).toEqual(['SIGSEGV', 'SIGKILL']);
      await json.waitFor((p) => p.jsonLines().length >= 3, 'three failed exits');
      await human.waitFor((p) => p.stdout.includes('OOM-killed'), 'the OOM line');
      human.kill('SIGINT');
      json.kill('SIGINT');
      await human.exited;
      await json.exited;
      const byPid = new Map(json.jsonLines<ProcessEvent>().map((e) => [e.pid, e]));
      expect(byPid.get(victim.pid!)).toMatchObject({ signal: 'SIGTERM', signal_sender: { pid: killer.pid, comm: 'bash', cgroup: killers.path } });
      expect(byPid.get(segv.pid)).toMatchObject({ signal: 'SIGSEGV', signal_sender: 'kernel' });
      expect(byPid.get(segv.pid)!.oom_killed).toBeUndefined();
      expect(byPid.get(oom.pid)).toMatchObject({ signal: 'SIGKILL', signal_sender: 'kernel', oom_killed: true, oom_scope: 'cgroup', oom_cgroup_id: limit.id });
      const lines = human.stdout.split('\n');
      // Each with the command it ran, from its exec record.
      expect(lines.find((l) => l.includes(` ${victim.pid} `))).toMatch(
        new RegExp(`signal SIGTERM from ${killer.pid} bash ${killers.path} after \\S+: sleep 30$`),
      );
      expect(lines.find((l) => l.includes(` ${segv.pid} `))).toMatch(
        /signal SIGSEGV from kernel after \S+: \/usr\/bin\/python3 -c 'import ctypes; ctypes\.string_at\(0\)'$/,
      );
      expect(lines.find((l) => l.includes(` ${oom.pid} `))).toMatch(
        /OOM-killed \(memory cgroup at its limit\) after \S+: \/usr\/bin\/python3 -c 'b = b"x" \* \(256 << 20\)'$/,
      );
    } finally {
      await limit.remove();
    }
  });

  it('gives every exit its identity from the process table: filename, argv, cwd, parent, and --ancestors', async () => {
    requireRoot();
    const cg = TestCgroup.create('identity');
    cgroups.push(cg);
    const plain = await tail(['--cgroup', cg.path, '--events', 'exit']);
    const chain = await tail(['--cgroup', cg.path, '--events', 'exit', '--ancestors']);
    const human = new CliProcess(['tail', '--cgroup', cg.path, '--events', 'exit', '--ancestors']);
    await human.waitFor((x) => x.stderr.includes('tailing'), 'tail to attach');
    const run = await cg.exec(IDENTITY_SCRIPT);
    expect(run.code).toBe(0);
    const done = (p: CliProcess) => p.jsonLines<ProcessEvent>().some((e) => e.pid === run.pid);
    await plain.waitFor(done, 'the script exit (plain)');
    await chain.waitFor(done, 'the script exit (--ancestors)');
    await human.waitFor((p) => p.stdout.includes(`bash(${run.pid})`), 'the human chain');
    for (const p of [plain, chain, human]) p.kill('SIGINT');
    await Promise.all([plain.exited, chain.exited, human.exited]);

    const sh = (p: CliProcess) => p.jsonLines<ProcessEvent>().find((e) => e.comm === 'sh' && e.ppid === run.pid)!;
    const sub = (p: CliProcess) => p.jsonLines<ProcessEvent>().find((e) => e.exit_code === 3)!;
    expectIdentity(plain.jsonLines<ProcessEvent>(), run.pid);
    expect(sh(plain).ancestors).toBeUndefined();
    const sleep = plain.jsonLines<ProcessEvent>().find((e) => e.comm === 'sleep')!;
    expect(sleep).toMatchObject({ filename: '/bin/sleep', argv: ['/bin/sleep', '0.2'], cwd: '/tmp', parent_comm: 'sh' });
    // Ancestors up to the cgroup's boundary: sh and the script's bash, not the test runner outside.
    const anc = sub(chain).ancestors!;
    expect(anc.map((a) => [a.pid, a.comm, a.filename])).toEqual([
      [sh(chain).pid, 'sh', '/bin/sh'],
      [run.pid, 'bash', '/bin/bash'],
    ]);
    expect(anc[0].id).toMatch(new RegExp(`^[0-9a-f]{16}-${sh(chain).pid}-\\d+$`));
    const line = human.stdout.split('\n').find((l) => l.includes(` ${sub(chain).pid} `))!;
    expect(line).toMatch(/code 3 after \S+: \/bin\/sh -c '\/bin\/sleep 0\.2; \( exit 3 \); exit 0' ← /);
    expect(line).toMatch(new RegExp(`← sh\\(${sh(chain).pid}\\) ← bash\\(${run.pid}\\)$`));
  });

  it('filters by --failed, --events, --comm and --pid --tree, and stops after --count', async () => {
    requireRoot();
    const cg = TestCgroup.create('filters');
    cgroups.push(cg);
    const failed = await tail(['--cgroup', cg.path, '--failed']);
    const execs = await tail(['--cgroup', cg.path, '--events', 'exec', '--comm', '^ech']);
    const counted = await tail(['--cgroup', cg.path, '--count', '3']);
    const run = await cg.exec('( exit 0 ); ( exit 4 ); /bin/echo hi; /bin/sleep 0.01; ( kill -TERM $BASHPID ); true');
    await failed.waitFor((p) => p.jsonLines().length >= 2, 'two failed exits');
    await execs.waitFor((p) => p.jsonLines().length >= 1, 'the echo exec');
    const counts = await counted.exited;
    expect(counts.code).toBe(0);
    expect(counted.jsonLines()).toHaveLength(3);
    failed.kill('SIGINT');
    execs.kill('SIGINT');
    await failed.exited;
    await execs.exited;
    expect(failed.jsonLines<ProcessEvent>().map((e) => e.signal ?? e.exit_code)).toEqual([4, 'SIGTERM']);
    expect(execs.jsonLines<ProcessEvent>().map((e) => [e.type, e.filename, e.argv])).toEqual([['exec', '/bin/echo', ['/bin/echo', 'hi']]]);
    expect(run.code).toBe(0);

    // --tree follows descendants of a pid, including ones born after tail started.
    const go = path.join(os.tmpdir(), `forkwatch-tree-${process.pid}`);
    fs.rmSync(go, { force: true });
    const parent = cg.run(`while [ ! -e ${go} ]; do sleep 0.02; done; ( ( exit 9 ) ); sleep 0.2`);
    const tree = await tail(['--pid', String(parent.pid), '--tree', '--events', 'exit']);
    fs.writeFileSync(go, '');
    await tree.waitFor((p) => p.jsonLines<ProcessEvent>().some((e) => e.pid === parent.pid), 'the tree root to exit');
    tree.kill('SIGINT');
    await tree.exited;
    const codes = tree.jsonLines<ProcessEvent>().map((e) => e.exit_code);
    expect(codes).toContain(9);
    fs.rmSync(go, { force: true });
    expect(tree.jsonLines<ProcessEvent>().every((e) => e.cgroup === cg.path)).toBe(true);
  });

  it('prints a migrate with from_cgroup and cgroup', async () => {
    requireRoot();
    const a = TestCgroup.create('mig-a');
    const b = TestCgroup.create('mig-b');
    cgroups.push(a, b);
    const child = a.run('exec sleep 30');
    await until(() => a.pids().length === 1, 'sleep in cgroup a');
    const p = await tail(['--events', 'migrate', '--cgroup', b.path]);
    b.adopt(child.pid!);
    await p.waitFor((x) => x.jsonLines().length >= 1, 'the migrate');
    p.kill('SIGINT');
    await p.exited;
    expect(p.jsonLines<ProcessEvent>()[0]).toMatchObject({ type: 'migrate', pid: child.pid, from_cgroup: a.path, cgroup: b.path });
  });

  it('leaves no BPF program behind after SIGTERM', async () => {
    requireRoot();
    const p = await tail([]);
    const ids = bpfProgIds(p.child.pid);
    expect(new Set(ids).size).toBeGreaterThanOrEqual(6);
    p.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
    await until(
      () => {
        const loaded = loadedProgIds();
        return ids.every((id) => !loaded.has(id));
      },
      'the programs to be freed',
      5000,
    );
  });

  it('run without privileges: one clear line, non-zero exit, no stack', () => {
    requireRoot(); // to switch to nobody
    const r = runCli(['tail', '--duration', '1'], { prefix: ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all'] });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^forkwatch: cannot load BPF programs: .*(sudo|CAP_BPF)/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it.each([
    [['tail', '--pid', 'abc'], /--pid "abc": expected a process id/],
    [['tail', '--events', 'fork,spawn'], /unknown event type "spawn"; expected .*fork, exec, exit, migrate/],
    [['tail', '--comm', '(['], /--comm "\(\[": .*expected a regular expression/],
    [['tail', '--tree'], /--tree needs --pid/],
    [['tail', '--cgroup', 'system.slice'], /--cgroup "system.slice": expected a path/],
    [['tail', '--duration', '-1'], /--duration "-1": expected a number of seconds/],
    [['tail', '--ring-buffer', '3MiB'], /--ring-buffer "3MiB": expected a power of two/],
    [['tail', '--bogus'], /Unknown argument: bogus/],
    [['tial'], /unknown command "tial"; did you mean tail\?/],
  ])('bad input %j: one usage line, exit 2', (args, message) => {
    const r = runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  it('--from accepts the agent event types (restart, barrier, …) that a local tail does not', () => {
    const ok = runCli(['tail', '--from', 'unix:/nonexistent/forkwatch.sock', '--events', 'restart,barrier', '--duration', '0.3']);
    expect(ok.code).toBe(0);
    const local = runCli(['tail', '--events', 'restart']);
    expect(local.code).toBe(2);
    expect(local.stderr).toMatch(/unknown event type "restart"/);
  });

  it('doctor reports every requirement as ok on this host', () => {
    requireRoot();
    const r = runCli(['doctor']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(10);
    expect(lines.every((l) => l.startsWith('ok'))).toBe(true);
    // And as nobody it says what is wrong and how to fix it.
    const n = runCli(['doctor'], { prefix: ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all'] });
    expect(n.code).toBe(1);
    expect(n.stdout).toMatch(/FAIL\s+privileges\s+.*sudo/);
    void execFileSync;
  });
});

describe('forkwatch tail --comm', () => {
  it.each([
    ['(a)\\1', 'backreferences cannot run in linear time (invalid escape sequence: \\1)'],
    ['(?=x)y', 'lookahead and lookbehind cannot run in linear time (invalid perl operator: (?=)'],
    ['a{1000}', 'the repetition {1000} is above {100}'],
  ])('%s: one line, exit 2, before anything is loaded', (comm, reason) => {
    const r = runCli(['tail', '--comm', comm]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`forkwatch: --comm ${JSON.stringify(comm)}: ${reason}; expected ${PATTERN_EXPECTED}\n`);
  });
});

describe('forkwatch tail output', () => {
  it('writes --json straight to a file: every line whole and valid, every event of the workload there once', async () => {
    requireRoot();
    const cg = TestCgroup.create('tofile');
    cgroups.push(cg);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fw-tail-')), 'out.json');
    const fd = fs.openSync(file, 'w');
    const child = spawn(process.execPath, [CLI, 'tail', '--json', '--cgroup', cg.path], { stdio: ['ignore', fd, 'pipe'] });
    fs.closeSync(fd);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until(
        () => stderr.includes('tailing'),
        () => `tail to attach; stderr: ${stderr}`,
      );
      const run = await cg.exec('for i in $(seq 200); do /bin/true "a\\"b\\\\c"; done');
      expect(run.code).toBe(0);
      const lines = () => fs.readFileSync(file, 'utf8').split('\n');
      await until(() => lines().some((l) => l.startsWith('{"type":"exit"') && l.includes(`"pid":${run.pid},`)), 'the script exit in the file');
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      const all = lines();
      expect(all.pop()).toBe(''); // ends with a newline: no line cut in half
      const events = all.map((l) => JSON.parse(l) as ProcessEvent);
      const execs = events.filter((e) => e.type === 'exec' && e.comm === 'true');
      expect(execs).toHaveLength(200);
      for (const e of execs) expect(e.argv).toEqual(['/bin/true', 'a"b\\c']);
      const pids = new Set(execs.map((e) => e.pid));
      expect(events.filter((e) => e.type === 'fork' && e.ppid === run.pid && pids.has(e.pid))).toHaveLength(200);
      expect(events.filter((e) => e.type === 'exit' && e.comm === 'true' && pids.has(e.pid))).toHaveLength(200);
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });

  it('ends quietly with status 0 when its reader goes away (| head -n 1)', async () => {
    requireRoot();
    const cg = TestCgroup.create('epipe');
    cgroups.push(cg);
    const shell = spawn(
      '/bin/bash',
      ['-c', `"${process.execPath}" "${CLI}" tail --json --cgroup "${cg.path}" | head -n 1; echo "tail exited $\{PIPESTATUS[0]}"`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    shell.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    shell.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => shell.on('exit', (code) => resolve(code)));
    const busy = cg.run('while :; do /bin/true; done');
    try {
      await until(
        () => stdout.includes('tail exited'),
        () => `tail to end after head; stdout: ${stdout}; stderr: ${stderr}`,
        20_000,
      );
      expect(await exited).toBe(0);
      const [first, status] = stdout.trimEnd().split('\n');
      expect((JSON.parse(first) as ProcessEvent).cgroup).toBe(cg.path);
      expect(status).toBe('tail exited 0');
      expect(stderr).not.toMatch(/Error|EPIPE|at /);
    } finally {
      busy.kill('SIGKILL');
      shell.kill('SIGKILL');
    }
  });
});
