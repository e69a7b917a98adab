/** `forkwatch doctor`'s privilege line says what is missing, as root or not. */
import { describe, expect, it } from 'vitest';
import { privilegeCheck } from '../../src/doctor/checks.js';

const status = (uid: number, capEff: string) => `Name:\tnode\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nCapEff:\t${capEff}\n`;

describe('privilegeCheck', () => {
  it.each([
    ['full root', status(0, '000001ffffffffff'), true, /^root \(CAP_SYS_ADMIN\)$/],
    ['CAP_BPF and CAP_PERFMON only', status(0, '000000c000000000'), true, /^CAP_BPF and CAP_PERFMON$/],
    [
      'root with the capabilities dropped',
      status(0, '0000000000000020'),
      false,
      /^root, but without CAP_BPF and CAP_PERFMON .*CapabilityBoundingSet=.*capabilities\.add: \[BPF, PERFMON\]/,
    ],
    ['a user', status(1000, '0000000000000000'), false, /^not root and no CAP_BPF\+CAP_PERFMON; run with sudo/],
  ])('%s', (_name, text, ok, detail) => {
    const c = privilegeCheck(text);
    expect(c.ok).toBe(ok);
    expect(c.detail).toMatch(detail);
  });
});
