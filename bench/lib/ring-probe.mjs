// bench/ring-layout.mjs's probes (bench/ring-layout/): their builds and the loader, one home for the
// bench and its test.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** The builds of probe.bpf.c the bench compares; `ring` is the loader's argument for each. */
export const PROBES = [
  { name: 'shared', label: "one BPF ring buffer for all CPUs (the agent's layout)", ring: 'shared', define: ['-DRING_KIND=0', '-DRECORD_CLOCK=1'] },
  { name: 'percpu', label: 'a BPF ring buffer per CPU', ring: 'percpu', define: ['-DRING_KIND=1', '-DRECORD_CLOCK=1'] },
  { name: 'stage', label: 'in place, per-CPU staging area (not read: the floor)', ring: 'stage', define: ['-DRING_KIND=2', '-DRECORD_CLOCK=1'] },
  { name: 'stage-noclock', label: 'the same, without the clock read', ring: 'stage', define: ['-DRING_KIND=2', '-DRECORD_CLOCK=0'] },
];

/**
 * Builds every probe object and the loader into `dir`.
 * @returns {{ loader: string, objects: Record<string, string> }}
 */
export function buildRingProbes(root, dir) {
  const arch = process.arch === 'arm64' ? 'arm64' : 'x86';
  const src = join(root, 'bench/ring-layout');
  const flags = [
    '-g',
    '-O2',
    '-Wall',
    '-target',
    'bpf',
    '-mcpu=v3',
    `-D__TARGET_ARCH_${arch}`,
    `-I${join(root, 'bpf')}`,
    `-I${join(root, 'bpf/vmlinux', arch)}`,
  ];
  /** @type {Record<string, string>} */
  const objects = {};
  for (const p of PROBES) {
    objects[p.name] = join(dir, `${p.name}.bpf.o`);
    execFileSync('clang', [...flags, ...p.define, '-c', join(src, 'probe.bpf.c'), '-o', objects[p.name]], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const loader = join(dir, 'ring-probe');
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-o', loader, join(src, 'probe.c'), '-lbpf'], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { loader, objects };
}
