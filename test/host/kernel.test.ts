/** What loading the programs needs: CapEff read from /proc/<pid>/status, and this host's answer. */
import { describe, expect, it } from 'vitest';
import { bpfPrivileges, effectiveCaps, requireBpfHost } from '../../src/host/kernel.js';

describe('effectiveCaps', () => {
  it.each([
    ['Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n', 0x1ffffffffffn],
    ['CapEff:\t000000c000000000\nCapBnd:\t000001ffffffffff\n', (1n << 38n) | (1n << 39n)],
    ['Name:\tnode\n', 0n],
    ['CapEff:\tzz\n', 0n],
  ])('%j', (status, caps) => {
    expect(effectiveCaps(status)).toBe(caps);
  });
});

describe('this host', () => {
  it('has BTF and runs the tests with the privileges to load the programs (run as root)', () => {
    expect(process.getuid?.(), 'the kernel tests run as root').toBe(0);
    expect(() => requireBpfHost()).not.toThrow();
    expect(bpfPrivileges('Uid:\t1000\t1000\t1000\t1000\nCapEff:\t0000000000000000\n').ok).toBe(false);
  });
});
