/**
 * Two kinds of error. A UsageError is something the user can fix (a flag, a config value, a
 * missing privilege): printed as one line without a stack. Anything else is a bug and keeps its
 * stack.
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
