/**
 * The native addon (addon/), typed. The only module that loads it; everything else receives a
 * NativeBinding (or a Probe) as a parameter, so it can be tested without root or the addon.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export interface ProbeOptions {
  ringBytes?: number;
  counterEntries?: number;
  /** Direct-mapped counter rows, at most (rounded down to a power of two and a memory budget; 0: none, every row in the hash): forks, execs and exits of that many cgroups per CPU count without a hash lookup. */
  fastRows?: number;
  /** 0 for cgroup v2, else the v1 hierarchy id whose cgroups define groups. */
  cgroupHierarchy?: number;
  argvMax?: number;
  /** Thread create / exit records at start (records on demand: setInterest changes it later). */
  threadEvents?: boolean;
  /** Records of every cgroup at start; false: only of watched cgroups (setWatched). */
  recordAll?: boolean;
  /** Cgroups the watched map can hold. */
  watchedEntries?: number;
  wakeupBytes?: number;
  /** Records wait at most this long before the reader is woken; 0 wakes it on every record. */
  wakeupNs?: number;
  cpuAccounting?: boolean;
  /** Turn on the kernel's BPF run-time statistics while the probe lives. */
  bpfStats?: boolean;
  /** Claim process exits as kernels before v6.16 need, even on a newer one (for tests). */
  exitClaim?: boolean;
  /** Another build of the same BPF object (bench/bpf-attrib.mjs's knockout variants); checked before it loads. */
  objectPath?: string;
  /** Tests only: µs the reader pauses between two CPUs' staging areas in a drain (test/kernel/stage.test.ts). */
  stageGapUs?: number;
}

export interface ProgStat {
  name: string;
  runTimeNs: number;
  runCount: number;
  recursionMisses: number;
}

/** One loaded and attached copy of the BPF programs. */
export interface NativeProbe {
  readonly attached: string[];
  readonly skipped: string[];
  /** How a process's exit is told from its threads': the tracepoint's group_dead, or a claim. */
  readonly exitDecision: 'group_dead' | 'claim';
  /** Direct-mapped counter rows in use (slots of cg_fast), or 0: every row in the hash (fastRows 0, or a kernel before v5.19). */
  readonly fastRows: number;
  /**
   * onBatch(buffer, records, bytes) once per wake-up: the records are buffer[0, bytes), padded to
   * 8 bytes, each sized by hdr.size. The buffer is reused by the next call; copy what must
   * outlive this one.
   */
  start(onBatch: (batch: Buffer, records: number, bytes: number) => void): void;
  drain(): number;
  /** Each cgroup's counts: its hash row plus its direct-mapped rows (cg_fast), read so that no fold is seen half done. */
  readCounters(): Buffer;
  /** Removes the hash rows of these (removed) cgroups, into which their rmdir folded their direct-mapped rows; returns their last counts, as readCounters(). */
  takeCounters(ids: BigUint64Array): Buffer;
  /** struct fw_census lines, one per live process, taken now (the census iterator). */
  census(): Buffer;
  stats(): Buffer;
  /** struct fw_oncpu per possible CPU. */
  oncpu(): Buffer;
  progStats(): ProgStat[];
  /** Records of every cgroup (all) or of the watched ones only; thread records or not. */
  setInterest(all: boolean, threads: boolean): void;
  /**
   * Watches these cgroups with WATCH_* flags (src/events/layout.ts), or stops (flags 0). Returns
   * how many the full map could not take.
   */
  setWatched(ids: BigUint64Array, flags: number): number;
  close(): void;
}

export interface Features {
  btf: boolean;
  ringbuf: boolean;
  tracepoints: Record<string, boolean>;
}

/** What spawnInCgroup starts, and as whom. */
export interface SpawnOptions {
  /** Absolute path of the executable: the child does no PATH search. */
  file: string;
  argv: string[];
  /** The whole environment, "NAME=value" each. */
  envp: string[];
  /** Directory to run in; the agent's when empty or not given. */
  cwd?: string;
  /** The cgroup v2 directory the child is created in (clone3 CLONE_INTO_CGROUP). */
  cgroupDir: string;
  uid?: number;
  gid?: number;
  /** Supplementary groups; [] clears them; not given keeps the agent's. */
  groups?: number[];
  /** A session of its own (default true). */
  setsid?: boolean;
  /**
   * false: clone3 without CLONE_VM, which copies the agent's page tables; only for
   * bench/supervisor/spawn-cost.mjs, which measures what that costs (default true).
   */
  vfork?: boolean;
}

/** How a spawned program's main process ended; both null when its status was lost. */
export interface NativeExit {
  code: number | null;
  signal: string | null;
}

/** A program started by spawnInCgroup; its exit is watched through a pidfd on the main loop. */
export interface NativeChild {
  readonly pid: number;
  /** Read ends of the program's stdout and stderr pipes (close-on-exec); the caller owns them. */
  readonly stdoutFd: number;
  readonly stderrFd: number;
  /** Whether the exit watch keeps the event loop alive (on by default), as ChildProcess.ref(). */
  ref(): void;
  unref(): void;
  /** pidfd_send_signal: never another process that reused the pid; false once it has exited. */
  kill(signal: number): boolean;
}

export interface NativeBinding {
  Probe: new (options: ProbeOptions, log?: (level: string, message: string) => void) => NativeProbe;
  clocks(): [bigint, bigint];
  features(tracepoints: string[]): Features;
  sizes(): Record<string, number>;
  libbpfVersion: string;
  /**
   * Start a program inside a cgroup from its first instruction (clone3 CLONE_INTO_CGROUP, posix_spawn
   * style). Throws an Error with code, errno, step ("clone3", "execve", "setuid"...) and object.
   * onExit is called once, on the main loop, when the main process has exited and been reaped.
   */
  spawnInCgroup(options: SpawnOptions, onExit: (exit: NativeExit) => void): NativeChild;
  /** pidfd_open(2): a descriptor for the process now at `pid` (close it with fs.closeSync); throws with code ESRCH when there is none. */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(2): true when sent, false when the process has exited. */
  pidfdSendSignal(fd: number, signal: number): boolean;
}

/** Path of the built addon, relative to this file in dist/ or src/. */
export const ADDON_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../addon/build/Release/forkwatch.node');

let cached: NativeBinding | undefined;

/** Loads the addon once; throws with a hint to run `make` when it has not been built. */
export function loadBinding(): NativeBinding {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  try {
    cached = require(ADDON_PATH) as NativeBinding;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'MODULE_NOT_FOUND') {
      throw Object.assign(new Error(`the native addon is not built (${ADDON_PATH}); run 'make'`), { code: 'ENOADDON' });
    }
    throw err;
  }
  return cached;
}
