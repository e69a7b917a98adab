/** `forkwatch tail`: live fork / exec / exit / migrate on this host. */
import type { Argv, CommandModule } from 'yargs';
import { DEFAULTS } from '../config/default.js';
import { UsageError } from '../errors.js';
import { refuseNatsOnly, tailOptions } from '../tail/options.js';
import type { TailArgs } from './tail-run.js';
import { parseByteSize } from './units.js';

export const tailCommand: CommandModule<object, TailArgs> = {
  command: 'tail',
  describe: "Show processes being born, exec'ing and dying, live",
  builder: (y: Argv) =>
    y
      .option('json', { type: 'boolean', describe: 'one JSON object a line, for machines' })
      .option('cgroup', { type: 'string', describe: 'only this cgroup and below (path under the cgroup root)' })
      .option('comm', { type: 'string', describe: 'only processes whose command name matches this regex' })
      .option('pid', { type: 'string', describe: 'only this process (and its forks)' })
      .option('tree', { type: 'boolean', describe: 'with --pid: the process and all its descendants' })
      .option('events', { type: 'string', describe: 'comma-separated: fork,exec,exit,migrate' })
      .option('threads', { type: 'boolean', describe: 'show thread creation and exit too' })
      .option('failed', { type: 'boolean', describe: 'only exits that are non-zero or killed by a signal' })
      .option('ancestors', { type: 'boolean', describe: "exits with the process's ancestors up to its cgroup's boundary" })
      .option('duration', { type: 'string', describe: 'stop after this many seconds' })
      .option('count', { type: 'string', describe: 'stop after this many events' })
      .option('ring-buffer', { type: 'string', describe: `ring buffer size (power of two; default ${DEFAULTS.bpf.ring_buffer_bytes / 2 ** 20}MiB)` })
      .option('argv-max', { type: 'string', describe: `bytes of argv kept per exec (default ${DEFAULTS.bpf.argv_max_bytes})` })
      .option('hierarchy', { type: 'string', describe: 'cgroup hierarchy for paths: v2 (default) or a v1 one (cpuacct, name=systemd)' })
      .option('verbose', { type: 'boolean', describe: 'debug logging, libbpf included' })
      .option('from', {
        type: 'string',
        array: true,
        describe:
          'read running agents instead of this kernel: http://host:port or unix:/run/forkwatch/api.sock (repeatable; merged in time order); or the fleet from NATS JetStream: nats://host:port, or tls://host:port for TLS (servers of one cluster)',
      })
      .option('since', { type: 'string', describe: 'with --from nats://: replay from this time (ISO 8601, or a duration ago like 10m, 2h)' })
      .option('durable', { type: 'string', describe: 'with --from nats://: a durable consumer name; a later run with it resumes where this one stopped' })
      .option('stream', { type: 'string', describe: `with --from nats://: the JetStream stream (default ${DEFAULTS.export.nats.stream})` })
      .option('subject-prefix', { type: 'string', describe: `with --from nats://: the subjects' prefix (default ${DEFAULTS.export.nats.subject_prefix})` })
      .option('token-file', { type: 'string', describe: 'with --from: file holding the bearer token for TCP agents, or with nats:// the NATS token' })
      .option('user', { type: 'string', describe: 'with --from nats://: the NATS user (its password in --password-file)' })
      .option('password-file', { type: 'string', describe: "with --from nats://: file holding --user's password" })
      .option('nkey-file', { type: 'string', describe: 'with --from nats://: file holding a user nkey seed (SU…)' })
      .option('tls-ca-file', { type: 'string', describe: "with --from nats:// or tls://: the servers' CA (PEM); TLS is then required" })
      .option('tls-cert-file', { type: 'string', describe: "with --from nats:// or tls://: this client's certificate (PEM), for servers that verify clients" })
      .option('tls-key-file', { type: 'string', describe: "with --from nats:// or tls://: --tls-cert-file's private key (PEM)" })
      .option('group', { type: 'string', describe: 'with --from: only this group (or program)' })
      .option('window', {
        type: 'string',
        describe: `with --from: seconds an event may wait for a slower agent to keep the time order (default ${DEFAULTS.tail.window_s}); with nats://, also how long an agent's first event waits for earlier ones, and at least how long a gap in its order is waited for (10 s)`,
      }),
  handler: async (a) => {
    if (a.from !== undefined) {
      const { startRemoteTail } = await import('./tail-run.js');
      process.exitCode = await startRemoteTail(a);
      return;
    }
    if (a.group !== undefined) throw new UsageError("--group needs --from: groups are the agent's; run it against an agent");
    if (a.window !== undefined) throw new UsageError('--window needs --from: it is how long merging agents waits for a slower one');
    refuseNatsOnly(a);
    const opts = tailOptions(a);
    const ringBytes = a['ring-buffer'] !== undefined ? parseByteSize('--ring-buffer', a['ring-buffer'], { powerOfTwo: true, min: 4096 }) : undefined;
    const argvMax = a['argv-max'] !== undefined ? parseByteSize('--argv-max', a['argv-max'], { max: 16384 }) : undefined;
    // Loaded late so that usage errors never need the addon.
    const { startTail } = await import('./tail-run.js');
    process.exitCode = await startTail(opts, { ringBytes, argvMax, hierarchy: a.hierarchy ?? 'v2', verbose: a.verbose === true });
  },
};
