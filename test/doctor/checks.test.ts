/** `forkwatch doctor`'s privilege line says what is missing, as root or not. */
import { describe, expect, it } from 'vitest';
import { kernelCheck, privilegeCheck } from '../../src/doctor/checks.js';

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

describe('kernelCheck', () => {
  it.each([
    ['6.18.44-fc-v1300', true, /^6\.18\.44-fc-v1300$/],
    ['5.12.0', true, /^5\.12\.0$/],
    ['5.15.0-91-generic', true, /^5\.15\.0-91-generic$/],
    ['10.0.0', true, /^10\.0\.0$/],
    ['5.10.0-28-amd64', false, /^5\.10\.0-28-amd64: too old; .*Linux 5\.12 or newer/],
    ['4.19.0', false, /too old/],
    ['5.1', false, /too old/],
    ['5.120', true, /^5\.120$/],
    ['custom', true, /^custom: not read as major\.minor, not checked \(5\.12 or newer is needed\)$/],
    ['', true, /not checked/],
  ])('%s', (release, ok, detail) => {
    const c = kernelCheck(release);
    expect(c.ok).toBe(ok);
    expect(c.detail).toMatch(detail);
  });

  it('cuts a long release', () => {
    expect(kernelCheck(`6.1.${'x'.repeat(500)}`).detail.length).toBeLessThanOrEqual(64);
  });
});
