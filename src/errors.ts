/**
 * Two kinds of error. A UsageError is something the user can fix (a flag, a config value, a
 * missing privilege): printed as one line without a stack. Anything else is a bug and keeps its
 * stack. And the one way a failed system call is put in words: step, object, errno.
 */
export class UsageError extends Error {
  /** Exit status: 2 for bad input (flags, config), 1 for an environment the agent cannot run in. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'UsageError';
    this.exitCode = exitCode;
  }
}

/** An environment problem (privileges, kernel features): exit 1, one line. */
export class EnvironmentError extends UsageError {
  constructor(message: string) {
    super(message, 1);
    this.name = 'EnvironmentError';
  }
}

/** The errno name (ENOENT) of a failed system call, Node's or the addon's; undefined for other errors. */
export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
}

/** "EACCES (permission denied)" from a Node system error; the message otherwise. */
export function errnoText(err: unknown): string {
  const code = errnoCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const m = /^([A-Z0-9]+): ([^,]+)/.exec(message);
  if (m) return `${m[1]} (${m[2]})`;
  return code ? `${code} (${message})` : message;
}

/** An Error from the addon (addon/errors.cc): "step(object): text", with code, step and object. */
export interface NativeError extends Error {
  code?: string;
  step?: string;
  object?: string;
}

/** "execve /usr/bin/x: ENOENT (no such file or directory)", in the words of errnoText. */
export function nativeErrorText(e: NativeError): string {
  if (e.step === undefined || e.code === undefined) return e.message;
  const at = e.message.indexOf('): ');
  const text = at >= 0 ? e.message.slice(at + 3) : e.message;
  return `${e.step} ${e.object ?? ''}: ${e.code} (${text.charAt(0).toLowerCase()}${text.slice(1)})`;
}
