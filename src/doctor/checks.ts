/**
 * What the kernel path needs, checked one requirement at a time. `forkwatch doctor` prints them
 * all; the commands that load BPF stop at the first one that fails, with its fix.
 */
import fs from 'node:fs';
import type { NativeBinding } from '../host/binding.js';
import { parseMounts } from '../host/cgroupfs.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** Capability bits of CAP_BPF (39), CAP_PERFMON (38) and CAP_SYS_ADMIN (21). */
const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** Parses CapEff from /proc/self/status text. */
export function effectiveCaps(status: string): bigint {
  const m = /^CapEff:\s+([0-9a-f]+)/m.exec(status);
  return m ? BigInt('0x' + m[1]) : 0n;
}

export function privilegeCheck(status: string): Check {
  const caps = effectiveCaps(status);
  const has = (bit: bigint) => (caps & (1n << bit)) !== 0n;
  const ok = has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON));
  const root = /^Uid:\s+0\s/m.test(status);
  return {
    name: 'privileges',
    ok,
    detail: ok
      ? has(CAP_SYS_ADMIN) ? 'root (CAP_SYS_ADMIN)' : 'CAP_BPF and CAP_PERFMON'
      : root
        ? 'root, but without CAP_BPF and CAP_PERFMON (a capability bounding set or a container dropped them); grant both (systemd: CapabilityBoundingSet=, deploy/forkwatch.service; a pod: capabilities.add: [BPF, PERFMON])'
        : 'not root and no CAP_BPF+CAP_PERFMON; run with sudo, or grant them: setcap cap_bpf,cap_perfmon+ep $(which node)',
  };
}

export const BTF_PATH = '/sys/kernel/btf/vmlinux';

export function btfCheck(exists: boolean): Check {
  return {
    name: 'kernel BTF',
    ok: exists,
    detail: exists
      ? BTF_PATH
      : `${BTF_PATH} is missing: this kernel was built without CONFIG_DEBUG_INFO_BTF; use a kernel with BTF (Debian 11+, Ubuntu 20.10+, Fedora, RHEL 8.2+ ship one)`,
  };
}

export const TRACEPOINTS = ['sched_process_fork', 'sched_process_exec', 'sched_process_exit', 'cgroup_attach_task', 'cgroup_mkdir', 'cgroup_rmdir', 'sched_switch'];

/** Every check, in the order a fix would be made. */
export function runChecks(binding: NativeBinding | undefined, read = (p: string) => fs.readFileSync(p, 'utf8')): Check[] {
  const checks: Check[] = [privilegeCheck(read('/proc/self/status')), btfCheck(fs.existsSync(BTF_PATH))];
  if (!binding) {
    checks.push({ name: 'native addon', ok: false, detail: "not built; run 'make'" });
    return checks;
  }
  const feats = binding.features(TRACEPOINTS);
  for (const tp of TRACEPOINTS) {
    const ok = feats.tracepoints[tp] === true;
    checks.push({
      name: `tracepoint ${tp}`,
      ok,
      detail: ok ? 'present' : feats.btf ? 'missing from this kernel (needs a newer kernel)' : 'unknown without kernel BTF',
    });
  }
  checks.push({
    name: 'BPF ring buffer',
    ok: feats.ringbuf,
    detail: feats.ringbuf ? 'supported' : 'not supported or not permitted: needs Linux 5.8+ and the privileges above',
  });
  const mounts = parseMounts(read('/proc/self/mounts'));
  checks.push({
    name: 'cgroup v2',
    ok: mounts.v2 !== undefined,
    detail: mounts.v2 ? `mounted at ${mounts.v2}` : 'not mounted; mount it: mount -t cgroup2 none /sys/fs/cgroup/unified',
  });
  return checks;
}
