/**
 * A file the config or a flag names by a key (a token, a password, a certificate, a CA), read whole
 * when it is needed. A failure is one line naming the key and the file, the path quoted (it may
 * hold anything, a terminal escape included): `cannot read api.token_file "/x": ENOENT`.
 */
import fs from 'node:fs';
import { EnvironmentError } from '../errors.js';

export function readKeyFile(file: string, key: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new EnvironmentError(`cannot read ${key} ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
