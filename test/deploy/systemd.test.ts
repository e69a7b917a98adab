/**
 * deploy/forkwatch.service: parsed and held to its sandbox, checked by systemd's own
 * `systemd-analyze verify` and `security`, and the real agent run with exactly the unit's
 * capabilities (setpriv: its bounding set, no new privileges) carrying out every action that
 * needs one: kill and stop signals to another user's processes, freeze, a program run as another
 * user, the executable of a process that was running before it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GroupView } from '../../src/agent/agent.js';
import { detectHierarchy } from '../../src/host/cgroupfs.js';
import { loadConfig } from '../../src/config/load.js';
import { DEFAULT_PROGRAMS_ROOT } from '../../src/supervisor/launcher.js';
import type { ProgramStatus } from '../../src/supervisor/types.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { cleanupAfterEach } from '../helpers/cleanups.js';
import { CLI, ROOT } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';

const UNIT = path.join(ROOT, 'deploy/forkwatch.service');

/** The unit's [Service] settings: key -> every value it is given, in order. */
function serviceSettings(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const raw of fs.readFileSync(UNIT, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1];
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    expect(kv, `a key=value line: ${line}`).not.toBeNull();
    if (section !== 'Service') continue;
    out.set(kv![1], [...(out.get(kv![1]) ?? []), kv![2]]);
  }
  return out;
}

const settings = serviceSettings();
const one = (key: string) => settings.get(key)?.at(-1);
const capabilities = () => (one('CapabilityBoundingSet') ?? '').split(/\s+/).filter(Boolean);

