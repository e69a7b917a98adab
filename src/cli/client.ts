/** The flags of the commands that talk to a running agent (groups, beancounters, programs, start, stop, restart). */
import type { Argv } from 'yargs';
import type { TargetArgs } from '../client/target.js';

export type { TargetArgs } from '../client/target.js';

/**
 * --url, --socket, --token-file and --config, described for where the command goes by default:
 * the agent's listen address (`listen`: reads open on TCP) or its unix socket (`socket`: control).
 */
export function targetOptions<T>(y: Argv<T>, via: 'listen' | 'socket'): Argv<T & TargetArgs> {
  return y
    .option('url', {
      type: 'string',
      describe:
        via === 'socket'
          ? 'the agent over TCP instead: http://HOST:PORT (needs --token-file with the control token to change state), or unix:/path/to/api.sock'
          : 'the agent: http://HOST:PORT or unix:/path/to/api.sock (default: the listen address of --config, else http://127.0.0.1:10510)',
    })
    .option('socket', {
      type: 'string',
      describe: `the agent's unix socket${via === 'socket' ? ' (default: api.socket of --config, /run/forkwatch/api.sock)' : ' instead of TCP (root only)'}`,
    })
    .option('token-file', {
      type: 'string',
      describe: "file holding the bearer token to send (the agent's api.token_file, or api.control_token_file to change state)",
    })
    .option('config', { type: 'string', describe: `the agent's config file, to find its ${via === 'socket' ? 'socket' : 'address'}` });
}
