/** What a config's actions need from the host, against hosts that give less (run for real in test/cli/run-privileges.test.ts). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { impossibleAction, readHost, refuseImpossibleActions, unwritableDir, type Host } from '../../src/doctor/needs.js';
import { UsageError } from '../../src/errors.js';

const ALL = (1n << 41n) - 1n;
const bit = (n: number) => 1n << BigInt(n);
const CAP_KILL = 5;
const CAP_SETGID = 6;
const CAP_SETUID = 7;

const full: Host = { caps: ALL, cgroupUnwritable: null, programsUnwritable: null, unwritable: () => null, limitsUnwritable: () => null };
const noKill: Host = { ...full, caps: ALL & ~bit(CAP_KILL) };
const noSetid: Host = { ...full, caps: ALL & ~bit(CAP_SETUID) & ~bit(CAP_SETGID) };
const roCgroup: Host = {
  ...full,
  cgroupUnwritable: '/sys/fs/cgroup is on a read-only file system (EROFS)',
  programsUnwritable: '/sys/fs/cgroup is on a read-only file system (EROFS)',
  limitsUnwritable: () => '/sys/fs/cgroup/pids/cgroup.procs is on a read-only file system (EROFS)',
};
/** A hybrid host: pids and memory bound to v1 hierarchies, none on v2. */
const v1Only: Host = {
  ...full,
  limitsUnwritable: (c, v2Only) => (v2Only ? `the ${c} controller is bound to the cgroup v1 hierarchy at /sys/fs/cgroup/${c}, which has no memory.high` : null),
};
const noPids: Host = { ...full, limitsUnwritable: (c) => (c === 'pids' ? 'the pids controller is not available' : null) };
const roLog: Host = { ...full, unwritable: (d) => `${d} is on a read-only file system (EROFS)` };

const cfg = (yaml: string) => parseConfig(yaml, '/etc/forkwatch.yaml', { hostname: 'h' });

const KILL_DEFAULT = 'resources:\n  tasks: { limit: 10, on_limit: [kill] }\n';
const KILL_RULE = 'groups:\n  - name: web\n    match: { cgroup: /web }\n    resources:\n      tasks: { barrier: 5, on_barrier: [event, kill] }\n';
const FREEZE = 'resources:\n  threads: { limit: 10, on_limit: [freeze] }\n';
const PROGRAM = 'programs:\n  - name: relay\n    command: [sleep, "1"]\n';
const PROGRAM_AS = (who: string) => `programs:\n  - name: relay\n    command: [sleep, "1"]\n    ${who}\n`;
const WATCH = 'programs:\n  - name: w\n    watch: /system.slice/x.service\n    restart_command: [systemctl, restart, x]\n';
const ENFORCE = (res: string) => `groups:\n  - name: ci\n    match: { cgroup: /ci }\n    resources:\n      ${res}\n`;
const LOG = 'accounting:\n  log:\n    path: /var/lib/forkwatch/acc.log\n';

