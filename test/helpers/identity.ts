/**
 * One workload whose exits show every identity field, and what they must carry: the local tail's
 * and the agent stream's real tests run it and check it the same way.
 */
import { expect } from 'vitest';
import type { ProcessEvent } from '../../src/events/model.js';

/** An argv past the kernel's 2048-byte budget (bpf.argv_max_bytes' default). */
export const LONG_ARGV = Array.from({ length: 100 }, (_, i) => `arg${i}-${'x'.repeat(60)}`);

/** bash (the script) -> sh -c (in /tmp) -> its subshell that exits 3; then a /bin/true with LONG_ARGV. */
export const IDENTITY_SCRIPT = `cd /tmp && /bin/sh -c '/bin/sleep 0.2; ( exit 3 ); exit 0'; /bin/true ${LONG_ARGV.join(' ')}; true`;

/**
 * Checks the exits of one IDENTITY_SCRIPT run whose bash had `scriptPid`: sh's identity, the
 * subshell's (a fork without exec: sh's), /bin/true's cut argv. Returns sh's and the subshell's exits.
 */
export function expectIdentity(exits: ProcessEvent[], scriptPid: number): { sh: ProcessEvent; sub: ProcessEvent } {
  const sh = exits.find((e) => e.comm === 'sh' && e.ppid === scriptPid)!;
  expect(sh).toMatchObject({
    filename: '/bin/sh',
    argv: ['/bin/sh', '-c', '/bin/sleep 0.2; ( exit 3 ); exit 0'],
    argv_truncated: false,
    cwd: '/tmp',
    parent_comm: 'bash',
    parent_filename: '/bin/bash',
  });
  const sub = exits.find((e) => e.exit_code === 3)!;
  expect(sub).toMatchObject({ comm: 'sh', filename: '/bin/sh', argv_truncated: false, cwd: '/tmp', parent_comm: 'sh', parent_filename: '/bin/sh' });
  // Its cwd may be gone: /bin/true can exit before its exec record is read.
  const cut = exits.find((e) => e.comm === 'true')!;
  expect(cut).toMatchObject({ filename: '/bin/true', argv_truncated: true, parent_comm: 'bash' });
  expect(cut.argv!.slice(0, 3)).toEqual(['/bin/true', LONG_ARGV[0], LONG_ARGV[1]]);
  expect(cut.argv!.length).toBeLessThan(LONG_ARGV.length + 1);
  return { sh, sub };
}
