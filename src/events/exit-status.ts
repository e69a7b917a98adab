/**
 * The one decoder of a wait(2) status: the exit record carries the kernel's task->exit_code,
 * which is that status (exit code in bits 8-15, the terminating signal in bits 0-6, bit 7 set
 * when it dumped core). Everything that tells how a process ended reads it through here.
 */
import { constants } from 'node:os';

/** How a process ended, from its wait status. */
export interface WaitStatus {
  /** The exit code (0-255) of a process that exited; null when a signal ended it. */
  code: number | null;
  /** The number of the signal that ended it; null when it exited. */
  signal: number | null;
  coreDumped: boolean;
}

/** Decodes a wait(2) status of a process that is gone (WIFEXITED or WIFSIGNALED). */
export function decodeWaitStatus(status: number): WaitStatus {
  const sig = status & 0x7f;
  if (sig !== 0) return { code: null, signal: sig, coreDumped: (status & 0x80) !== 0 };
  return { code: (status >> 8) & 0xff, signal: null, coreDumped: false };
}

const SIGNAL_NAMES: Record<number, string> = {};
for (const [name, num] of Object.entries(constants.signals)) SIGNAL_NAMES[num] ??= name;

/** The name of a signal number (SIGKILL), or SIG<n> for real-time and unknown ones. */
export function signalName(sig: number): string {
  return SIGNAL_NAMES[sig] ?? `SIG${sig}`;
}
