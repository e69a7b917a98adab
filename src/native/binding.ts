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
  /** 0 for cgroup v2, else the v1 hierarchy id whose cgroups define groups. */
  cgroupHierarchy?: number;
  argvMax?: number;
  threadEvents?: boolean;
  wakeupBytes?: number;
  /** Records wait at most this long before the reader is woken; 0 wakes it on every record. */
  wakeupNs?: number;
  cpuAccounting?: boolean;
  /** Turn on the kernel's BPF run-time statistics while the probe lives. */
  bpfStats?: boolean;
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
  /**
   * onBatch(buffer, records, bytes) once per wake-up: the records are buffer[0, bytes), padded to
   * 8 bytes, each sized by hdr.size. The buffer is reused by the next call; copy what must
   * outlive this one.
   */
  start(onBatch: (batch: Buffer, records: number, bytes: number) => void): void;
  drain(): number;
  readCounters(): Buffer;
  deleteCounters(ids: BigUint64Array): void;
  stats(): Buffer;
  /** struct fw_oncpu per possible CPU. */
  oncpu(): Buffer;
  progStats(): ProgStat[];
  close(): void;
}

export interface Features {
  btf: boolean;
  ringbuf: boolean;
  tracepoints: Record<string, boolean>;
}

export interface NativeBinding {
  Probe: new (options: ProbeOptions, log?: (level: string, message: string) => void) => NativeProbe;
  clocks(): [bigint, bigint];
  features(tracepoints: string[]): Features;
  sizes(): Record<string, number>;
  libbpfVersion: string;
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
