/** `forkwatch run`: the agent. */
import type { Argv, CommandModule } from 'yargs';
import { loadConfig } from '../config/load.js';
import { parseListen } from '../config/values.js';
import { UsageError } from '../errors.js';
import { LOG_FORMATS, type LogFormat } from '../log.js';

export interface RunArgs {
  config?: string;
  listen?: string;
  verbose?: boolean;
  'log-format'?: LogFormat;
  'bpf-stats'?: boolean;
}

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run',
  describe: 'Run the agent: /metrics for Prometheus, /healthz, the JSON API',
  builder: (y: Argv) =>
    y
      .option('config', { type: 'string', describe: 'YAML config file (default: the embedded default, every cgroup a group)' })
      .option('listen', { type: 'string', describe: 'HOST:PORT for HTTP (default 127.0.0.1:10510)' })
      .option('bpf-stats', { type: 'boolean', describe: "turn on the kernel's BPF run-time statistics while running" })
      .option('verbose', { type: 'boolean', describe: 'debug logging, libbpf included' })
      .option('log-format', {
        choices: LOG_FORMATS,
        describe: "the agent's log on stderr: text lines (the default), or json (pino: level, time, component on every line)",
      }),
  handler: async (a) => {
    const config = loadConfig(a.config);
    if (a.listen !== undefined) {
      const l = parseListen(a.listen);
      if (!l) throw new UsageError(`--listen "${a.listen}": expected HOST:PORT, e.g. 127.0.0.1:10510 or [::1]:10510`);
      config.listen = l;
    }
    const { runAgent } = await import('./run-agent.js');
    process.exitCode = await runAgent(config, {
      configPath: a.config,
      verbose: a.verbose === true,
      logFormat: a['log-format'] ?? 'text',
      bpfStats: a['bpf-stats'] === true,
      listenFlag: a.listen !== undefined,
    });
  },
};
