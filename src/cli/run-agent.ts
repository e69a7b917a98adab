/**
 * Wires the running agent: kernel -> groups -> beancounters, supervisor, event stream -> HTTP on
 * TCP and on the unix socket. SIGTERM/SIGINT stop, SIGHUP reloads.
 */
import path from 'node:path';
import { NdjsonLog, noLogErrors } from '../accounting/log.js';
import { Agent } from '../agent.js';
import { HostCgroupIO } from '../beancounters/cgroupfs.js';
import { Freezer, FrozenFile } from '../beancounters/freezer.js';
import { ThreadedHooks } from '../beancounters/hook-thread.js';
import { BeancounterService } from '../beancounters/service.js';
import { loadConfig } from '../config/load.js';
import { restartOnlyChanges } from '../config/reload.js';
import type { Config } from '../config/types.js';
import { refuseImpossibleActions } from '../doctor/needs.js';
import { createLogger } from '../log.js';
import { buildRegistry, type Snapshot } from '../metrics/registry.js';
import { loadBinding } from '../host/binding.js';
import { createApiServer, listenUnix, readTokens, type AccessPolicy } from '../server/api.js';
import { listen } from '../server/http.js';
import { EventBus } from '../stream/bus.js';
import { readBootId } from '../stream/identity.js';
import { ProcessPublisher } from '../stream/publish.js';
import { CgroupLauncher } from '../supervisor/launcher.js';
import { httpPodList, PodDirectory, podLabels } from '../k8s/pods.js';
import { SupervisorService } from '../supervisor/service.js';

