/**
 * `forkwatch run` where its config's actions cannot work: the real CLI with capabilities dropped
 * (setpriv) or with cgroupfs or the log's directory read-only (a mount namespace of its own, so
 * the host's mounts are untouched). It must refuse at start with one line and exit 2, not start
 * and fail at the first crossing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectHierarchy } from '../../src/host/cgroupfs.js';
import { DEFAULT_PROGRAMS_ROOT } from '../../src/supervisor/launcher.js';
import { requireRoot, until } from '../helpers/cgroup.js';
import { runCli } from '../helpers/cli.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-privs-'));
const PROGRAM_NAME = `fwtest-privs-${process.pid}`;
afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  // Refused configs start nothing; had one started, its program cgroup goes too.
  const cg = path.join(detectHierarchy('v2').mount, DEFAULT_PROGRAMS_ROOT, PROGRAM_NAME);
  if (!fs.existsSync(cg)) return;
  fs.writeFileSync(path.join(cg, 'cgroup.kill'), '1');
  await until(() => fs.readFileSync(path.join(cg, 'cgroup.procs'), 'utf8').trim() === '', 'the program to die');
  fs.rmdirSync(cg);
});

let n = 0;
function config(yaml: string): string {
  const file = path.join(dir, `c${++n}.yaml`);
  // A port nobody listens on: with the check missing, the agent would start and be killed by the timeout.
  fs.writeFileSync(file, `listen: "127.0.0.1:${20000 + (process.pid % 20000) + n}"\napi:\n  socket: ${dir}/api${n}.sock\n${yaml}`);
  return file;
}

/** Only these capabilities, as root: what a CapabilityBoundingSet= or a pod's capabilities leave. */
const caps = (...names: string[]) => ['setpriv', `--bounding-set=-all${names.map((c) => `,+${c}`).join('')}`, '--inh-caps=-all'];
/** In a mount namespace of its own, with `mountPoint` made read-only there first. */
const readOnly = (setup: string) => ['unshare', '-m', '--propagation', 'private', 'sh', '-c', `${setup} && exec "$0" "$@"`];

const KILL = 'resources:\n  tasks:\n    limit: 100000\n    on_limit: [kill]\n';
const FREEZE = 'groups:\n  - name: web\n    match: { cgroup: /forkwatch-test-privs-none }\n    resources:\n      tasks: { limit: 5, on_limit: [freeze] }\n';
const PROGRAM = `programs:\n  - name: ${PROGRAM_NAME}\n    command: [sleep, "300"]\n`;
const PROGRAM_AS_NOBODY = `programs:\n  - name: ${PROGRAM_NAME}\n    command: [sleep, "300"]\n    user: nobody\n`;

describe('forkwatch run refuses, at start, actions that cannot work where it runs', () => {
  it.each([
    [
      'kill without CAP_KILL',
      KILL,
      caps('bpf', 'perfmon'),
      /: resources\.tasks\.on_limit: kill cannot work where the agent runs: it lacks CAP_KILL; expected /,
    ],
    [
      'a program as another user without CAP_SETUID/CAP_SETGID',
      PROGRAM_AS_NOBODY,
      caps('bpf', 'perfmon', 'kill', 'dac_override'),
      /: programs\[0\] \(fwtest-privs-\d+\): user "nobody" cannot work where the agent runs: it lacks CAP_SETUID, CAP_SETGID; expected /,
    ],
  ])('%s: one line, exit 2', (_name, yaml, prefix, message) => {
    requireRoot();
    const r = runCli(['run', '--config', config(yaml)], { prefix, timeoutMs: 15_000 });
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.code).toBe(2);
  });

  it.each([
    [
      'freeze',
      FREEZE,
      /: groups\[0\]\.resources\.tasks\.on_limit: freeze cannot work where the agent runs: .* is on a read-only file system \(EROFS\); expected /,
    ],
    [
      'a program',
      PROGRAM,
      /: programs\[0\] \(fwtest-privs-\d+\): cannot start programs where the agent runs: .* is on a read-only file system \(EROFS\); expected /,
    ],
  ])('%s with cgroupfs read-only (as a pod mounts it): one line, exit 2', (_name, yaml, message) => {
    requireRoot();
    const v2 = detectHierarchy('v2').mount;
    const r = runCli(['run', '--config', config(yaml)], { prefix: readOnly(`mount -o remount,bind,ro ${v2}`), timeoutMs: 15_000 });
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.code).toBe(2);
  });

  it('an accounting log in a read-only directory: one line, exit 2', () => {
    requireRoot();
    const ro = fs.mkdtempSync(path.join(dir, 'ro-'));
    const file = config(`accounting:\n  log:\n    path: ${ro}/sub/accounting.log\n`);
    const r = runCli(['run', '--config', file], { prefix: readOnly(`mount -t tmpfs -o ro tmpfs ${ro}`), timeoutMs: 15_000 });
    expect(r.stderr).toMatch(
      new RegExp(
        `: accounting\\.log\\.path ${ro}/sub/accounting\\.log: cannot be written where the agent runs: ${ro} is on a read-only file system \\(EROFS\\); expected `,
      ),
    );
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.code).toBe(2);
  });
});
