/**
 * procfs adapter, the one reader of /proc/<pid> files: a process's stat line (parsed here and
 * nowhere else), and the processes running now. Those are read when the agent starts, so the
 * process table (and every gauge built on it) is right from the first moment, and again after the
 * kernel lost records (src/agent/resync.ts); in between, events keep the table.
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
export const CLK_TCK = 100;
/** /proc start times are the kernel's start_boottime rounded down to this (one USER_HZ tick). */
export const START_TICK_NS = 1e9 / CLK_TCK;

/** The fields of /proc/<pid>/stat (or /proc/<pid>/task/<tid>/stat) that forkwatch reads. */
export interface ProcStat {
  pid: number;
  comm: string;
  /** Field 3: R, S, D, … ; Z for a zombie. */
  state: string;
  ppid: number;
  /** Field 9: the task's PF_* flags (PF_EXITING while it is inside do_exit()). */
  flags: number;
  threads: number;
  /** Field 22: clock ticks since boot. */
  startTicks: number;
  /** The same as CLOCK_BOOTTIME ns. */
  startNs: number;
}

/** PF_EXITING in ProcStat.flags: the thread is inside do_exit(). */
export const PF_EXITING = 0x4;

/**
 * Parses /proc/<pid>/stat. comm may hold spaces and parentheses (a process names itself), so it
 * is what lies between the first '(' and the LAST ')'; the fields after that are fixed. Throws on
 * text that is not a stat line.
 */
export function parseStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const rest = close > open && open > 0 ? text.slice(close + 2).split(' ') : [];
  // rest[0] is field 3 (state); ppid is field 4, flags field 9, num_threads field 20, starttime field 22.
  if (rest.length < 20) throw new Error(`not a /proc/<pid>/stat line: ${JSON.stringify(text.slice(0, 80))}`);
  const startTicks = Number(rest[19]);
  return {
    pid: Number(text.slice(0, open - 1)),
    comm: text.slice(open + 1, close),
    state: rest[0],
    ppid: Number(rest[1]),
    flags: Number(rest[6]),
    threads: Number(rest[17]),
    startTicks,
    startNs: startTicks * START_TICK_NS,
  };
}

/** /proc/<pid>/stat parsed; undefined when the process is gone (or the file does not parse). */
export function readStat(pid: number, procRoot = '/proc'): ProcStat | undefined {
  return readStatFile(`${procRoot}/${pid}/stat`);
}

function readStatFile(file: string): ProcStat | undefined {
  try {
    return parseStat(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** A working directory read from procfs, with the start time of the process the pid was then. */
export interface ProcCwd {
  cwd: string;
  /** CLOCK_BOOTTIME ns, rounded down to a tick (stat field 22). */
  startNs: number;
}

/**
 * A process's working directory now (readlink of /proc/<pid>/cwd), and the start time that pid's
 * stat shows after the readlink: when that is the start of the process the caller means, the
 * link was that process's (a pid reused before the readlink would show the new process's start
 * after it too). Undefined when it is gone or hidden.
 */
export function readCwd(pid: number, procRoot = '/proc'): ProcCwd | undefined {
  let cwd: string;
  try {
    cwd = fs.readlinkSync(`${procRoot}/${pid}/cwd`);
  } catch {
    return undefined;
  }
  const st = readStat(pid, procRoot);
  return st && { cwd, startNs: st.startNs };
}

/**
 * True when every thread of the process is inside do_exit() (PF_EXITING), or it is gone. The
 * kernel's exit record arrives before the task leaves cgroup.procs (cgroup_exit() runs later in
 * do_exit()), so a group the events say is empty may still list a process on its way out.
 */
export function isExiting(pid: number, procRoot = '/proc'): boolean {
  let tids: string[];
  try {
    tids = fs.readdirSync(`${procRoot}/${pid}/task`);
  } catch {
    return true; // gone already
  }
  for (const tid of tids) {
    const st = readStatFile(`${procRoot}/${pid}/task/${tid}/stat`);
    if (st !== undefined && (st.flags & PF_EXITING) === 0) return false; // undefined: that thread is gone
  }
  return true;
}

/** The boot time (`btime` of /proc/stat), Unix seconds; undefined when it cannot be read. */
export function bootTime(procRoot = '/proc'): number | undefined {
  try {
    const m = /^btime (\d+)$/m.exec(fs.readFileSync(`${procRoot}/stat`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
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
      const { pid, comm, state, ppid, threads, startNs } = parseStat(fs.readFileSync(`${dir}/stat`, 'utf8'));
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
      out.push({ pid, comm, state, ppid, threads, startNs, uid: parseStatusUid(fs.readFileSync(`${dir}/status`, 'utf8')), cgroups, exe });
    } catch {
      continue; // gone while we read it
    }
  }
  return out;
}