describe('deploy/forkwatch.service', () => {
  it('keeps only the capabilities docs/security.md justifies, and sandboxes the rest', () => {
    expect(capabilities().sort()).toEqual(['CAP_BPF', 'CAP_DAC_OVERRIDE', 'CAP_KILL', 'CAP_PERFMON', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SYS_PTRACE']);
    expect(settings.has('AmbientCapabilities')).toBe(false); // root: the bounding set is what limits it
    const security = fs.readFileSync(path.join(ROOT, 'docs/security.md'), 'utf8');
    for (const cap of [...capabilities(), 'CAP_SYS_ADMIN', 'CAP_SYS_RESOURCE'])
      expect(security, `docs/security.md on ${cap}`).toMatch(new RegExp(`\`${cap}\`[^\\n]{30,}`));
    expect(
      Object.fromEntries(
        ['NoNewPrivileges', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'Delegate', 'RestrictSUIDSGID', 'UMask'].map((k) => [k, one(k)]),
      ),
    ).toEqual({
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'read-only',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      Delegate: 'yes',
      RestrictSUIDSGID: 'yes',
      UMask: '0077',
    });
    // What the agent writes stays writable: cgroupfs (freeze, programs), its socket's directory, logs.
    for (const k of ['ProtectControlGroups', 'ProtectKernelTunables', 'MemoryDenyWriteExecute', 'ProtectProc', 'PrivateUsers'])
      expect(settings.has(k), k).toBe(false);
    expect(one('ReadWritePaths')).toBe('/sys/fs/cgroup');
    expect(`/run/${one('RuntimeDirectory')}`).toBe(path.dirname(loadConfig().api.socket));
    expect(one('LogsDirectory')).toBe('forkwatch');
  });

  it('passes systemd-analyze verify without a warning, and scores OK in systemd-analyze security', () => {
    // The ExecStart of this checkout, so that verify finds the binary it names on any machine.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-unit-'));
    try {
      const unit = path.join(dir, 'forkwatch.service');
      fs.writeFileSync(unit, fs.readFileSync(UNIT, 'utf8').replace(/^ExecStart=\S+ \S+/m, `ExecStart=${process.execPath} ${CLI}`));
      const verify = spawnSync('systemd-analyze', ['verify', '--man=no', unit], { encoding: 'utf8' });
      expect(verify.error, 'systemd-analyze (apt install systemd)').toBeUndefined();
      expect(verify.stderr + verify.stdout).toBe('');
      expect(verify.status).toBe(0);
      const security = spawnSync('systemd-analyze', ['security', '--offline=yes', unit], { encoding: 'utf8' });
      const score = /Overall exposure level for forkwatch\.service: ([\d.]+)/.exec(security.stdout)?.[1];
      expect(score, security.stdout + security.stderr).toBeDefined();
      // 9.6 ("UNSAFE") before the sandbox; 3.5 with it.
      expect(Number(score)).toBeLessThanOrEqual(4);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the agent with exactly the unit's capabilities", () => {
  const cleanups = cleanupAfterEach();

  /** A process run as nobody, killed at the end of the test. */
  function asNobody(cmd: string[], cg?: TestCgroup): ChildProcess {
    const drop = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', ...cmd];
    const child = cg
      ? spawn('/bin/sh', ['-c', `echo $$ > "$0/cgroup.procs" && exec "$@"`, cg.dir, ...drop], { stdio: 'ignore' })
      : spawn(drop[0], drop.slice(1), { stdio: 'ignore' });
    cleanups.push(() => void child.kill('SIGKILL'));
    return child;
  }

  it('kills, freezes, runs and stops a program as another user, and reads executables from before it started', async () => {
    requireRoot();
    const tag = `fwcap-${process.pid}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.chmodSync(dir, 0o755);
    // A process of another user, running before the agent, whose executable a rule matches.
    const before = path.join(dir, `${tag}-sleep`);
    fs.copyFileSync('/bin/sleep', before);
    fs.chmodSync(before, 0o755);
    asNobody([before, '300']);
    const killCg = TestCgroup.create('cap-kill');
    const freezeCg = TestCgroup.create('cap-freeze');
    for (const cg of [killCg, freezeCg]) {
      cleanups.push(async () => {
        fs.writeFileSync(path.join(cg.dir, 'cgroup.freeze'), '0');
        await cg.remove();
      });
    }
    const programCg = path.join(detectHierarchy('v2').mount, DEFAULT_PROGRAMS_ROOT, tag);
    cleanups.push(async () => {
      if (!fs.existsSync(programCg)) return;
      fs.writeFileSync(path.join(programCg, 'cgroup.kill'), '1');
      await until(() => fs.readFileSync(path.join(programCg, 'cgroup.procs'), 'utf8').trim() === '', 'the program to die');
      fs.rmdirSync(programCg);
    });

    const port = await freePort();
    const config = path.join(dir, 'forkwatch.yaml');
    fs.writeFileSync(
      config,
      [
        `listen: "127.0.0.1:${port}"`,
        `api:\n  socket: ${dir}/api.sock`,
        'groups:',
        `  - { name: ${tag}-kill, match: { cgroup: ${killCg.path} }, resources: { tasks: { limit: 2, on_limit: [kill] } } }`,
        `  - { name: ${tag}-freeze, match: { cgroup: ${freezeCg.path} }, resources: { tasks: { limit: 1, on_limit: [freeze] } } }`,
        `  - { name: ${tag}-exe, match: { exe: "/${tag}-sleep$" } }`,
        'programs:',
        `  - { name: ${tag}, command: [sleep, "300"], user: nobody, group: nogroup }`,
        '',
      ].join('\n'),
    );
    const bounding = capabilities()
      .map((c) => `+${c.slice(4).toLowerCase()}`)
      .join(',');
    const proc = spawn('setpriv', [`--bounding-set=-all,${bounding}`, '--inh-caps=-all', '--no-new-privs', process.execPath, CLI, 'run', '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((r) => proc.on('exit', r));
    cleanups.push(async () => {
      proc.kill('SIGKILL');
      await exited;
    });
    await until(() => stderr.includes('serving http://'), `the agent to serve; stderr: ${stderr}`, 20_000);
    const api = async <T>(p: string) => (await (await fetch(`http://127.0.0.1:${port}${p}`)).json()) as T;

    // The executable of a process of another user, read at start (CAP_SYS_PTRACE).
    const groups = await api<GroupView[]>('/api/groups');
    expect(groups.find((g) => g.group === `${tag}-exe`)?.tasks).toBe(1);

    // The program runs as nobody (CAP_SETUID, CAP_SETGID; its cgroup made in cgroupfs).
    let program: ProgramStatus | undefined;
    for (let i = 0; i < 100 && program?.state !== 'running'; i++) {
      program = (await api<ProgramStatus[]>('/api/programs')).find((p) => p.name === tag);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(program).toMatchObject({ state: 'running' });
    const programPid = program!.pid!;
    expect(fs.readFileSync(`/proc/${programPid}/status`, 'utf8')).toMatch(/^Uid:\s+65534\s/m);

    // kill: nobody's processes above the limit are killed (CAP_KILL).
    asNobody(['sh', '-c', 'sleep 300 & sleep 300 & sleep 300 & wait'], killCg);
    await until(() => killCg.pids().length === 2, `the kill action to bring ${killCg.path} down to its limit; stderr: ${stderr}`, 15_000);

    // freeze: the group's cgroup is frozen.
    asNobody(['sh', '-c', 'sleep 300 & wait'], freezeCg);
    await until(() => /^frozen 1$/m.test(fs.readFileSync(path.join(freezeCg.dir, 'cgroup.events'), 'utf8')), `the freeze; stderr: ${stderr}`, 15_000);

    // Stopping the agent stops the program, another user's process (CAP_KILL).
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    await until(() => !fs.existsSync(`/proc/${programPid}`), 'the program to be stopped', 15_000);
    expect(stderr).not.toMatch(/EPERM|EACCES|not permitted/);
  });
});
