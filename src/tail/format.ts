/** Columns for people: one line per event, aligned, with the detail that matters for its type. */
import type { ProcessEvent } from '../events/model.js';
import { inert, inertText, shellWord } from '../terminal.js';

export const HEADER = `${'TIME'.padEnd(15)} ${'EVENT'.padEnd(7)} ${'PID'.padStart(7)} ${'PPID'.padStart(7)} ${'COMM'.padEnd(16)} ${'CGROUP'.padEnd(28)} DETAIL`;

/** 1.2ms, 3.40s, 2m03s, 1h02m, 3d04h. */
export function humanDuration(s: number): string {
  if (s < 1e-3) return `${Math.round(s * 1e6)}µs`;
  if (s < 1) return `${(s * 1e3).toFixed(1)}ms`;
  if (s < 60) return `${s.toFixed(2)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

/**
 * The outcome of an exit: `code 3`, `signal SIGSEGV (core dumped) from kernel`, `signal SIGTERM
 * from 812 bash /user.slice`, `OOM-killed (memory cgroup at its limit)`.
 */
export function outcome(e: ProcessEvent): string {
  if (e.oom_killed === true) return `OOM-killed (${e.oom_scope === 'system' ? 'system out of memory' : 'memory cgroup at its limit'})`;
  if (e.signal) return `signal ${inertText(e.signal)}${e.core_dumped ? ' (core dumped)' : ''}${sender(e.signal_sender)}`;
  return `code ${inert(String(e.exit_code))}`;
}

/** ` from kernel`, ` from 812 bash /user.slice`, or nothing (not seen, or not an object we know). */
function sender(s: unknown): string {
  if (s === 'kernel') return ' from kernel';
  if (typeof s !== 'object' || s === null) return '';
  const o = s as Record<string, unknown>;
  return ` from ${inertText(o.pid)} ${inertText(o.comm)} ${inertText(o.cgroup)}`;
}

/** ` ← bash(812) ← sshd(700)`: the ancestors of an exit, parent first (nothing when not asked for). */
function chain(ancestors: unknown): string {
  if (!Array.isArray(ancestors)) return '';
  return ancestors.map((a: { comm?: unknown; pid?: unknown } | null) => ` ← ${inertText(a?.comm)}(${inertText(a?.pid)})`).join('');
}

/** How much of an exit's command line its line shows, in characters (the exec line showed it whole). */
export const EXIT_COMMAND_MAX = 60;

/**
 * A command line as a shell would read it back (each word through shellWord, so nothing in it
 * reaches the terminal raw): argv, else the file name; with `max`, whole words while they fit
 * (the first cut to fit), then `…`, which also marks an argv the kernel truncated.
 */
export function commandLine(e: Pick<ProcessEvent, 'argv' | 'filename' | 'argv_truncated'>, max = Infinity): string {
  const words = Array.isArray(e.argv) && e.argv.length ? e.argv : e.filename !== undefined && e.filename !== null ? [e.filename] : [];
  let out = '';
  let cut = e.argv_truncated === true;
  for (const w of words) {
    const word = shellWord(String(w));
    const sep = out ? ' ' : '';
    if (out.length + sep.length + word.length <= max) {
      out += sep + word;
      continue;
    }
    if (!out) out = Array.from(word).slice(0, max).join('');
    cut = true;
    break;
  }
  return cut ? `${out} …` : out;
}

/** The ISO second (`2026-12-06T02:27:37`) last turned into local time, and that time. */
let lastSecond = '';
let lastHms = '';

/**
 * Local time of day with microseconds, from the event's ISO time. The hours, minutes and seconds
 * are kept from the previous event when it was in the same second (events of a batch nearly always
 * are): parsing a Date per line was a tenth of a text tail's CPU. Only the shape isoMicros writes
 * (`…SS.ffffffZ`) is taken from the cache; anything else (a remote agent's) is parsed as it is.
 */
function timeOfDay(iso: string): string {
  const micros = iso.slice(20, 26).padEnd(6, '0');
  const ours = iso.length === 27 && iso.charCodeAt(19) === 0x2e && iso.charCodeAt(26) === 0x5a && /^\d{6}$/.test(micros);
  if (ours && lastSecond !== '' && iso.startsWith(lastSecond)) return `${lastHms}.${micros}`;
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  const hms = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  if (ours) {
    lastSecond = iso.slice(0, 19);
    lastHms = hms;
  }
  return `${hms}.${micros}`;
}

/**
 * One event as a line. Every value a process, a user or a remote agent chose (comm, cgroup paths,
 * argv, file name) goes through src/terminal.ts, so no line can carry a terminal escape or forge
 * another line; values of the wrong type (from a remote agent) print as text instead of throwing.
 */
export function formatEvent(e: ProcessEvent): string {
  let detail = '';
  switch (e.type) {
    case 'exec':
      detail = commandLine(e);
      break;
    case 'exit': {
      const command = e.thread ? '' : commandLine(e, EXIT_COMMAND_MAX);
      detail = `${e.thread ? `thread ${inertText(e.tid)}` : outcome(e)} after ${humanDuration(Number(e.lifetime_s ?? 0))}${command ? `: ${command}` : ''}${chain(e.ancestors)}`;
      break;
    }
    case 'fork':
      detail = e.thread ? `thread ${inertText(e.tid)}` : '';
      break;
    case 'migrate':
      detail = `from ${inertText(e.from_cgroup ?? '?')}`;
      break;
  }
  const type = e.thread ? (e.type === 'fork' ? 'thread' : 'texit') : inertText(e.type);
  const num = (n: unknown) => inertText(n).padStart(7);
  return `${timeOfDay(inertText(e.time)).padEnd(15)} ${type.padEnd(7)} ${num(e.pid)} ${num(e.ppid)} ${inertText(e.comm).padEnd(16)} ${inertText(e.cgroup).padEnd(28)} ${detail}`.trimEnd();
}
