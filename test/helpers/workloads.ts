/** Small C workloads for kernel tests, compiled once per run into a temp dir. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './cli.js';

const built = new Map<string, string>();

/** Path of the compiled test/workloads/<name>.c. */
export function workload(name: string): string {
  const have = built.get(name);
  if (have) return have;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-wl-'));
  const out = path.join(dir, name);
  execFileSync('cc', ['-O2', '-pthread', '-o', out, path.join(ROOT, 'test/workloads', `${name}.c`)]);
  built.set(name, out);
  return out;
}

/** Path of test/workloads/<name>.bpf.c compiled to a BPF object (CO-RE, against the vendored vmlinux.h). */
export function bpfWorkload(name: string): string {
  const key = `${name}.bpf.o`;
  const have = built.get(key);
  if (have) return have;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-wl-'));
  const out = path.join(dir, key);
  const arch = os.arch() === 'arm64' ? 'arm64' : 'x86';
  const flags = ['-g', '-O2', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, `-I${ROOT}/bpf`, `-I${ROOT}/bpf/vmlinux/${arch}`];
  execFileSync('clang', [...flags, '-c', path.join(ROOT, 'test/workloads', `${name}.bpf.c`), '-o', out]);
  built.set(key, out);
  return out;
}
