/**
 * How an agent (export.nats) or `tail --from nats://` proves who it is to NATS: a user and
 * password, a token, or an nkey seed, each read from a file (a Kubernetes secret mounted as files),
 * never written in the config or on a command line. With one identity per agent the servers can
 * let each publish only its own subjects and readers only subscribe (docs/scaling.md).
 *
 * Every file is read and checked once, before anything connects: a missing, unreadable or
 * malformed secret is one line naming the key and the file, not a connection that fails forever.
 */
import { nkeyAuthenticator, nkeys, tokenAuthenticator, usernamePasswordAuthenticator, type Authenticator } from '@nats-io/transport-node';
import type { NatsAuthConfig } from '../config/types.js';
import { EnvironmentError } from '../errors.js';
import { readKeyFile } from '../host/key-file.js';

/** The authenticator the config names (undefined: none); `name` writes a key as the user gave it (`export.nats.token_file`, `--token-file`). */
export function natsAuthenticator(c: NatsAuthConfig, name: (key: keyof NatsAuthConfig) => string): Authenticator | undefined {
  if (c.user !== undefined) {
    const password = c.password_file === undefined ? undefined : secret(c.password_file, name('password_file'), 'the password');
    return usernamePasswordAuthenticator(c.user, password);
  }
  if (c.token_file !== undefined) return tokenAuthenticator(secret(c.token_file, name('token_file'), 'the token'));
  if (c.nkey_file !== undefined) {
    const file = c.nkey_file;
    const seed = secret(file, name('nkey_file'), 'a user nkey seed (SU…)');
    try {
      // The seed's own check: its prefix says a user's, and it signs.
      const kp = nkeys.fromSeed(new TextEncoder().encode(seed));
      if (!kp.getPublicKey().startsWith('U')) throw new Error('not the seed of a user nkey');
      kp.sign(new Uint8Array(1));
    } catch (err) {
      throw new EnvironmentError(
        `${name('nkey_file')} ${JSON.stringify(file)}: not a user nkey seed (${(err as Error).message}); expected the SU… line nk -gen user writes`,
      );
    }
    return nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  return undefined;
}

/** The file's one line (surrounding white space dropped); a failure is one line naming the key. */
function secret(file: string, key: string, what: string): string {
  const value = readKeyFile(file, key).trim();
  if (value === '') throw new EnvironmentError(`${key} ${JSON.stringify(file)}: the file is empty; expected ${what}`);
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  if (/[\x00-\x1f\x7f]/.test(value))
    throw new EnvironmentError(`${key} ${JSON.stringify(file)}: more than one line, or a control character; expected ${what} on one line`);
  return value;
}
