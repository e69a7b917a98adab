/**
 * What loading the BPF programs needs of this host: the kernel's BTF, and the capabilities to
 * load tracing programs. `forkwatch doctor` reports these; the event source refuses to start
 * without them, with the fix, before libbpf says something less clear.
 */
import fs from 'node:fs';
import { EnvironmentError } from '../errors.js';

/** The kernel's own BTF, which CO-RE relocates against. */
export const BTF_PATH = '/sys/kernel/btf/vmlinux';

/** Capability bits of CAP_BPF (39), CAP_PERFMON (38) and CAP_SYS_ADMIN (21). */
const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** Parses CapEff from /proc/self/status text. */
export function effectiveCaps(status: string): bigint {
  const m = /^CapEff:\s+([0-9a-f]+)/m.exec(status);
  return m ? BigInt('0x' + m[1]) : 0n;
}

/** Whether the process whose /proc/<pid>/status this is may load the programs, and what to do if not. */
export function bpfPrivileges(status: string): { ok: boolean; detail: string } {
  const caps = effectiveCaps(status);
  const has = (bit: bigint) => (caps & (1n << bit)) !== 0n;
  const ok = has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON));
  const root = /^Uid:\s+0\s/m.test(status);
  return {
    ok,
    detail: ok
      ? has(CAP_SYS_ADMIN)
        ? 'root (CAP_SYS_ADMIN)'
        : 'CAP_BPF and CAP_PERFMON'
      : root
        ? 'root, but without CAP_BPF and CAP_PERFMON (a capability bounding set or a container dropped them); grant both (systemd: CapabilityBoundingSet=, deploy/forkwatch.service; a pod: capabilities.add: [BPF, PERFMON])'
        : 'not root and no CAP_BPF+CAP_PERFMON; run with sudo, or grant them: setcap cap_bpf,cap_perfmon+ep $(which node)',
  };
}

/** Throws an EnvironmentError with the fix when this host lacks BTF or this process the privileges. */
export function requireBpfHost(): void {
  if (!fs.existsSync(BTF_PATH)) {
    throw new EnvironmentError(`this kernel has no BTF (${BTF_PATH} is missing); forkwatch needs a kernel built with CONFIG_DEBUG_INFO_BTF=y`);
  }
  const priv = bpfPrivileges(fs.readFileSync('/proc/self/status', 'utf8'));
  if (!priv.ok) throw new EnvironmentError(`cannot load BPF programs: ${priv.detail}`);
}
