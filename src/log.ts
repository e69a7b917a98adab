/**
 * The agent's logger: one line per message on stderr; debug lines only with --verbose. Messages
 * carry group names, cgroup paths and program output, so each is made inert (src/terminal.ts):
 * a newline in one cannot forge another log line, and an escape cannot reach the operator's
 * terminal (`journalctl -f`). A stack is then one line too, its newlines shown as \x0a.
 */
import { inert } from './terminal.js';

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export function createLogger(opts: { verbose?: boolean; quiet?: boolean; write?: (line: string) => void } = {}): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const at = (level: string) => (msg: string) => write(`forkwatch ${level}: ${inert(msg.replace(/\n+$/, ''))}`);
  const off = () => {};
  return {
    debug: opts.verbose ? at('debug') : off,
    info: opts.quiet ? off : at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}

/** Routes libbpf's log lines: warnings as warnings, the rest (verifier chatter) as debug. */
export function libbpfLog(log: Logger): (level: string, message: string) => void {
  return (level, message) => (level === 'warn' ? log.warn(`libbpf: ${message}`) : log.debug(`libbpf: ${message}`));
}
