/**
 * Cgroup paths longer than the kernel's 1 KiB tracepoint buffer: the mkdir record carries the path
 * cut at 1023 bytes, which can be exactly an ancestor's or a sibling's path. Such a cgroup must be
 * named by its real path (looked up by id in cgroupfs), and the cgroup it would alias keeps its own.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectHierarchy } from '../../src/host/cgroupfs.js';
import type { RawEvent } from '../../src/events/decode.js';
import { EventType, Flags } from '../../src/events/layout.js';
import { EventSource } from '../../src/events/source.js';
import { createLogger } from '../../src/log.js';
import { loadBinding } from '../../src/host/binding.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';

/** The kernel's buffer for the cgroup tracepoints' path, NUL included (TRACE_CGROUP_PATH_LEN). */
const BUFFER = 1024;

describe('cgroup paths the kernel cuts', () => {
  let source: EventSource;
  const events: RawEvent[] = [];
  const root = TestCgroup.create('longpath');

  /** Makes the cgroup at `rel` (under the hierarchy root); returns its id. */
  const mkdir = (rel: string) => {
    const dir = path.join(root.hierarchy.mount, rel);
    fs.mkdirSync(dir);
    return fs.statSync(dir).ino;
  };

  beforeAll(() => {
    requireRoot();
    source = new EventSource(loadBinding(), {
      hierarchy: detectHierarchy('v2'),
      log: createLogger({ quiet: true }),
      probe: { cpuAccounting: false },
    });
    source.start((batch) => events.push(...batch));
  });

  afterAll(async () => {
    source?.close();
    await root.remove();
  });

  it("names a cgroup by its real path when its record's path is an ancestor's or a sibling's", async () => {
    // D: nested names of 200 bytes, to about 800 bytes; under it A and Q, each exactly 1023 bytes.
    let d = root.path;
    while (d.length < 800) d = mkdirPath(d, 'd'.repeat(200));
    const fill = (c: string) => c.repeat(BUFFER - 1 - d.length - 1);
    const a = `${d}/${fill('a')}`;
    const q = `${d}/${fill('q')}`;
    const aId = mkdir(a);
    const qId = mkdir(q);
    // C is A's child: its path cut to 1023 bytes is A's. S is Q's sibling with a longer name: cut, Q's.
    const c = `${a}/child`;
    const s = `${q}${'q'.repeat(40)}`;
    expect(c.slice(0, BUFFER - 1)).toBe(a);
    expect(s.slice(0, BUFFER - 1)).toBe(q);
    const cId = mkdir(c);
    const sId = mkdir(s);

    await until(() => events.some((e) => e.type === EventType.CGROUP_MKDIR && e.cgroupId === sId), 'the mkdir records');
    const made = (id: number) => events.find((e) => e.type === EventType.CGROUP_MKDIR && e.cgroupId === id)!;
    // What the kernel sent: C's and S's paths are A's and Q's, flagged as cut.
    expect(made(cId).path).toBe(a);
    expect(made(sId).path).toBe(q);
    expect(made(cId).flags & Flags.PATH_TRUNC).toBe(Flags.PATH_TRUNC);
    expect(made(sId).flags & Flags.PATH_TRUNC).toBe(Flags.PATH_TRUNC);

    // What the agent names them: each by its own path, and A and Q keep theirs.
    expect(source.names.path(cId)).toBe(c);
    expect(source.names.path(sId)).toBe(s);
    expect(source.names.path(aId)).toBe(a);
    expect(source.names.path(qId)).toBe(q);
    expect(source.names.idOf(a)).toBe(aId);
    expect(source.names.idOf(q)).toBe(qId);
    expect(source.names.idOf(c)).toBe(cId);

    // A process in C is C's, not A's.
    const run = spawnSync('/bin/sh', ['-c', `echo $$ > "${path.join(root.hierarchy.mount, c)}/cgroup.procs" && exit 0`]);
    expect(run.status).toBe(0);
    await until(() => events.some((e) => e.type === EventType.EXIT && e.pid === run.pid), 'the exit in C');
    const exit = events.find((e) => e.type === EventType.EXIT && e.pid === run.pid)!;
    expect(exit.cgroupId).toBe(cId);
    expect(source.names.path(exit.cgroupId)).toBe(c);

    // Removed, C keeps its real name (the rmdir record's path is cut too).
    fs.rmdirSync(path.join(root.hierarchy.mount, c));
    await until(() => events.some((e) => e.type === EventType.CGROUP_RMDIR && e.cgroupId === cId), 'the rmdir record');
    expect(source.names.isGone(cId)).toBe(true);
    expect(source.names.path(cId)).toBe(c);
    expect(source.names.idOf(a)).toBe(aId);
  });

  /** Makes `parent/name` and returns its path. */
  function mkdirPath(parent: string, name: string): string {
    const rel = `${parent}/${name}`;
    mkdir(rel);
    return rel;
  }
});
