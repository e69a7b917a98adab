/**
 * Real processes in real cgroups, as root: the CgroupLauncher and the Supervisor together, with
 * the test standing in for the kernel side that reports emptied groups.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadBinding } from '../../src/host/binding.js';
import { detectCgroup2Mount } from '../../src/host/cgroupfs.js';
import { CgroupLauncher } from '../../src/supervisor/launcher.js';
import type { NativeSpawn } from '../../src/supervisor/spawn.js';
import type { SupervisedSpec } from '../../src/supervisor/policy.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import { realClock, realTimers, type ProgramEvent } from '../../src/supervisor/types.js';
import { destroyTree, gone, populated, reportEmptying, requireRoot, waitFor } from './cgroup-helpers.js';
import { captureEvents, captureLogger, makeSpec } from './fakes.js';

let mount = '';
const testRoot = `/forkwatch-test-${process.pid}-${Date.now().toString(36)}`;
let rootDir = '';
const scratch = join(tmpdir(), `forkwatch-supervisor-test-${process.pid}`);
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  requireRoot();
  mount = detectCgroup2Mount();
  rootDir = join(mount, testRoot);
  await mkdir(rootDir);
  await mkdir(scratch, { recursive: true });
});

afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean().catch(() => undefined);
  if (rootDir) await destroyTree(rootDir, true);
});

afterAll(async () => {
  if (rootDir) await destroyTree(rootDir);
  await rm(scratch, { recursive: true, force: true });
  expect(existsSync(rootDir)).toBe(false);
});

interface Harness {
  supervisor: Supervisor;
  launcher: CgroupLauncher;
  logger: ReturnType<typeof captureLogger>;
  events: ProgramEvent[];
}

interface HarnessOptions {
  useCgroupKill?: boolean;
  setpriv?: string | null;
  /** The addon's clone3 spawn, or null for the shell gate of kernels before 5.7. */
  native: NativeSpawn | null;
}

function harness(specs: SupervisedSpec[], opts: HarnessOptions): Harness {
  const logger = captureLogger();
  const launcher = new CgroupLauncher({
    logger,
    mountPoint: mount,
    root: testRoot,
    native: opts.native,
    pidfd: loadBinding(),
    setpriv: opts.setpriv === undefined ? '/usr/bin/setpriv' : opts.setpriv,
    ...(opts.useCgroupKill !== undefined ? { useCgroupKill: opts.useCgroupKill } : {}),
  });
  const { events, listener } = captureEvents();
  const supervisor = new Supervisor(specs, {
    launcher,
    clock: realClock,
    timers: realTimers,
    logger,
    listener,
    killGraceMs: 2000,
    restartCommandTimeoutMs: 10_000,
  });
  const stopReporting = reportEmptying(supervisor, mount);
  cleanups.push(async () => {
    try {
      await Promise.race([supervisor.stopAll({ keepRunning: false }), new Promise((r) => setTimeout(r, 8000))]);
    } finally {
      stopReporting();
    }
  });
  return { supervisor, launcher, logger, events };
}

const spec = (overrides: Partial<SupervisedSpec>): SupervisedSpec =>
  makeSpec({ backoff: { initial_s: 0.2, factor: 2, max_s: 1, reset_after_s: 60 }, stop_timeout_s: 5, ...overrides });

function statusOf(h: Harness, name: string) {
  const st = h.supervisor.list().find((p) => p.name === name);
  if (!st) throw new Error(`no program ${name}`);
  return st;
}

async function procStatus(pid: number, field: string): Promise<string> {
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return m?.[1]?.trim() ?? '';
}

// The launcher's two ways to start a program: the addon's clone3 into the cgroup, and the shell
// gate it falls back to on kernels before 5.7. Everything but how the process is made is shared.
const WAYS: Array<[string, boolean]> = [
  ['clone3 (the addon)', true],
  ['the shell gate (kernels before 5.7)', false],
];

