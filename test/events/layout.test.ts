/**
 * The TypeScript record layout must match bpf/proc.h as the compiler laid it out: every offset and
 * size is checked against the BTF of the built BPF object (what the kernel side writes), and the
 * struct sizes against the addon's sizeof().
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LAYOUT } from '../../src/events/layout.js';
import { loadBinding } from '../../src/host/binding.js';
import { ROOT } from '../helpers/cli.js';

interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: { name: string; type_id: number; bits_offset: number }[];
}

const btf = JSON.parse(execFileSync('bpftool', ['btf', 'dump', 'file', path.join(ROOT, 'build/bpf/proc.bpf.o'), '-j'], { encoding: 'utf8' })) as {
  types: BtfType[];
};
const byId = new Map(btf.types.map((t) => [t.id, t]));

function sizeOf(id: number): number {
  const t = byId.get(id)!;
  switch (t.kind) {
    case 'TYPEDEF':
    case 'CONST':
    case 'VOLATILE':
      return sizeOf(t.type_id!);
    case 'ARRAY':
      return t.nr_elems! * sizeOf(t.type_id!);
    default:
      return t.size!;
  }
}

describe('record layout', () => {
  it.each(Object.entries(LAYOUT))('%s matches the BTF of proc.bpf.o', (name, want) => {
    const s = btf.types.find((t) => t.kind === 'STRUCT' && t.name === name);
    expect(s, `struct ${name} in BTF`).toBeDefined();
    expect(s!.size).toBe(want.size);
    const got = Object.fromEntries(s!.members!.map((m) => [m.name, [m.bits_offset / 8, sizeOf(m.type_id)]]));
    expect(got).toEqual(want.fields);
  });

  it('matches the sizes the addon was compiled with', () => {
    const sizes = loadBinding().sizes();
    for (const [name, want] of Object.entries(LAYOUT)) expect(sizes[name], name).toBe(want.size);
  });
});
