/**
 * Typed reads from the plain value YAML produced, each knowing its key path, so that every
 * mistake becomes one line: `<file>: <key.path>: <what is wrong>; expected <what is accepted>`.
 */
import { UsageError } from '../errors.js';
import { compilePattern, PATTERN_EXPECTED, PatternError, type LinearRegExp } from './regex.js';
import { parseCommand, parseDuration, parseSize } from './values.js';

/** Where a value sits in the config: keys and list indexes from the top. */
export type KeyPath = ReadonlyArray<string | number>;

/** `groups[2].match.comm` style; the document itself is `(top level)`. */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? '(top level)' : out;
}

/** A value as a message quotes it: strings in quotes, containers by their kind. */
export function describe(value: unknown): string {
  if (typeof value === 'string') {
    const quoted = JSON.stringify(value);
    return quoted.length > 60 ? `${quoted.slice(0, 56)}..."` : quoted;
  }
  if (Array.isArray(value)) return 'a list';
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'object') return 'a mapping';
  return typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' ? String(value) : typeof value;
}

export const DURATION_FORMS = 'seconds as a number, or a string like 100ms, 5s, 2m, 1h, 1d';
export const SIZE_FORMS = 'bytes as a number, or a string like 4096, 64KiB, 8MiB, 1GiB';

interface Bounds {
  min?: number;
  /** Above zero, not just at least zero. */
  positive?: boolean;
  max?: number;
  /** Overrides the generated "expected ..." text. */
  expected?: string;
}

/** `read(value)`, or `fallback` when the key is absent or null. */
export function orDefault<T>(value: unknown, fallback: T, read: (v: unknown) => T): T {
  return value === undefined || value === null ? fallback : read(value);
}

/** Reads values out of one config source; every failure throws a {@link UsageError}. */
export class ConfigReader {
  constructor(readonly source: string) {}

  fail(path: KeyPath, what: string, expected: string): never {
    throw new UsageError(`${this.source}: ${formatKeyPath(path)}: ${what}; expected ${expected}`);
  }

  /** A mapping holding only `keys`; absent or null reads as empty, so `bpf:` alone is fine. */
  mapping(value: unknown, path: KeyPath, keys: readonly string[]): Record<string, unknown> {
    if (value === undefined || value === null) return {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      this.fail(path, `${describe(value)} is not a mapping`, `a mapping with keys ${keys.join(', ')}`);
    }
    const map = value as Record<string, unknown>;
    for (const key of Object.keys(map)) {
      if (!keys.includes(key)) this.fail(path, `unknown key ${describe(key)}`, `one of ${keys.join(', ')}`);
    }
    return map;
  }

  /** A list; absent or null reads as empty. */
  list(value: unknown, path: KeyPath, expected: string): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) this.fail(path, `${describe(value)} is not a list`, expected);
    return value;
  }

  string(value: unknown, path: KeyPath, expected = 'a non-empty string'): string {
    if (typeof value !== 'string') this.fail(path, `${describe(value)} is not a string`, expected);
    if (value === '') this.fail(path, 'empty string', expected);
    return value;
  }

  boolean(value: unknown, path: KeyPath): boolean {
    if (typeof value !== 'boolean') this.fail(path, `${describe(value)} is not a boolean`, 'true or false');
    return value;
  }

  /** A finite number within bounds. */
  number(value: unknown, path: KeyPath, bounds: Bounds = {}): number {
    const expected = bounds.expected ?? `a number${range(bounds)}`;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      this.fail(path, `${describe(value)} is not a number`, expected);
    }
    this.within(value, path, bounds, expected);
    return value;
  }

  /** A whole number within bounds. */
  integer(value: unknown, path: KeyPath, bounds: Bounds = {}): number {
    const expected = bounds.expected ?? `a whole number${range(bounds)}`;
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      this.fail(path, `${describe(value)} is not a whole number`, expected);
    }
    this.within(value, path, bounds, expected);
    return value;
  }

  /** Seconds, from a number or a `5s` style string; at least `min` (0 by default). */
  duration(value: unknown, path: KeyPath, bounds: Bounds = {}): number {
    const b = { min: 0, ...bounds };
    const expected = b.expected ?? `a duration${range(b)} (${DURATION_FORMS})`;
    const seconds = parseDuration(value);
    if (seconds === undefined) this.fail(path, `${describe(value)} is not a duration`, expected);
    this.within(seconds, path, b, expected, value);
    return seconds;
  }

  /** Bytes, from a number or a `8MiB` style string. */
  size(value: unknown, path: KeyPath, bounds: Bounds = {}): number {
    const b = { min: 0, ...bounds };
    const expected = b.expected ?? `a size${range(b)} (${SIZE_FORMS})`;
    const bytes = parseSize(value);
    if (bytes === undefined) this.fail(path, `${describe(value)} is not a size`, expected);
    if (!Number.isInteger(bytes)) this.fail(path, `${describe(value)} is not a whole number of bytes`, expected);
    this.within(bytes, path, b, expected, value);
    return bytes;
  }

  /** Argv: a non-empty list of strings, or one string split on whitespace. */
  command(value: unknown, path: KeyPath): string[] {
    const argv = parseCommand(value);
    if (argv === undefined) {
      const expected = 'a list like [/usr/bin/prog, --flag] or a string split on spaces';
      this.fail(path, `${describe(value)} is not a command`, expected);
    }
    return argv;
  }

  absolutePath(value: unknown, path: KeyPath): string {
    const expected = 'an absolute path';
    const text = this.string(value, path, expected);
    if (!text.startsWith('/')) this.fail(path, `${describe(text)} is relative`, expected);
    return text;
  }

  /** A regular expression, unanchored, without flags, compiled for linear-time matching (src/config/regex.ts). */
  regex(value: unknown, path: KeyPath, flags = ''): LinearRegExp {
    const text = this.string(value, path, PATTERN_EXPECTED);
    try {
      return compilePattern(text, flags);
    } catch (err) {
      if (!(err instanceof PatternError)) throw err;
      this.fail(path, `invalid regex ${describe(text)}: ${err.reason}`, PATTERN_EXPECTED);
    }
  }

  /** One of a fixed set of strings. */
  oneOf<T extends string>(value: unknown, path: KeyPath, choices: readonly T[]): T {
    if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
      this.fail(path, `${describe(value)} is not accepted`, `one of ${choices.join(', ')}`);
    }
    return value as T;
  }

  private within(n: number, path: KeyPath, b: Bounds, expected: string, raw: unknown = n): void {
    const shown = typeof raw === 'string' ? describe(raw) : String(n);
    if (b.min !== undefined && n < b.min) {
      this.fail(path, n < 0 ? `${shown} is negative` : `${shown} is below ${b.min}`, expected);
    }
    if (b.positive === true && n <= 0) this.fail(path, n < 0 ? `${shown} is negative` : `${shown} is zero`, expected);
    if (b.max !== undefined && n > b.max) this.fail(path, `${shown} is above ${b.max}`, expected);
  }
}

function range(b: Bounds): string {
  if (b.positive === true) return b.max !== undefined ? ` above 0 and at most ${b.max}` : ' above 0';
  if (b.min !== undefined && b.max !== undefined) return ` from ${b.min} to ${b.max}`;
  if (b.min !== undefined) return ` >= ${b.min}`;
  if (b.max !== undefined) return ` <= ${b.max}`;
  return '';
}
