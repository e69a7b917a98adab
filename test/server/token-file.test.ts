/** api.token_file / api.control_token_file: read once; a file the agent cannot use is one line naming key and file. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EnvironmentError } from '../../src/errors.js';
import { readTokens } from '../../src/server/api.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-apitoken-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text, { mode: 0o600 });
  return p;
}

function failure(f: () => unknown): Error {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(EnvironmentError);
    return err as Error;
  }
  throw new Error('expected an EnvironmentError');
}

describe('the API token files', () => {
  it('reads both tokens without the white space around them', () => {
    expect(readTokens({ token_file: file('r', ' 0123456789abcdef\n'), control_token_file: file('c', 'fedcba9876543210\n') })).toEqual({
      readToken: '0123456789abcdef',
      controlToken: 'fedcba9876543210',
    });
  });

  it.each([
    ['missing', () => path.join(dir, 'absent'), (p: string) => `cannot read api.token_file ${JSON.stringify(p)}: ENOENT`],
    ['a directory', () => dir, (p: string) => `cannot read api.token_file ${JSON.stringify(p)}: EISDIR`],
    [
      'short',
      () => file('short', 'abc\n'),
      (p: string) => `api.token_file ${JSON.stringify(p)}: the token is shorter than 16 characters; use e.g. openssl rand -hex 32 > ${JSON.stringify(p)}`,
    ],
    [
      'two lines',
      () => file('two', '0123456789abcdef\n0123456789abcdef\n'),
      (p: string) =>
        `api.token_file ${JSON.stringify(p)}: the token holds white space, a line break or a control character; expected one line of visible characters`,
    ],
  ])('%s: one line naming the key and the file', (_what, make, message) => {
    const p = make();
    expect(failure(() => readTokens({ token_file: p })).message).toBe(message(p));
  });

  it('a path holding a terminal escape is named quoted, the escape inert', () => {
    const p = path.join(dir, 'x\u001b[2J\nno');
    const m = failure(() => readTokens({ control_token_file: p })).message;
    expect(m).toBe(`cannot read api.control_token_file ${JSON.stringify(p)}: ENOENT`);
    expect(m).not.toMatch(/[\x00-\x1f\x7f]/);
  });

  it('the same token in both files is refused: a reader could control', () => {
    const t = file('same', '0123456789abcdef0123\n');
    expect(failure(() => readTokens({ token_file: t, control_token_file: t })).message).toMatch(
      /^api\.token_file and api\.control_token_file hold the same token/,
    );
  });
});