describe.each(WAYS)('CgroupLauncher with real processes, started by %s', (_way, useNative) => {
  const native = (): NativeSpawn | null => (useNative ? loadBinding() : null);

  it('runs a program inside its cgroup from its first instruction, logs its output, stops it', async () => {
    const h = harness(
      [
        spec({
          name: 'first',
          command: ['/bin/sh', '-c', 'grep "^0::" /proc/$$/cgroup; echo "oops" >&2; echo "FOO=$FOO TOKEN=${FW_TEST_TOKEN-unset}"; exec sleep 1000'],
          env: { FOO: 'bar' },
        }),
      ],
      { native: native() },
    );
    process.env.FW_TEST_TOKEN = 'secret'; // the agent's own environment must not leak into programs
    try {
      await h.supervisor.start();
    } finally {
      delete process.env.FW_TEST_TOKEN;
    }
    const st = statusOf(h, 'first');
    expect(st.state).toBe('running');
    expect(st.cgroup).toBe(`${testRoot}/first`);
    await waitFor('output lines', () => h.logger.lines.filter((l) => l.startsWith('info [first]')).length >= 3);
    // grep ran as a child in the same cgroup; once it is gone the main process is all there is.
    await waitFor('only the main process', async () => (await h.launcher.pids('first')).length === 1);
    expect(await h.launcher.pids('first')).toEqual([st.pid]);
    expect(h.logger.lines).toContain(`info [first] 0::${testRoot}/first`);
    expect(h.logger.lines).toContain('info [first] oops');
    expect(h.logger.lines).toContain('info [first] FOO=bar TOKEN=unset');

    await h.supervisor.stopProgram('first');
    expect(statusOf(h, 'first')).toMatchObject({ state: 'stopped', pid: null });
    expect(statusOf(h, 'first').last_exit).toMatchObject({ signal: 'SIGTERM', timed_out: false });
    await h.supervisor.stopAll();
    expect(existsSync(join(rootDir, 'first'))).toBe(false);
  });

  it('thaws a frozen cgroup before it restarts the program there', async () => {
    const h = harness([spec({ name: 'icy', command: ['/bin/sleep', '1000'], restart: 'always' })], { native: native() });
    await h.supervisor.start();
    const first = statusOf(h, 'icy').pid!;
    const freeze = join(rootDir, 'icy', 'cgroup.freeze');
    await writeFile(freeze, '1');
    await waitFor('the cgroup frozen', async () => /^frozen 1$/m.test(await readFile(join(rootDir, 'icy', 'cgroup.events'), 'utf8')));
    process.kill(first, 'SIGKILL'); // a frozen task still dies of SIGKILL; its cgroup stays frozen
    await waitFor('a restart', () => h.events.some((e) => e.type === 'restart'));
    const second = statusOf(h, 'icy').pid!;
    expect(second).not.toBe(first);
    expect((await readFile(freeze, 'utf8')).trim()).toBe('0');
    // Running, not stopped by the freezer: it can be signalled and dies of it like any process.
    await waitFor('the new process out of the freezer', async () => /^frozen 0$/m.test(await readFile(join(rootDir, 'icy', 'cgroup.events'), 'utf8')));
    // Asleep in sleep(1) once it got there (it may still be running on its way to it).
    await waitFor('the new process asleep', async () => /^S/.test(await procStatus(second, 'State')));
    expect(h.logger.lines.some((l) => l.startsWith('warn ') && l.includes('was frozen; thawed it'))).toBe(true);
  });

  it('sees a double-forking daemon as running until its grandchild dies', async () => {
    const h = harness(
      [
        spec({
          name: 'daemon',
          restart: 'never',
          command: ['/bin/sh', '-c', '(sleep 1000 </dev/null >/dev/null 2>&1 &); exit 0'],
        }),
      ],
      { native: native() },
    );
    await h.supervisor.start();
    const mainPid = statusOf(h, 'daemon').pid as number;
    await waitFor('the parent to exit', () => gone(mainPid));
    const pids = await h.launcher.pids('daemon');
    expect(pids).toHaveLength(1);
    expect(pids[0]).not.toBe(mainPid);
    // The supervisor has handled the parent's exit once it shows the grandchild as the main pid
    // (or, wrongly, once it leaves running): only then is "still running" worth asserting.
    await waitFor("the supervisor to act on the parent's exit", () => statusOf(h, 'daemon').pid === pids[0] || statusOf(h, 'daemon').state !== 'running');
    expect(statusOf(h, 'daemon')).toMatchObject({ state: 'running', pid: pids[0] });
    expect(h.logger.lines).toContain(`debug program "daemon": main process now pid ${pids[0]}`);

    process.kill(pids[0], 'SIGKILL');
    await waitFor('the daemon to be seen down', () => statusOf(h, 'daemon').state !== 'running');
    // Nobody reported the grandchild's status here, so the parent's clean exit stands.
    expect(statusOf(h, 'daemon')).toMatchObject({ state: 'stopped', last_exit: { code: 0 } });
  });

  it('restarts a crashing program with backoff and records the restart latency', async () => {
    const h = harness([spec({ name: 'crashy', command: ['/bin/sh', '-c', 'sleep 0.3; exit 3'] })], { native: native() });
    await h.supervisor.start();
    const firstPid = statusOf(h, 'crashy').pid;
    await waitFor('a restart', () => h.events.some((e) => e.type === 'restart'));
    const restart = h.events.find((e) => e.type === 'restart') as Extract<ProgramEvent, { type: 'restart' }>;
    expect(restart).toMatchObject({ program: 'crashy', reason: 'policy', restarts: 1, delay_ms: 200 });
    expect(restart.latency_ms).toBeGreaterThanOrEqual(200);
    expect(restart.latency_ms).toBeLessThan(2000);
    expect(restart.pid).not.toBe(firstPid);
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'exit', program: 'crashy', outcome: 'restart', exit: expect.objectContaining({ code: 3 }) as unknown }),
    );
    expect(statusOf(h, 'crashy').last_restart_latency_s).toBe((restart.latency_ms as number) / 1000);
  });

  it.each([
    ['cgroup.kill', true],
    ['SIGKILL pid by pid (kernels before 5.14)', false],
  ])('stop kills a tree that ignores SIGTERM, via %s', async (_label, useCgroupKill) => {
    const h = harness(
      [
        spec({
          name: 'stubborn',
          stop_timeout_s: 0.5,
          command: ['/bin/sh', '-c', "trap '' TERM; sleep 1000 & sleep 1000 & (sleep 1000 &); wait"],
        }),
      ],
      { useCgroupKill, native: native() },
    );
    await h.supervisor.start();
    await waitFor('the whole tree', async () => (await h.launcher.pids('stubborn')).length === 4);
    const pids = await h.launcher.pids('stubborn');
    // With a limit, only as many as asked for (enough to tell the group is not empty).
    expect(await h.launcher.pids('stubborn', 1)).toEqual([pids[0]]);
    const t0 = Date.now();
    await h.supervisor.stopProgram('stubborn');
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(3000);
    expect(statusOf(h, 'stubborn')).toMatchObject({ state: 'stopped', last_exit: { timed_out: true } });
    expect(await h.launcher.pids('stubborn')).toEqual([]);
    for (const pid of pids) expect(await gone(pid)).toBe(true);
    expect(h.logger.lines.some((l) => l.includes('still running 0.5s after SIGTERM; killing every process'))).toBe(true);
  });

  it('adopts a program a previous agent left running instead of starting a second copy', async () => {
    const kept = spec({ name: 'kept', keep_running: true, command: ['/bin/sleep', '1000'] });
    const first = harness([kept], { native: native() });
    await first.supervisor.start();
    const pid = statusOf(first, 'kept').pid as number;
    await first.supervisor.stopAll(); // the agent exits; keep_running leaves the program be
    expect(await gone(pid)).toBe(false);
    expect(await populated(join(rootDir, 'kept'))).toBe(true);

    const second = harness([kept], { native: native() });
    await second.supervisor.start();
    expect(statusOf(second, 'kept')).toMatchObject({ state: 'running', pid });
    expect(statusOf(second, 'kept').uptime_s).toBeGreaterThanOrEqual(0);
    expect(await second.launcher.pids('kept')).toEqual([pid]);
    expect(second.logger.lines.some((l) => l.includes('adopting 1 process(es)'))).toBe(true);

    await second.supervisor.stopAll({ keepRunning: false });
    expect(statusOf(second, 'kept').state).toBe('stopped');
    await waitFor('the adopted process to die', () => gone(pid));
  });

  const failures: Array<[string, Partial<SupervisedSpec>, RegExp]> = [
    ['a missing command path', { command: ['/nonexistent/forkwatch-cmd'] }, /command \/nonexistent\/forkwatch-cmd: does not exist/],
    ['a command not in PATH', { command: ['forkwatch-no-such-command'] }, /command "forkwatch-no-such-command" not found in PATH=/],
    ['an unknown user', { user: 'forkwatch-nosuchuser' }, /user "forkwatch-nosuchuser" does not exist \(not in \/etc\/passwd\)/],
    ['an unknown group', { group: 'forkwatch-nosuchgroup' }, /group "forkwatch-nosuchgroup" does not exist/],
    ['a missing working directory', { cwd: '/nonexistent-forkwatch-dir' }, /working directory \/nonexistent-forkwatch-dir: ENOENT/],
  ];
  it.each(failures)('%s: failed with a clear message, nothing started', async (_label, overrides, message) => {
    const h = harness([spec({ name: 'broken', restart: 'always', command: ['/bin/sleep', '1000'], ...overrides })], { native: native() });
    await expect(h.supervisor.start()).resolves.toBeUndefined();
    const st = statusOf(h, 'broken');
    expect(st.state).toBe('failed');
    expect(st.error).toMatch(message);
    const logged = h.logger.lines.filter((l) => l.startsWith('error '));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/^error program "broken" failed: /);
    expect(logged[0]).toMatch(message);
    expect(await h.launcher.pids('broken')).toEqual([]);
  });

  const drops: Array<[string, string | null]> = useNative
    ? [['the addon (setgroups, setresgid, setresuid)', null]]
    : [
        ['setpriv', '/usr/bin/setpriv'],
        ["Node's uid/gid", null],
      ];
  it.each(drops)('runs a program as another user via %s', async (label, setpriv) => {
    const h = harness(
      [
        spec({
          name: 'unprivileged',
          user: 'nobody',
          command: ['/bin/sh', '-c', 'echo "id=$(id -u):$(id -g) HOME=$HOME USER=$USER"; exec sleep 1000'],
        }),
      ],
      { setpriv, native: native() },
    );
    await h.supervisor.start();
    const pid = statusOf(h, 'unprivileged').pid as number;
    // The pid is the launch wrapper's until it execs the command; its output says that happened.
    await waitFor('its output', () => h.logger.lines.some((l) => l.startsWith('info [unprivileged] id=')));
    expect(await procStatus(pid, 'Uid')).toMatch(/^65534\s+65534\s+65534\s+65534$/);
    expect((await procStatus(pid, 'Gid')).split(/\s+/)[0]).toBe('65534');
    expect(h.logger.lines).toContain('info [unprivileged] id=65534:65534 HOME=/nonexistent USER=nobody');
    // Supplementary groups need setpriv or the addon; Node sets the primary group only.
    if (setpriv || label.startsWith('the addon')) expect(await procStatus(pid, 'Groups')).toBe('65534');
  });

  it('watch mode runs restart_command exactly once per emptying of the watched group', async () => {
    const watched = `${testRoot}/watched`;
    const watchedDir = join(mount, watched);
    const counter = join(scratch, `restarts-${useNative ? 'clone3' : 'gate'}`);
    await mkdir(watchedDir);
    const startInWatched = `sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > ${watchedDir}/cgroup.procs`;
    // Something else put a process in the group before forkwatch started watching.
    const seed = spawn('/bin/sh', ['-c', `${startInWatched}; wait`], { stdio: 'ignore', detached: true });
    await waitFor('the seed process', () => populated(watchedDir));
    seed.unref();

    const h = harness(
      [
        spec({
          name: 'watcher',
          command: undefined,
          watch: watched,
          restart: 'always',
          backoff: { initial_s: 0.1, factor: 1, max_s: 1, reset_after_s: 60 },
          restart_command: ['/bin/sh', '-c', `${startInWatched}; echo ran >> ${counter}`],
        }),
      ],
      { native: native() },
    );
    await h.supervisor.start();
    expect(statusOf(h, 'watcher')).toMatchObject({ state: 'running', cgroup: watched });
    const runs = async () => (existsSync(counter) ? (await readFile(counter, 'utf8')).split('\n').filter(Boolean).length : 0);
    expect(await runs()).toBe(0);

    for (const expected of [1, 2]) {
      const [victim] = await h.launcher.groupPids(watched);
      process.kill(victim, 'SIGKILL');
      await waitFor('the group to empty', async () => !(await populated(watchedDir)));
      // The same emptying reported twice more, on top of the reporter's own report.
      h.supervisor.onCgroupEmpty(watched);
      h.supervisor.onCgroupEmpty(watched, { code: null, signal: 'SIGKILL' });
      await waitFor(`restart_command run ${expected}`, async () => (await runs()) === expected);
      await waitFor('the group to be watched again', () => statusOf(h, 'watcher').state === 'running');
      // A report of this emptying still on its way (the reporter's own comes 30 ms after it reads
      // cgroup.events) arrives now like this one: the supervisor looks, finds the refilled group
      // and logs that it ignored it. That line ends the single look in flight, so every earlier
      // report has been dealt with too.
      const ignored = `debug program "watcher": emptying reported but ${watched} holds 1 process(es); ignored`;
      const seen = h.logger.lines.filter((l) => l === ignored).length;
      h.supervisor.onCgroupEmpty(watched);
      await waitFor('the late report to be ignored', () => h.logger.lines.filter((l) => l === ignored).length > seen);
      expect(await runs()).toBe(expected);
      expect(statusOf(h, 'watcher')).toMatchObject({ state: 'running', restarts: expected });
    }
    expect(statusOf(h, 'watcher').restarts).toBe(2);
    await h.supervisor.stopAll();
    expect(await populated(watchedDir)).toBe(true); // not ours to stop
  });
});

