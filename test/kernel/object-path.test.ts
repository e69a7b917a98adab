/**
 * The addon's objectPath option (bench/bpf-attrib.mjs's knockout variants): an object built from
 * the same source with a knockout switch loads and does what the switch says; a file that is not
 * such an object is refused before anything is loaded, naming the step and the file.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { knockouts } from '../../bench/lib/knockouts.mjs';
import { probeOptions } from '../../src/config/default.js';
import { decodeBatch, decodeCounters, type RawEvent } from '../../src/events/decode.js';
import { EventType } from '../../src/events/layout.js';
import { loadBinding } from '../../src/host/binding.js';
import { ROOT } from '../helpers/cli.js';
import { bpfProgIds, loadedProgIds, requireRoot, TestCgroup } from '../helpers/cgroup.js';
import { bpfWorkload, workload } from '../helpers/workloads.js';

const KNOCKOUTS = knockouts(ROOT) as { name: string; define: string }[];

describe('loading another build of the BPF object', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-objpath-'));
  const cg = TestCgroup.create('objpath');

  beforeAll(() => requireRoot());

  afterAll(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await cg.remove();
  });

  /** `make bpf-variant`, as the bench builds its variants. */
  function variant(defines: string): string {
    const out = path.join(dir, `${defines.replace(/\W+/g, '_') || 'default'}.bpf.o`);
    execFileSync('make', ['-s', '-C', ROOT, '-o', 'build/.apt-build', 'bpf-variant', `VARIANT=${defines}`, `OUT=${out}`]);
    return out;
  }

  it('the source has the knockouts the bench measures', () => {
    expect(KNOCKOUTS.map((k) => k.name)).toEqual(expect.arrayContaining(['EMPTY', 'COUNTERS', 'RECORD', 'HEADER', 'WAKEUP', 'CGROUP']));
  });

  it('loads a knockout variant: without its record part it counts every fork and writes no record', async () => {
    const probe = new (loadBinding().Probe)({ ...probeOptions({ cpuAccounting: false }), objectPath: variant('-DFW_KO_RECORD=1') });
    try {
      const events: RawEvent[] = [];
      probe.start((buf, _n, bytes) => decodeBatch(buf, (e) => events.push(e), bytes));
      expect((await cg.exec(`exec ${workload('forkn')} 20`)).code).toBe(0);
      probe.drain();
      // The move into the cgroup is recorded (not a per-event handler); no fork, exec or exit is.
      // Counted: forkn's 20 children, the execs of bash then forkn, and 21 exits.
      expect(events.filter((e) => e.cgroupId === cg.id).map((e) => e.type)).toEqual([EventType.MIGRATE]);
      expect(decodeCounters(probe.readCounters()).find((r) => r.cgroupId === cg.id)).toMatchObject({ forks: 20, execs: 2, exitsSuccess: 21 });
    } finally {
      probe.close();
    }
  });

  it.each(KNOCKOUTS.map((k) => [k.name, k.define]))('the %s knockout passes the verifier and attaches every handler', (_name, define) => {
    const before = loadedProgIds();
    const probe = new (loadBinding().Probe)({ ...probeOptions({}), objectPath: variant(define) });
    try {
      expect(probe.attached).toEqual(expect.arrayContaining(['handle_fork', 'handle_exec', 'handle_switch']));
    } finally {
      probe.close();
    }
    // Closed means gone: none of its programs stay loaded.
    expect(bpfProgIds().filter((id) => !before.has(id))).toEqual([]);
  });

  it.each([
    ['a file that is not there', () => path.join(dir, 'missing.o'), /^open\(.*missing\.o\): No such file or directory$/],
    ['a directory', () => dir, /^read\(.*forkwatch-objpath-\w+\): Is a directory$/],
    ['a file that is not an object', () => write('junk.o', 'not an ELF file'), /^bpf_object__open\(.*junk\.o\): BPF object format invalid$/],
    [
      "another program's object",
      () => buildOther(),
      /^bpf_object__open\(.*exitdelay\.bpf\.o\): Invalid argument: no program handle_fork: not a build of bpf\/proc\.bpf\.c$/,
    ],
  ])('refuses %s before loading anything, naming the step and the file', (_name, file, message) => {
    const before = loadedProgIds();
    expect(() => new (loadBinding().Probe)({ ...probeOptions({}), objectPath: file() })).toThrow(message);
    expect(bpfProgIds().filter((id) => !before.has(id))).toEqual([]);
  });

  // handle_exit's kfunc (bpf_rdonly_cast, v6.2) is weak: a kernel before v6.16 loads
  // handle_exit_claim instead, and one without the kfunc must still load the object.
  it('loads an object whose kfunc the kernel lacks where handle_exit is not loaded, and counts its exits', async () => {
    const src = path.join(dir, 'nokfunc.bpf.c');
    const text = fs.readFileSync(path.join(ROOT, 'bpf/proc.bpf.c'), 'utf8');
    expect(text).toMatch(/extern void \*bpf_rdonly_cast\(.*__ksym __weak;/);
    fs.writeFileSync(src, text.replaceAll('bpf_rdonly_cast', 'fw_no_such_kfunc'));
    const out = path.join(dir, 'nokfunc.bpf.o');
    execFileSync('make', ['-s', '-C', ROOT, '-o', 'build/.apt-build', 'bpf-variant', `SRC=${src}`, `OUT=${out}`]);
    const probe = new (loadBinding().Probe)({ ...probeOptions({ cpuAccounting: false, exitClaim: true }), objectPath: out });
    try {
      expect(probe.attached).toEqual(expect.arrayContaining(['handle_fork', 'handle_exit_claim']));
      expect(probe.attached).not.toContain('handle_exit');
      expect((await cg.exec(`exec ${workload('forkn')} 20`)).code).toBe(0);
      expect(decodeCounters(probe.readCounters()).find((r) => r.cgroupId === cg.id)).toMatchObject({ forks: 20, exitsSuccess: 21 });
    } finally {
      probe.close();
    }
    // Where handle_exit is loaded, the missing kfunc is refused: the weak extern hides nothing.
    expect(() => new (loadBinding().Probe)({ ...probeOptions({ cpuAccounting: false, exitClaim: false }), objectPath: out })).toThrow(
      /^bpf_object__load\(proc\)/,
    );
  });

  it('refuses an objectPath that is not a string', () => {
    expect(() => new (loadBinding().Probe)({ ...probeOptions({}), objectPath: 5 as unknown as string })).toThrow(/^option objectPath must be a string$/);
  });

  it('make bpf-variant takes knockout switches only', () => {
    expect(() =>
      execFileSync('make', ['-s', '-C', ROOT, '-o', 'build/.apt-build', 'bpf-variant', 'VARIANT=-include/etc/passwd', `OUT=${path.join(dir, 'x.o')}`], {
        stdio: 'pipe',
      }),
    ).toThrow(/VARIANT takes -DFW_KO_\* switches only, not '-include\/etc\/passwd'/);
  });

  const write = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };

  /** test/workloads/exitdelay.bpf.c: a valid BPF object, but not proc.bpf.c's maps and programs. */
  const buildOther = () => bpfWorkload('exitdelay');
});
