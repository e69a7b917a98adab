/**
 * procfs adapter: the processes running now. Read when the agent starts, so the process table
 * (and every gauge built on it) is right from the first moment, and again after the kernel lost
 * records (src/resync.ts); in between, events keep the table.
 */
import fs from 'node:fs';
import { cgroupNsRoot, fromNamespace } from './cgroupns.js';

export interface ProcSnapshot {
  pid: number;
  ppid: number;
  comm: string;
  /** /proc/<pid>/stat state: R, S, D, … ; Z for a zombie (exited, not yet reaped). */
  state: string;
  uid: number;
  threads: number;
  /** CLOCK_BOOTTIME ns, from /proc/<pid>/stat starttime (clock ticks since boot). */
  startNs: number;
  /** Path of the process's cgroup in each hierarchy, by hierarchy id (0 = v2). */
  cgroups: Map<number, string>;
  exe?: string;
}

/** USER_HZ: the unit of /proc/<pid>/stat times; 100 on every Linux architecture in use. */
const CLK_TCK = 100;
/** /proc start times are the kernel's start_boottime rounded down to this (one USER_HZ tick). */
export const START_TICK_NS = 1e9 / CLK_TCK;

/** Parses /proc/<pid>/stat: comm may hold spaces and parentheses, so split at the last ')'. */
export function parseStat(text: string): { pid: number; comm: string; state: string; ppid: number; threads: number; startNs: number } {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); ppid is field 4, num_threads field 20, starttime field 22.
  return {
    pid: Number(text.slice(0, open - 1)),
    comm: text.slice(open + 1, close),
    state: rest[0],
    ppid: Number(rest[1]),
    threads: Number(rest[17]),
    startNs: (Number(rest[19]) * 1e9) / CLK_TCK,
  };
}

/** Real uid from /proc/<pid>/status. */
export function parseStatusUid(text: string): number {
  const m = /^Uid:\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * Reads every process in procRoot; processes that exit while we read are skipped. `v2NsRoot`: in
 * a cgroup namespace of our own (src/host/cgroupns.ts), where its root is in the full hierarchy,
 * so that v2 paths come out whole.
 */
export function scanProcesses(procRoot = '/proc', v2NsRoot = procRoot === '/proc' ? cgroupNsRoot() : undefined): ProcSnapshot[] {
  const out: ProcSnapshot[] = [];
  for (const name of fs.readdirSync(procRoot)) {
    if (!/^\d+$/.test(name)) continue;
    const dir = `${procRoot}/${name}`;
    try {
      const st = parseStat(fs.readFileSync(`${dir}/stat`, 'utf8'));
      const cgroups = new Map<number, string>();
      for (const line of fs.readFileSync(`${dir}/cgroup`, 'utf8').split('\n')) {
        const m = /^(\d+):[^:]*:(.*)$/.exec(line);
        if (m) cgroups.set(Number(m[1]), m[1] === '0' && v2NsRoot ? fromNamespace(m[2], v2NsRoot) : m[2]);
      }
      let exe: string | undefined;
      try {
        exe = fs.readlinkSync(`${dir}/exe`);
      } catch {
        exe = undefined; // kernel threads have none
      }
      out.push({ ...st, uid: parseStatusUid(fs.readFileSync(`${dir}/status`, 'utf8')), cgroups, exe });
    } catch {
      continue; // gone while we read it
    }
  }
  return out;
}
