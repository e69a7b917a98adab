/** The bearer token a client sends, read from its file once: every command reads it here. */
import fs from 'node:fs';
import { UsageError } from '../errors.js';

const WHY: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'a directory, not a file',
  ELOOP: 'too many symbolic links',
  ENOTDIR: 'a part of the path is not a directory',
};

/**
 * Reads the token in `file` (surrounding white space dropped). Every failure is one UsageError
 * line naming the flag, the file and what is wrong: missing, unreadable, empty or not one line.
 */
export function readTokenFile(file: string, flag = '--token-file'): string {
  const expected = 'expected a readable file holding the token';
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === undefined ? (err as Error).message : WHY[code] ? `${WHY[code]} (${code})` : code;
    throw new UsageError(`${flag} ${JSON.stringify(file)}: ${why}; ${expected}`);
  }
  const token = text.trim();
  if (token === '') throw new UsageError(`${flag} ${JSON.stringify(file)}: the file is empty; ${expected}`);
  // A header value cannot hold a line break or a control character; sending one would fail later
  // with an error that does not name the file.
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  if (/[\x00-\x1f\x7f]/.test(token))
    throw new UsageError(`${flag} ${JSON.stringify(file)}: the token holds a line break or a control character; ${expected} on one line`);
  return token;
}
