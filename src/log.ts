/**
 * The agent's logger: one line per message on stderr; debug lines only with --verbose. Two
 * formats (`--log-format`): `text`, `forkwatch <level>: <message>`, and `json`, one pino object
 * a line with `level`, `time` and the `component` that wrote it (a supervised program's output:
 * `component: "program"` with `program` and `stream`). Messages carry group names, cgroup paths
 * and program output, so each is made inert (src/terminal.ts): a newline in one cannot forge
 * another log line, and an escape cannot reach the operator's terminal (`journalctl -f`). A
 * stack is then one line too, its newlines shown as \x0a (as \n inside a JSON string).
 */
import { pino, stdTimeFunctions, type Logger as Pino } from 'pino';
import { inert, inertJsonText } from './terminal.js';

/** What a child logger adds to each of its lines (json; text shows only `[program]`). */
export interface LogBindings {
  component: string;
  /** A supervised program's output: which program, which stream. */
  program?: string;
  stream?: 'stdout' | 'stderr';
}

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** A logger whose lines carry `bindings` (absent on test doubles: they log as the parent). */
  child?(bindings: LogBindings): Logger;
}

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  verbose?: boolean;
  quiet?: boolean;
  format?: LogFormat;
  /** The root logger's component (json): `agent` unless told. */
  component?: string;
  /** Where each line goes, without its newline; stderr unless given. */
  write?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  return opts.format === 'json' ? jsonLogger(opts) : textLogger(opts, '');
}

function textLogger(opts: LoggerOptions, prefix: string): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const at = (level: string) => (msg: string) => write(`forkwatch ${level}: ${inert(prefix + msg.replace(/\n+$/, ''))}`);
  const off = () => {};
  return {
    debug: opts.verbose ? at('debug') : off,
    info: opts.quiet ? off : at('info'),
    warn: at('warn'),
    error: at('error'),
    // Components are not shown in text (its lines stay as they always were); a program's are prefixed.
    child: (b) => textLogger(opts, b.program === undefined ? prefix : `[${b.program}] `),
  };
}

function jsonLogger(opts: LoggerOptions): Logger {
  const write = opts.write;
  // Synchronous on stderr: lines keep their order with anything else written there, and the last
  // ones before an exit are not lost in a buffer.
  const destination = write ? { write: (s: string) => write(s.replace(/\n$/, '')) } : pino.destination({ fd: 2, sync: true });
  const root = pino(
    {
      level: opts.verbose ? 'debug' : opts.quiet ? 'warn' : 'info',
      base: undefined,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: inertJsonText },
    },
    destination,
  );
  // Children are made from the root, never from a child: pino would write `component` twice.
  const wrap = (p: Pino): Logger => ({
    debug: (m) => p.debug(m.replace(/\n+$/, '')),
    info: (m) => p.info(m.replace(/\n+$/, '')),
    warn: (m) => p.warn(m.replace(/\n+$/, '')),
    error: (m) => p.error(m.replace(/\n+$/, '')),
    child: (b) => wrap(root.child({ ...b })),
  });
  return wrap(root.child({ component: opts.component ?? 'agent' }));
}

/** `log`'s child for `component`; `log` itself when it makes none (a test double). */
export function componentLogger(log: Logger, component: string): Logger {
  return log.child?.({ component }) ?? log;
}

/**
 * Where a supervised program's output lines go: each (program, stream) a child logger of its own
 * (`[name] line` in text; `component: "program"`, `program`, `stream` in json).
 */
export function programOutput(log: Pick<Logger, 'info' | 'child'>): (program: string, stream: 'stdout' | 'stderr', line: string) => void {
  const loggers = new Map<string, Pick<Logger, 'info'>>();
  return (program, stream, line) => {
    const key = `${stream}\0${program}`;
    let l = loggers.get(key);
    if (l === undefined) {
      l = log.child?.({ component: 'program', program, stream }) ?? { info: (m: string) => log.info(`[${program}] ${m}`) };
      if (loggers.size >= 1024) loggers.clear(); // programs are few; a bound all the same
      loggers.set(key, l);
    }
    l.info(line);
  };
}

/** Routes libbpf's log lines: warnings as warnings, the rest (verifier chatter) as debug. */
export function libbpfLog(log: Logger): (level: string, message: string) => void {
  const l = componentLogger(log, 'libbpf');
  return (level, message) => (level === 'warn' ? l.warn(`libbpf: ${message}`) : l.debug(`libbpf: ${message}`));
}
