/** Flag values with units: byte sizes like 8MiB, 64KiB, 4096 (the config's size forms). */
import { parseSize } from '../config/values.js';
import { UsageError } from '../errors.js';

/** Parses a byte size; errors name the flag and say what is accepted. */
export function parseByteSize(flag: string, v: string, opts: { powerOfTwo?: boolean; min?: number; max?: number } = {}): number {
  const n = parseSize(v);
  if (n === undefined || !Number.isInteger(n)) throw new UsageError(`${flag} "${v}": expected a size in bytes such as 4096, 64KiB or 8MiB`);
  if (opts.powerOfTwo && (n & (n - 1)) !== 0) throw new UsageError(`${flag} "${v}": expected a power of two (e.g. 4MiB, 8MiB, 16MiB)`);
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`${flag} "${v}": expected at least ${opts.min} bytes`);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`${flag} "${v}": expected at most ${opts.max} bytes`);
  return n;
}
