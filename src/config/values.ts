/**
 * Parsers for the friendly scalar forms a config (or a command-line flag) may use: durations,
 * sizes, listen addresses, signals. Each returns undefined for input it does not accept, so the
 * caller can say where the value was and what would have been accepted.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { constants } from 'node:os';

const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;

/**
 * Seconds from a number (seconds) or a string such as `100ms`, `5s`, `2m`, `1h`, `1d`, `1m30s`.
 * Negative numbers come back as they are, for the caller to reject with its own bounds.
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(text)) return Number(text);
  if (!DURATION.test(text)) return undefined;
  let seconds = 0;
  for (const m of text.matchAll(DURATION_PART)) seconds += Number(m[1]) * DURATION_UNITS[m[2]];
  // 100ms * 0.001 is 0.1 exactly only after rounding away binary noise.
  return Math.round(seconds * 1e9) / 1e9;
}

// Binary units are what memory and ring buffers come in; decimal ones are accepted because people
// write them, and mean what they say. Bare K/M/G are refused: systemd reads them as binary,
// Kubernetes as decimal.
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
};
const SIZE = /^(\d+(?:\.\d+)?)\s*([a-z]+)?$/i;

/**
 * Bytes from a number or a string such as `4096`, `64KiB`, `8MiB`, `1GiB` (or decimal `10MB`).
 * Fractions are accepted when the result is a whole number of bytes (`1.5KiB`).
 */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = SIZE.exec(value.trim());
  if (m === null) return undefined;
  const unit = m[2] === undefined ? 1 : SIZE_UNITS[m[2].toLowerCase()];
  if (unit === undefined) return undefined;
  return Number(m[1]) * unit;
}

const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/** `{host, port}` from `host:port`, `1.2.3.4:port` or `[v6]:port`; IPv6 hosts lose their brackets. */
export function parseListen(value: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value) ?? /^([^:[\]]+):(\d{1,5})$/.exec(value);
  if (m === null) return undefined;
  const [, host, portText] = m;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  const bracketed = value.startsWith('[');
  if (bracketed ? !isIPv6(host) : !(isIPv4(host) || (HOSTNAME.test(host) && !/^[\d.]+$/.test(host)))) {
    return undefined;
  }
  return { host, port };
}

/** `SIGTERM` from `SIGTERM`, `TERM` or `sigterm`; undefined for a name the platform lacks. */
export function parseSignal(value: string): NodeJS.Signals | undefined {
  const upper = value.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  return Object.hasOwn(constants.signals, name) ? (name as NodeJS.Signals) : undefined;
}

/**
 * Argv from a list, or a string split on whitespace (no shell, no quoting). Numbers in a list
 * become strings, because YAML reads `[sleep, 10]` that way.
 */
export function parseCommand(value: unknown): string[] | undefined {
  if (typeof value === 'string') {
    const argv = value
      .trim()
      .split(/\s+/)
      .filter((a) => a !== '');
    return argv.length > 0 ? argv : undefined;
  }
  if (!Array.isArray(value) || value.length === 0) return undefined;
  if (!value.every((a) => typeof a === 'string' || (typeof a === 'number' && Number.isFinite(a)))) return undefined;
  const argv = value.map(String);
  return argv[0] === '' ? undefined : argv;
}