describe('CgroupLauncher with the addon: what only clone3 does', () => {
  it('an exec that fails after the checks: failed, with the step, the file and the errno', async () => {
    // Executable, so the checks pass; its interpreter is missing, so execve says ENOENT.
    const script = join(scratch, 'bad-interpreter');
    await writeFile(script, '#!/nonexistent/forkwatch-interpreter\n', { mode: 0o755 });
    const h = harness([spec({ name: 'noexec', restart: 'always', command: [script] })], { native: loadBinding() });
    await h.supervisor.start();
    const st = statusOf(h, 'noexec');
    expect(st.state).toBe('failed');
    expect(st.error).toBe(`execve ${script}: ENOENT (no such file or directory)`);
    expect(h.logger.lines.filter((l) => l.startsWith('error '))).toEqual([
      `error program "noexec" failed: execve ${script}: ENOENT (no such file or directory)`,
    ]);
    expect(await h.launcher.pids('noexec')).toEqual([]);
  });

  it('says where a start went in the debug line bench/supervisor parses', async () => {
    const h = harness([spec({ name: 'timed', command: ['/bin/sleep', '1000'] })], { native: loadBinding() });
    await h.supervisor.start();
    const line = h.logger.lines.find((l) => l.includes('program "timed": pid '));
    expect(line).toMatch(/^debug program "timed": pid \d+ started in [\d.]+ ms \(checks [\d.]+, spawn [\d.]+ by clone3 into its cgroup\)$/);
  });

  it('falls back to the shell gate when clone3 cannot place the child (before 5.7), saying so once', async () => {
    let calls = 0;
    const oldKernel: NativeSpawn = {
      spawnInCgroup: (options) => {
        calls++;
        throw Object.assign(new Error(`clone3(${options.cgroupDir}): Argument list too long`), {
          code: 'E2BIG',
          errno: 7,
          step: 'clone3',
          object: options.cgroupDir,
        });
      },
    };
    const h = harness(
      [
        spec({ name: 'old1', command: ['/bin/sh', '-c', 'grep "^0::" /proc/$$/cgroup; exec sleep 1000'] }),
        spec({ name: 'old2', command: ['/bin/sleep', '1000'] }),
      ],
      { native: oldKernel },
    );
    await h.supervisor.start();
    expect(statusOf(h, 'old1').state).toBe('running');
    expect(statusOf(h, 'old2').state).toBe('running');
    expect(calls).toBe(1);
    const warnings = h.logger.lines.filter((l) => l.startsWith('warn '));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^warn clone3\(CLONE_INTO_CGROUP\) is not available here \(clone3 .*: E2BIG \(argument list too long\); Linux 5\.7 has it, and a container.s seccomp profile may refuse it\)/,
    );
    await waitFor('the output', () => h.logger.lines.includes(`info [old1] 0::${testRoot}/old1`));
    expect(h.logger.lines.some((l) => /pid \d+ started in .* cgroup move /.test(l))).toBe(true);
  });

  it('a clone3 failure of another kind is a launch error, not a fallback', async () => {
    const busy: NativeSpawn = {
      spawnInCgroup: (options) => {
        throw Object.assign(new Error(`clone3(${options.cgroupDir}): Device or resource busy`), {
          code: 'EBUSY',
          errno: 16,
          step: 'clone3',
          object: options.cgroupDir,
        });
      },
    };
    const h = harness([spec({ name: 'busy', command: ['/bin/sleep', '1000'] })], { native: busy });
    await h.supervisor.start();
    // Not permanent: retried like a crash, with backoff.
    expect(statusOf(h, 'busy').state).toBe('backoff');
    expect(statusOf(h, 'busy').error).toBe(`clone3 ${join(rootDir, 'busy')}: EBUSY (device or resource busy)`);
    expect(h.logger.lines.some((l) => l.includes('is not available here'))).toBe(false);
  });
});
