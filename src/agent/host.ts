/**
 * What the Agent needs of the host it runs on: the kernel side (the addon), the cgroup hierarchy
 * that defines groups and reads of it, procfs, and clocks. The pipeline (agent.ts) reads the host
 * only through this; compose.ts builds the real one, tests build one in memory (a binding that
 * replays recorded ring bytes, cgroupfs and procfs as maps), so the whole Agent runs without root.
 */
import type { Hierarchy } from '../host/cgroupfs.js';
import type { SourceBinding } from '../events/source.js';
import type { ProcCwd, ProcSnapshot } from '../host/procfs.js';

/** The grouping hierarchy's cgroupfs, read-only: paths are relative to its mount ("/" its root). */
export interface CgroupfsReader {
  /** Every cgroup: id (its directory's inode) -> path. */
  scan(): Map<number, string>;
  /** The path of cgroup `id` if it is below `under` (for a record whose path the kernel cut). */
  find(id: number, under: string): string | undefined;
  /** The id of a path, or undefined when it is gone. */
  idOf(path: string): number | undefined;
  /** cgroup v2: a cgroup's cpu.stat usage_usec, undefined when gone (CPU per cgroup, cgroup-cpu.ts). */
  cpuUsageUs?(path: string): number | undefined;
}

/** procfs, read-only. */
export interface ProcfsReader {
  /** The processes running now (those that exit while being read are left out). */
  processes(): ProcSnapshot[];
  /** A process's working directory now (read at its exec record) with the start time of the pid's process; undefined when gone. Absent: not kept. */
  cwd?(pid: number): ProcCwd | undefined;
}

export interface HostClock {
  /** Wall-clock ms (group eviction, empty-since times). */
  now(): number;
  /** Monotonic ms (rate limits of rescans). */
  monotonicMs(): number;
  /** CLOCK_MONOTONIC ns, the clock of bpf_ktime_get_ns() (CPU of what runs at a scrape). */
  monotonicNs(): number;
}

export interface AgentHost {
  /** Loads the BPF programs (Probe) and reads the kernel's clocks. */
  readonly binding: SourceBinding;
  /** Throws an EnvironmentError with a fix when the programs cannot load here (BTF, privileges). */
  preflight(): void;
  /** The hierarchy whose cgroups define groups (detected by compose.ts from cgroup.hierarchy). */
  readonly hierarchy: Hierarchy;
  readonly cgroupfs: CgroupfsReader;
  readonly procfs: ProcfsReader;
  readonly clock: HostClock;
}
