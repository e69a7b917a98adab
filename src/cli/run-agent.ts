/**
 * `forkwatch run`'s glue around the composition root (src/agent/compose.ts): the logger, the
 * signals (SIGTERM/SIGINT stop, SIGHUP reads the config again) and the start-up lines.
 */
import { composeAgent } from '../agent/compose.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { refuseImpossibleActions } from '../doctor/needs.js';
import { createLogger, type LogFormat } from '../log.js';

export async function runAgent(
  startConfig: Config,
  opts: { configPath?: string; verbose: boolean; logFormat?: LogFormat; bpfStats: boolean; listenFlag?: boolean },
): Promise<number> {
  refuseImpossibleActions(startConfig);
  const log = createLogger({ verbose: opts.verbose, format: opts.logFormat });
  const composed = await composeAgent(startConfig, log, { bpfStats: opts.bpfStats, listenFlag: opts.listenFlag });
  const addr = await composed.serve();
  // The signal handlers are in place before any program starts: a SIGTERM while programs start
  // stops them, where Node's default action would kill the agent and leave them running,
  // unsupervised, in their cgroups.
  let stopping = false;
  const done = new Promise<number>((resolve) => {
    const stop = (sig: string) => {
      stopping = true;
      log.info(`${sig}: stopping`);
      process.off('SIGHUP', reload);
      void composed.stop().then(() => resolve(0));
    };
    const reload = () => {
      if (!opts.configPath) {
        log.info('SIGHUP: running on the embedded default, nothing to reload');
        return;
      }
      let next: Config;
      try {
        next = loadConfig(opts.configPath);
        refuseImpossibleActions(next); // an action added by a reload must be one that can work here
      } catch (err) {
        log.error(`SIGHUP: ${(err as Error).message}; keeping the previous config`);
        return;
      }
      const r = composed.reload(next);
      if ('refused' in r) {
        log.error(r.refused);
        return;
      }
      const live = r.subscribers > 0 ? ` (api settings applied to ${r.subscribers} live subscribers, ${r.redacted} queued events redacted again)` : '';
      log.info(`SIGHUP: reloaded ${opts.configPath}${live}`);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', reload);
  });
  // Programs start once exits are being watched, so none can empty unseen.
  await composed.startPrograms();
  if (!stopping) {
    const { agent, config } = composed;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    log.info(
      `watching ${agent.table.size} processes in ${agent.registry.size} groups (${agent.source.attached.length} programs attached, config ${config.source}, node ${config.node_name})`,
    );
    log.info(`serving http://${host}:${addr.port}/metrics and unix:${config.api.socket}`);
  }
  return done;
}