describe('impossibleAction', () => {
  it.each<[string, string, Host, RegExp | undefined]>([
    [
      'nothing asked, nothing given',
      '',
      { caps: 0n, cgroupUnwritable: 'x', programsUnwritable: 'x', unwritable: () => 'x', limitsUnwritable: () => 'x' },
      undefined,
    ],
    [
      'enforce with cgroupfs read-only',
      ENFORCE('tasks: { limit: 10, on_limit: [enforce] }'),
      roCgroup,
      /^groups\[0\]\.resources\.tasks\.on_limit: enforce cannot work where the agent runs: \/sys\/fs\/cgroup\/pids\/cgroup\.procs is on a read-only file system \(EROFS\); expected a writable cgroup hierarchy with that controller/,
    ],
    [
      'enforce of tasks without the pids controller',
      ENFORCE('tasks: { limit: 10, on_limit: [enforce] }'),
      noPids,
      /tasks\.on_limit: enforce cannot work where the agent runs: the pids controller is not available/,
    ],
    ['enforce of memory without the pids controller is fine', ENFORCE('memory_bytes: { limit: 1GiB, on_limit: [enforce] }'), noPids, undefined],
    ['enforce of memory.max on a v1 memory hierarchy is fine', ENFORCE('memory_bytes: { limit: 1GiB, on_limit: [enforce] }'), v1Only, undefined],
    [
      'enforce of memory.high on a v1 memory hierarchy',
      ENFORCE('memory_bytes: { barrier: 1GiB, on_barrier: [enforce] }'),
      v1Only,
      /memory_bytes\.on_barrier: enforce cannot work where the agent runs: the memory controller is bound to the cgroup v1 hierarchy at \/sys\/fs\/cgroup\/memory, which has no memory\.high/,
    ],
    [
      'everything given',
      'resources:\n  tasks: { limit: 10, on_limit: [kill] }\n  threads: { limit: 10, on_limit: [freeze] }\n' + PROGRAM_AS('user: nobody') + LOG,
      full,
      undefined,
    ],
    [
      'kill in the defaults without CAP_KILL',
      KILL_DEFAULT,
      noKill,
      /^resources\.tasks\.on_limit: kill cannot work where the agent runs: it lacks CAP_KILL; expected the capability/,
    ],
    ['kill in a rule without CAP_KILL', KILL_RULE, noKill, /^groups\[0\]\.resources\.tasks\.on_barrier: kill cannot work/],
    [
      'freeze with cgroupfs read-only',
      FREEZE,
      roCgroup,
      /^resources\.threads\.on_limit: freeze cannot work where the agent runs: \/sys\/fs\/cgroup is on a read-only file system \(EROFS\); expected a writable cgroup v2/,
    ],
    ['freeze without CAP_KILL is fine', FREEZE, noKill, undefined],
    [
      'a program with cgroupfs read-only',
      PROGRAM,
      roCgroup,
      /^programs\[0\] \(relay\): cannot start programs where the agent runs: \/sys\/fs\/cgroup is on a read-only/,
    ],
    ['a watch program with cgroupfs read-only is fine', WATCH, roCgroup, undefined],
    ['a program as root without CAP_SETUID is fine', PROGRAM_AS('user: root'), noSetid, undefined],
    [
      'a program as a user without CAP_SETUID/SETGID',
      PROGRAM_AS('user: nobody'),
      noSetid,
      /^programs\[0\] \(relay\): user "nobody" cannot work where the agent runs: it lacks CAP_SETUID, CAP_SETGID; expected/,
    ],
    [
      'a program as a group without CAP_KILL',
      PROGRAM_AS('group: nogroup'),
      noKill,
      /^programs\[0\] \(relay\): group "nogroup" cannot work where the agent runs: it lacks CAP_KILL;/,
    ],
    [
      'an accounting log in a read-only directory',
      LOG,
      roLog,
      /^accounting\.log\.path \/var\/lib\/forkwatch\/acc\.log: cannot be written where the agent runs: \/var\/lib\/forkwatch is on a read-only file system \(EROFS\); expected .*\/var\/log\/forkwatch\//,
    ],
  ])('%s', (_name, yaml, host, want) => {
    const got = impossibleAction(cfg(yaml), host);
    if (want === undefined) expect(got).toBeUndefined();
    else expect(got).toMatch(want);
  });

  it('refuses with a usage error (exit 2) naming the config', () => {
    expect(() => refuseImpossibleActions(cfg(KILL_DEFAULT), noKill)).toThrow(UsageError);
    try {
      refuseImpossibleActions(cfg(KILL_DEFAULT), noKill);
    } catch (err) {
      expect((err as UsageError).exitCode).toBe(2);
      expect((err as Error).message).toMatch(/^\/etc\/forkwatch\.yaml: resources\.tasks\.on_limit: kill cannot work/);
    }
  });
});

describe('reading the host', () => {
  it('unwritableDir looks at the nearest directory that exists', () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-needs-'));
    try {
      expect(unwritableDir(path.join(d, 'a/b/c'))).toBeNull();
      fs.chmodSync(d, 0o500);
      // Root writes anyway (CAP_DAC_OVERRIDE); anyone else is told why not.
      const why = unwritableDir(path.join(d, 'a'));
      if (process.getuid?.() === 0) expect(why).toBeNull();
      else expect(why).toBe(`${d} is not writable (EACCES)`);
    } finally {
      fs.chmodSync(d, 0o700);
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it('readHost takes the capabilities and the cgroup v2 mount from /proc/self', () => {
    const files: Record<string, string> = {
      '/proc/self/status': 'Name:\tnode\nCapEff:\t0000000000000020\n',
      '/proc/self/mounts': 'proc /proc proc rw 0 0\n',
    };
    const host = readHost((p) => files[p]);
    expect(host.caps).toBe(bit(CAP_KILL));
    expect(host.cgroupUnwritable).toBe('no cgroup v2 hierarchy is mounted');
    expect(host.programsUnwritable).toBe('no cgroup v2 hierarchy is mounted');
  });
});
