/**
 * What the kernel path needs, checked one requirement at a time. `forkwatch doctor` prints them
 * all; the commands that load BPF stop at the first one that fails, with its fix.
 */
import fs from 'node:fs';
import os from 'node:os';
import type { NativeBinding } from '../host/binding.js';
import { parseMounts } from '../host/cgroupfs.js';
import { BTF_PATH, bpfPrivileges } from '../host/kernel.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** The privileges line: whether this process may load the programs (host/kernel.ts). */
export function privilegeCheck(status: string): Check {
  return { name: 'privileges', ...bpfPrivileges(status) };
}

export function btfCheck(exists: boolean): Check {
  return {
    name: 'kernel BTF',
    ok: exists,
    detail: exists
      ? BTF_PATH
      : `${BTF_PATH} is missing: this kernel was built without CONFIG_DEBUG_INFO_BTF; use a kernel with BTF (Debian 11+, Ubuntu 20.10+, Fedora, RHEL 8.2+ ship one)`,
  };
}

/** The oldest kernel the programs load on: their record path's fetching adds (BPF_FETCH) came in 5.12. */
const MIN_KERNEL: readonly [number, number] = [5, 12];

/** The kernel release (`uname -r`) against MIN_KERNEL; one that does not start with major.minor is not judged. */
export function kernelCheck(release: string): Check {
  const m = /^(\d{1,4})\.(\d{1,4})(?!\d)/.exec(release);
  const min = `${MIN_KERNEL[0]}.${MIN_KERNEL[1]}`;
  const shown = release.slice(0, 64);
  if (!m) return { name: 'kernel release', ok: true, detail: `${shown}: not read as major.minor, not checked (${min} or newer is needed)` };
  const [major, minor] = [Number(m[1]), Number(m[2])];
  const ok = major > MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor >= MIN_KERNEL[1]);
  return {
    name: 'kernel release',
    ok,
    detail: ok ? shown : `${shown}: too old; forkwatch's programs need Linux ${min} or newer (BPF atomic fetch-and-add)`,
  };
}

export const TRACEPOINTS = [
  'sched_process_fork',
  'sched_process_exec',
  'sched_process_exit',
  'cgroup_attach_task',
  'cgroup_mkdir',
  'cgroup_rmdir',
  'sched_switch',
];

/** Every check, in the order a fix would be made. */
export function runChecks(binding: NativeBinding | undefined, read = (p: string) => fs.readFileSync(p, 'utf8')): Check[] {
  const checks: Check[] = [privilegeCheck(read('/proc/self/status')), kernelCheck(os.release()), btfCheck(fs.existsSync(BTF_PATH))];
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
