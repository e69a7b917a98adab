/**
 * The one wait-status decoder, on statuses as the kernel's exit records carry them (the recorded
 * ones in test/fixtures/pipeline.bin go through it in decode.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { decodeWaitStatus, signalName } from '../../src/events/exit-status.js';
import { decodeStatus } from '../../src/events/model.js';

describe('decodeWaitStatus', () => {
  it.each([
    ['exit 0', 0x0000, { code: 0, signal: null, coreDumped: false }],
    ['exit 1', 0x0100, { code: 1, signal: null, coreDumped: false }],
    ['exit 255', 0xff00, { code: 255, signal: null, coreDumped: false }],
    ['exit 127 (command not found)', 0x7f00, { code: 127, signal: null, coreDumped: false }],
    ['SIGKILL', 9, { code: null, signal: 9, coreDumped: false }],
    ['SIGTERM', 15, { code: null, signal: 15, coreDumped: false }],
    ['SIGSEGV with a core', 0x80 | 11, { code: null, signal: 11, coreDumped: true }],
    ['SIGABRT with a core', 0x80 | 6, { code: null, signal: 6, coreDumped: true }],
    ['a real-time signal', 34, { code: null, signal: 34, coreDumped: false }],
    ['bits above the exit code are not the code', 0x10300, { code: 3, signal: null, coreDumped: false }],
  ])('%s', (_label, status, want) => {
    expect(decodeWaitStatus(status)).toEqual(want);
  });

  it('names signals, and the ones Node has no name for by number', () => {
    expect(signalName(9)).toBe('SIGKILL');
    expect(signalName(11)).toBe('SIGSEGV');
    expect(signalName(34)).toBe('SIG34');
    expect(signalName(0)).toBe('SIG0');
  });

  it('the public model shows the same exit, signal by name', () => {
    expect(decodeStatus(0x0300)).toEqual({ exit_code: 3, signal: null, core_dumped: false });
    expect(decodeStatus(0x80 | 11)).toEqual({ exit_code: null, signal: 'SIGSEGV', core_dumped: true });
  });
});
