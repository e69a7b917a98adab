/** Wires the agent to the kernel, HTTP and signals: SIGTERM/SIGINT stop, SIGHUP reloads. */
import { HookRunner } from '../accounting/hooks.js';
import { NdjsonLog } from '../accounting/log.js';
import { Agent } from '../agent.js';
import { HostCgroupIO } from '../beancounters/cgroupfs.js';
import { BeancounterService } from '../beancounters/service.js';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { createLogger } from '../log.js';
import { buildRegistry, type Snapshot } from '../metrics/registry.js';
import { loadBinding } from '../native/binding.js';
import { createHttpServer, listen } from '../server/http.js';
import { EventBus } from '../stream/bus.js';

export async function runAgent(config: Config, opts: { configPath?: string; verbose: boolean; bpfStats: boolean }): Promise<number> {
  const log = createLogger({ verbose: opts.verbose });
  const agent = new Agent(loadBinding(), config, log, () => Date.now(), { bpfStats: opts.bpfStats });
  const bus = new EventBus();
  const beancounters = new BeancounterService({
    host: agent,
    config,
    bus,
    hooks: new HookRunner({ logger: log }),
    io: HostCgroupIO.detect(),
    log,
    openLog: (o) => new NdjsonLog(o),
  });
  agent.addListener(beancounters);

  let snap: Snapshot | undefined;
  const current = () => snap!;
  const registries = { text: buildRegistry('prometheus', current), om: buildRegistry('openmetrics', current) };
  const server = createHttpServer(
    {
      metrics: async (om) => {
        snap = agent.snapshot({ beancounters: beancounters.rows(), programs: [] });
        const reg = om ? registries.om : registries.text;
        return { body: await reg.metrics(), contentType: reg.contentType };
      },
      health: () => ({ ok: !agent.source.closed, detail: { programs: agent.source.attached.length, groups: agent.registry.size } }),
      api: { groups: () => agent.groups(), beancounters: () => beancounters.apiRows() },
    },
    (err) => log.error(`HTTP handler failed: ${(err as Error).stack ?? String(err)}`),
  );

  agent.start();
  let addr;
  try {
    addr = await listen(server, config.listen.host, config.listen.port);
  } catch (err) {
    agent.close();
    await beancounters.close();
    throw err;
  }
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  log.info(`watching ${agent.table.size} processes in ${agent.registry.size} groups (${agent.source.attached.length} programs attached, config ${config.source})`);
  log.info(`serving http://${host}:${addr.port}/metrics`);

  return new Promise((resolve) => {
    const stop = (sig: string) => {
      log.info(`${sig}: stopping`);
      process.off('SIGHUP', reload);
      server.close();
      server.closeAllConnections();
      agent.close();
      // Running hooks are killed (their process groups too), so none outlives the agent.
      void beancounters.close().then(() => resolve(0));
    };
    const reload = () => {
      if (!opts.configPath) {
        log.info('SIGHUP: running on the embedded default, nothing to reload');
        return;
      }
      try {
        const next = loadConfig(opts.configPath);
        next.listen = config.listen; // the socket stays where it is
        agent.reload(next);
        beancounters.reload(next);
        log.info(`SIGHUP: reloaded ${opts.configPath}`);
      } catch (err) {
        log.error(`SIGHUP: ${(err as Error).message}; keeping the previous config`);
      }
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', reload);
  });
}
