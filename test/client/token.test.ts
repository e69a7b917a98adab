/** The token file every client reads (src/client/token.ts): the token, or one line saying why not. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTokenFile } from '../../src/client/token.js';
import { UsageError } from '../../src/errors.js';
import { requireRoot } from '../helpers/cgroup.js';
import { runCli } from '../helpers/cli.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-token-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string, mode = 0o600): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text, { mode });
  return p;
}

function failure(f: () => unknown): UsageError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as Error).message).not.toContain('\n');
    return err as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('readTokenFile', () => {
  it('returns the token without the white space around it', () => {
    expect(readTokenFile(file('ok', '  0123456789abcdef\n'))).toBe('0123456789abcdef');
  });

  it.each([
    ['missing', () => path.join(dir, 'absent'), 'no such file (ENOENT)'],
    ['a directory', () => dir, 'a directory, not a file (EISDIR)'],
    ['empty', () => file('empty', ''), 'the file is empty'],
    ['only white space', () => file('blank', ' \n\t\n'), 'the file is empty'],
  ])('%s: one line naming the flag, the file and why', (_what, make, why) => {
    const p = make();
    expect(failure(() => readTokenFile(p)).message).toBe(`--token-file ${JSON.stringify(p)}: ${why}; expected a readable file holding the token`);
  });

  it('a token of two lines (or with a control character) is refused, not sent as a broken header', () => {
    const p = file('two', 'abc\ndef\n');
    expect(failure(() => readTokenFile(p)).message).toBe(
      `--token-file ${JSON.stringify(p)}: the token holds a line break or a control character; expected a readable file holding the token on one line`,
    );
    const q = file('esc', 'abc\x1b[2Jdef');
    expect(failure(() => readTokenFile(q, 'watch: tokenFile')).message).toMatch(/^watch: tokenFile ".*": the token holds a line break/);
  });
});

describe('the token file through the CLI', () => {
  it.each([
    ['programs', ['programs', '--url', 'http://127.0.0.1:9']],
    ['tail --from', ['tail', '--from', 'http://127.0.0.1:9']],
    ['beancounters', ['beancounters', '--url', 'http://127.0.0.1:9']],
  ])('%s: a missing token file is one line, exit 2, before any connection', (_cmd, args) => {
    const p = path.join(dir, 'nope');
    const r = runCli([...args, '--token-file', p]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`forkwatch: --token-file ${JSON.stringify(p)}: no such file (ENOENT); expected a readable file holding the token\n`);
  });

  it("an unreadable token file (root's, read by nobody) is one line, exit 2", () => {
    requireRoot();
    fs.chmodSync(dir, 0o755);
    const p = file('roots', '0123456789abcdef', 0o600);
    const r = runCli(['programs', '--url', 'http://127.0.0.1:9', '--token-file', p], {
      prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
    });
    expect(r.stderr).toBe(`forkwatch: --token-file ${JSON.stringify(p)}: permission denied (EACCES); expected a readable file holding the token\n`);
    expect(r.code).toBe(2);
  });
});