export async function runAgent(startConfig: Config, opts: { configPath?: string; verbose: boolean; bpfStats: boolean; listenFlag?: boolean }): Promise<number> {
  refuseImpossibleActions(startConfig);
  const log = createLogger({ verbose: opts.verbose });
  /** The config in force: the start one, then each reload's. */
  let config = startConfig;
  const tcpPolicy: AccessPolicy = { trusted: false, ...readTokens(config.api) };
  const binding = loadBinding();
  const agent = new Agent(binding, config, log, () => Date.now(), { bpfStats: opts.bpfStats });
  const bus = new EventBus();
  bus.setLimits({ events: config.api.subscriber_queue, bytes: config.api.subscriber_queue_bytes });
  const node = config.node_name;
  const bootId = readBootId();
  const streamId = `${bootId.slice(0, 16)}-${process.pid}-${Date.now()}`;

  const publisher = new ProcessPublisher({
    bus,
    node,
    bootId,
    redact: config.api.redact,
    ctx: { iso: (ns) => agent.source.clock.iso(ns), cgroupPath: (id) => agent.source.names.path(id) },
    groupOf: (pid) => agent.tracker.groupOf(pid),
  });
  agent.addListener({ onEvent: (e, notices, change) => publisher.publish(e, change, notices) });

  // What the `freeze` action froze is recorded next to the socket (the agent's runtime directory,
  // /run/forkwatch by default); an agent that crashed left its record there: thaw that first.
  const io = HostCgroupIO.detect(binding);
  // Kept here, not in the log: a reload that opens a new log must not set the counters back.
  const logErrors = noLogErrors();
  const freezer = new Freezer(io, new FrozenFile(path.join(path.dirname(config.api.socket), 'frozen-cgroups.json'), bootId), log);
  freezer.recover();
  const beancounters = new BeancounterService({
    host: agent,
    config,
    bus,
    hooks: new ThreadedHooks(log),
    io,
    freezer,
    log,
    openLog: (o) => new NdjsonLog(o, { errors: logErrors, warn: (m) => log.warn(m) }),
  });
  agent.addListener(beancounters);

  const supervisor = new SupervisorService({
    config,
    launcher: await CgroupLauncher.create({ logger: log }),
    bus,
    log,
    node,
    cgroupPath: (id) => agent.source.names.path(id),
    v2: agent.hierarchy.id === 0,
  });
  agent.addListener({ onCgroupEmpty: (id, status) => supervisor.onCgroupEmpty(id, status) });

  // Pod names for pod uids (config kubernetes); without it, or while the list cannot be read, the uid alone.
  const k8s = config.kubernetes;
  const pods = k8s
    ? new PodDirectory({
        fetch: httpPodList({ url: k8s.pods_url, node, tokenFile: k8s.token_file, caFile: k8s.ca_file }),
        refreshS: k8s.refresh_s,
        onState: (ok, detail) => (ok ? log.info(`kubernetes: read the pod list (${detail})`) : log.warn(`kubernetes: cannot read the pod list (${detail}); groups keep pod uids only`)),
      })
    : undefined;
  const podOf = (uid: string | undefined) => podLabels(uid, (u) => pods?.lookup(u));

  let snap: Snapshot | undefined;
  const current = () => snap!;
  const registries = { text: buildRegistry('prometheus', current, node), om: buildRegistry('openmetrics', current, node) };
  const handlers = {
    metrics: async (om: boolean) => {
      snap = agent.snapshot({ beancounters: beancounters.rows(), programs: supervisor.samples() });
      snap.accountingLogErrors = logErrors;
      if (pods) {
        for (const g of snap.groups) {
          if (!g.podUid) continue;
          const p = podOf(g.podUid);
          g.podName = p.pod_name;
          g.podNamespace = p.pod_namespace;
        }
      }
      const reg = om ? registries.om : registries.text;
      return { body: await reg.metrics(), contentType: reg.contentType };
    },
    health: () => ({ ok: !agent.source.closed, detail: { node, programs: agent.source.attached.length, groups: agent.registry.size } }),
    get: { groups: () => agent.groups().map((g) => (g.pod_uid ? { ...g, ...podOf(g.pod_uid) } : g)), beancounters: () => beancounters.apiRows(), programs: () => supervisor.list() },
    events: {
      bus,
      node,
      streamId,
      descendants: (pid: number) => agent.table.descendants(pid),
      maxSubscribers: () => config.api.max_subscribers,
    },
    control: (action: 'start' | 'stop' | 'restart', name: string) => supervisor.control(action, name),
  };
  const onError = (err: unknown) => log.error(`HTTP handler failed: ${(err as Error).stack ?? String(err)}`);
  const tcp = createApiServer(handlers, tcpPolicy, onError);
  const unix = createApiServer(handlers, { trusted: true }, onError);

  agent.start();
  void pods?.start();
  let addr;
  try {
    addr = await listen(tcp, config.listen.host, config.listen.port);
    await listenUnix(unix, config.api.socket);
  } catch (err) {
    tcp.close();
    agent.close();
    await beancounters.close();
    throw err;
  }
  // The signal handlers are in place before any program starts: a SIGTERM while programs start
  // stops them, where Node's default action would kill the agent and leave them running,
  // unsupervised, in their cgroups.
  let stopping = false;
  const done = new Promise<number>((resolve) => {
    const stop = (sig: string) => {
      stopping = true;
      log.info(`${sig}: stopping`);
      process.off('SIGHUP', reload);
      for (const s of [tcp, unix]) {
        s.close();
        s.closeAllConnections();
      }
      // Programs go first (stop signal, timeout, SIGKILL of their cgroups) unless keep_running.
      void supervisor
        .stop()
        .catch((err: unknown) => log.error(`stopping programs: ${(err as Error).message}`))
        .then(() => {
          pods?.close();
          agent.close();
          // Running hooks are killed (their process groups too), so none outlives the agent.
          return beancounters.close();
        })
        .then(() => resolve(0));
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
      if (opts.listenFlag) next.listen = config.listen; // --listen overrides the file, now as at start
      // Refused whole rather than half applied: the operator must not believe a key took effect.
      const startOnly = restartOnlyChanges(config, next);
      if (startOnly.length > 0) {
        log.error(`SIGHUP: ${startOnly.join(', ')} changed, which only take effect at start; keeping the previous config (restart the agent to apply it)`);
        return;
      }
      let tokens;
      try {
        tokens = readTokens(next.api);
      } catch (err) {
        log.error(`SIGHUP: ${(err as Error).message}; keeping the previous config`);
        return;
      }
      config = next;
      Object.assign(tcpPolicy, tokens);
      // Redaction and the queues' bounds apply to live subscribers, and to what they have queued.
      bus.setLimits({ events: next.api.subscriber_queue, bytes: next.api.subscriber_queue_bytes });
      const redacted = publisher.setRedact(next.api.redact);
      agent.reload(next);
      beancounters.reload(next);
      void supervisor.reload(next).catch((err: unknown) => log.error(`SIGHUP: programs: ${(err as Error).message}`));
      const live = bus.subscribers > 0 ? ` (api settings applied to ${bus.subscribers} live subscribers, ${redacted} queued events redacted again)` : '';
      log.info(`SIGHUP: reloaded ${opts.configPath}${live}`);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', reload);
  });
  // Programs start once exits are being watched, so none can empty unseen.
  await supervisor.start();
  if (!stopping) {
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    log.info(`watching ${agent.table.size} processes in ${agent.registry.size} groups (${agent.source.attached.length} programs attached, config ${config.source}, node ${node})`);
    log.info(`serving http://${host}:${addr.port}/metrics and unix:${config.api.socket}`);
  }
  return done;
}
