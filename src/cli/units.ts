/** Flag values with units: byte sizes like 8MiB, 64KiB, 4096. */
import { UsageError } from '../errors.js';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1 << 20, mb: 1e6, mib: 1 << 20, g: 1 << 30, gb: 1e9, gib: 1 << 30 };

/** Parses a byte size; errors name the flag and say what is accepted. */
export function parseByteSize(flag: string, v: string, opts: { powerOfTwo?: boolean; min?: number; max?: number } = {}): number {
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(v);
  const mult = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || mult === undefined) throw new UsageError(`${flag} "${v}": expected a size in bytes such as 4096, 64KiB or 8MiB`);
  const n = Number(m[1]) * mult;
  if (opts.powerOfTwo && (n & (n - 1)) !== 0) throw new UsageError(`${flag} "${v}": expected a power of two (e.g. 4MiB, 8MiB, 16MiB)`);
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`${flag} "${v}": expected at least ${opts.min} bytes`);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`${flag} "${v}": expected at most ${opts.max} bytes`);
  return n;
}
