/**
 * The composition root: the only place where the real host (the addon, cgroupfs, procfs, clocks)
 * and the services are built and wired to the pipeline (agent.ts):
 *
 *   kernel -> Agent -> beancounters, supervisor, event stream (listeners)
 *                   -> pods (list + watch: pod, container and workload names) -> metrics, HTTP on TCP and on the unix socket
 *
 * src/cli/run-agent.ts is the command's glue around it: signals, reading the config again.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { NdjsonLog, noLogErrors } from '../beancounters/log.js';
import { HostCgroupIO } from '../beancounters/cgroup-actions.js';
import { Enforcer, EnforcedFile } from '../beancounters/enforcer.js';
import { Freezer, FrozenFile } from '../beancounters/freezer.js';
import { ThreadedHooks } from '../beancounters/hook-thread.js';
import { BeancounterService } from '../beancounters/service.js';
import { cgroupIdOf, cpuUsageUs, detectHierarchy, findCgroup, scanCgroups } from '../host/cgroupfs.js';
import { restartOnlyChanges } from '../config/reload.js';
import type { Config } from '../config/types.js';
import { requireBpfHost } from '../host/kernel.js';
import { podSource } from '../k8s/source.js';
import { componentLogger, type Logger } from '../log.js';
import { buildRegistry, type Snapshot } from '../metrics/registry.js';
import { loadBinding, type NativeBinding } from '../host/binding.js';
import { readCwd, scanProcesses } from '../host/procfs.js';
import { createApiServer, listenUnix, readTokens, type AccessPolicy, type ApiHandlers } from '../server/api.js';
import { listen } from '../server/http.js';
import { ExportFeed, exportQuery } from '../export/feed.js';
import { FileExporter } from '../export/file.js';
import { NatsExporter } from '../export/nats.js';
import { natsAuthenticator } from '../export/nats-auth.js';
import { natsTlsOptions } from '../export/nats-tls.js';
import { agentResource, OtlpExporter } from '../export/otlp.js';
import { EventBus } from '../stream/bus.js';
import { readBootId } from '../stream/identity.js';
import { exitIdentity } from '../process/identity.js';
import { processId } from '../stream/identity.js';
import { ProcessPublisher } from '../stream/publish.js';
import { CgroupLauncher } from '../supervisor/launcher.js';
import { RealProber } from '../supervisor/probe.js';
import { SupervisorService } from '../supervisor/service.js';
import { Agent, type AgentOptions } from './agent.js';
import type { AgentHost } from './host.js';

/** This machine as the Agent's host: the addon, the hierarchy cgroup.hierarchy names, procfs, clocks. */
export function realHost(config: Config, binding: NativeBinding = loadBinding()): AgentHost {
  const hierarchy = detectHierarchy(config.cgroup.hierarchy);
  const mount = hierarchy.mount;
  return {
    binding,
    preflight: requireBpfHost,
    hierarchy,
    cgroupfs: {
      scan: () => scanCgroups(mount),
      find: (id, under) => findCgroup(mount, under, id),
      idOf: (p) => cgroupIdOf(mount, p),
      cpuUsageUs: (p) => cpuUsageUs(mount, p),
    },
    procfs: { processes: () => scanProcesses(), cwd: (pid) => readCwd(pid) },
    clock: { now: () => Date.now(), monotonicMs: () => performance.now(), monotonicNs: () => Number(process.hrtime.bigint()) },
  };
}

/** The pipeline alone on this machine (attached, table seeded; start() delivers). */
export function createAgent(config: Config, log: Logger, opts: AgentOptions = {}): Agent {
  return new Agent(realHost(config), config, log, opts);
}

/**
 * Why a reloaded config cannot be applied, as the one line the agent logs; undefined when it can.
 * Keys read only at start (bpf.*, listen, the socket, ...: src/config/reload.ts) refuse the
 * whole reload rather than half of it, so no operator believes a key took effect.
 */
export function reloadRefusal(running: Config, next: Config): string | undefined {
  const startOnly = restartOnlyChanges(running, next);
  if (startOnly.length === 0) return undefined;
  return `SIGHUP: ${startOnly.join(', ')} changed, which only take effect at start; keeping the previous config (restart the agent to apply it)`;
}

export interface ComposeOptions {
  bpfStats: boolean;
  /** Records on demand (default: config bpf.records_on_demand). */
  recordsOnDemand?: boolean;
  /** --listen was given: it overrides the file, on reload as at start. */
  listenFlag?: boolean;
  /** The hook worker's module (tests pass a bundle of hook-worker.ts); the built one beside hook-thread.js unless given. */
  hookWorkerUrl?: URL;
}

/**
 * The configured exporters (config export: nats, file, otlp), each fed by its own filtered
 * subscription to the bus. A subscription widens the records like an /events reader: an exporter
 * wants every event. Built once the stream's id is known (NATS message ids, the OTLP resource).
 */
function exportFeeds(config: Config, bus: EventBus, log: Logger, descendants: (pid: number) => Iterable<number>): (streamId: string) => ExportFeed[] {
  const ex = config.export;
  const exportLog = componentLogger(log, 'export');
  const node = config.node_name;
  // The filters are read now, before anything is loaded: a bad one is a usage error (exit 2).
  const file = ex.file && { o: ex.file, q: exportQuery(ex.file.filter, 'export.file') };
  // Its secrets too: a file that cannot be read stops the start with one line, not a connection refused forever.
  const nats = ex.nats && {
    o: ex.nats,
    q: exportQuery(ex.nats.filter, 'export.nats'),
    auth: natsAuthenticator(ex.nats, (k) => `export.nats.${k}`),
    tls: natsTlsOptions(ex.nats.tls, (k) => `export.nats.tls.${k}`),
  };
  const otlp = ex.otlp && { o: ex.otlp, q: exportQuery(ex.otlp.filter, 'export.otlp') };
  return (streamId) => {
    const feeds: ExportFeed[] = [];
    if (file)
      feeds.push(new ExportFeed(bus, new FileExporter({ ...file.o, ancestors: file.q.ancestors, warn: (m) => exportLog.warn(m) }), file.q, descendants));
    if (nats)
      feeds.push(
        new ExportFeed(
          bus,
          new NatsExporter({ ...nats.o, ancestors: nats.q.ancestors, node, streamId, log: exportLog, authenticator: nats.auth, tls: nats.tls }),
          nats.q,
          descendants,
        ),
      );
    if (otlp) {
      const resource = agentResource({ node, streamId, kubernetes: config.kubernetes !== undefined });
      feeds.push(new ExportFeed(bus, new OtlpExporter({ config: otlp.o, resource, log: exportLog }), otlp.q, descendants));
    }
    return feeds;
  };
}

/** The agent with its services, wired; nothing served or started yet. */
export interface ComposedAgent {
  readonly agent: Agent;
  /** The config in force: the start one, then each reload's. */
  readonly config: Config;
  /** Starts reading events and the pod list, then serves HTTP; returns the TCP address. */
  serve(): Promise<AddressInfo>;
  /** Starts the supervised programs (once exits are watched, so none can empty unseen). */
  startPrograms(): Promise<void>;
  /** Applies a config read again; returns the line that says why not when it is refused. */
  reload(next: Config): { refused: string } | { subscribers: number; redacted: number };
  /** Stops serving, the programs (unless keep_running), the pipeline, then running hooks. */
  stop(): Promise<void>;
}

export async function composeAgent(startConfig: Config, log: Logger, opts: ComposeOptions): Promise<ComposedAgent> {
  let config = startConfig;
  const tcpPolicy: AccessPolicy = { trusted: false, ...readTokens(config.api) };
  const binding = loadBinding();
  const node = config.node_name;
  const bus = new EventBus();

  // Each service logs as its component (json lines carry it; text lines are as they were).
  const k8sLog = componentLogger(log, 'kubernetes');
  const beancountersLog = componentLogger(log, 'beancounters');
  const supervisorLog = componentLogger(log, 'supervisor');

  // Pods' names, containers and workloads (config kubernetes); without it, or while the list cannot be read, uids alone.
  const k8s = config.kubernetes;
  const pods =
    k8s &&
    podSource(k8s, node, {
      onChange: () => agent.podsChanged(),
      onState: (what, ok, detail) => {
        if (ok) k8sLog.info(`kubernetes: read the ${what === 'pods' ? 'pod list' : "pods' owners"} (${detail})`);
        else if (what === 'pods') k8sLog.warn(`kubernetes: cannot read the pod list (${detail}); groups keep pod uids until it can`);
        else k8sLog.warn(`kubernetes: cannot read a pod's owner (${detail}); a ReplicaSet's Deployment is taken from its name meanwhile`);
      },
    });

  const makeFeeds = exportFeeds(config, bus, log, (pid) => agent.table.descendants(pid));
  const agent = new Agent(realHost(config, binding), config, log, {
    bpfStats: opts.bpfStats,
    recordsOnDemand: opts.recordsOnDemand,
    pods: pods?.lookup,
  });
  // Records on demand: a subscriber widens what the kernel records before its first event.
  bus.onDemand((d) => agent.interest.setDemand(d));
  bus.setLimits({ events: config.api.subscriber_queue, bytes: config.api.subscriber_queue_bytes });
  const bootId = readBootId();
  const streamId = `${bootId.slice(0, 16)}-${process.pid}-${Date.now()}`;

  const publisher = new ProcessPublisher({
    bus,
    node,
    bootId,
    redact: config.api.redact,
    ctx: { iso: (ns) => agent.source.clock.iso(ns), cgroupPath: (id) => agent.source.names.path(id) },
    groupOf: (pid) => agent.tracker.groupOf(pid),
    identity: (e, before, ancestors) => exitIdentity(agent.table, before, e.ppid, ancestors, (pid, startNs) => processId(bootId, pid, startNs)),
  });
  agent.addListener({ onEvent: (e, notices, change) => publisher.publish(e, change, notices) });
  // Subscribed once the bus tells the agent's interest of its demand.
  const feeds = makeFeeds(streamId);

  // What the `freeze` action froze is recorded next to the socket (the agent's runtime directory,
  // /run/forkwatch by default); an agent that crashed left its record there: thaw that first.
  const io = HostCgroupIO.detect(binding);
  // Kept here, not in the log: a reload that opens a new log must not set the counters back.
  const logErrors = noLogErrors();
  const runtimeDir = path.dirname(config.api.socket);
  const freezer = new Freezer(io, new FrozenFile(path.join(runtimeDir, 'frozen-cgroups.json'), bootId), beancountersLog);
  freezer.recover();
  // The same for the kernel limits `enforce` replaced: their originals, which the service's first
  // sync keeps for what the config still enforces and puts back for the rest.
  const enforcer = new Enforcer(io, new EnforcedFile(path.join(runtimeDir, 'enforced-cgroups.json'), bootId), beancountersLog);
  enforcer.recover();
  const beancounters = new BeancounterService({
    host: agent,
    config,
    bus,
    hooks: new ThreadedHooks(beancountersLog, opts.hookWorkerUrl),
    io,
    freezer,
    enforcer,
    log: beancountersLog,
    openLog: (o) => new NdjsonLog(o, { errors: logErrors, warn: (m) => beancountersLog.warn(m) }),
  });
  agent.addListener(beancounters);

  const launcher = await CgroupLauncher.create({
    logger: supervisorLog,
    beforeSpawn: (p) => agent.interest.watchPath(p),
    ...(config.program_logs ? { programLogs: config.program_logs } : {}),
  });
  const supervisor = new SupervisorService({
    config,
    launcher,
    prober: new RealProber(launcher),
    bus,
    log: supervisorLog,
    node,
    cgroupPath: (id) => agent.source.names.path(id),
    v2: agent.hierarchy.id === 0,
  });
  agent.addListener({ onCgroupEmpty: (id, status) => supervisor.onCgroupEmpty(id, status) });
  agent.interest.setSupervised(supervisor.cgroupPaths());

  let snap: Snapshot | undefined;
  const current = () => snap!;
  const registries = { text: buildRegistry('prometheus', current, node), om: buildRegistry('openmetrics', current, node) };
  const handlers: ApiHandlers = {
    metrics: async (om: boolean) => {
      snap = agent.snapshot({ beancounters: beancounters.rows(), programs: supervisor.samples() });
      snap.accountingLogErrors = logErrors;
      snap.records = { ...agent.interest.sample(), subscribers: bus.subscribers };
      snap.exports = feeds.map((f) => f.sample());
      const reg = om ? registries.om : registries.text;
      return { body: await reg.metrics(), contentType: reg.contentType };
    },
    health: () => ({ ok: !agent.source.closed, detail: { node, programs: agent.source.attached.length, groups: agent.registry.size } }),
    get: { groups: () => agent.groups(), beancounters: () => beancounters.apiRows(), programs: () => supervisor.list() },
    events: {
      bus,
      node,
      streamId,
      descendants: (pid: number) => agent.table.descendants(pid),
      maxSubscribers: () => config.api.max_subscribers,
    },
    control: (action: 'start' | 'stop' | 'restart', name: string) => supervisor.control(action, name),
  };
  const httpLog = componentLogger(log, 'http');
  const onError = (err: unknown) => httpLog.error(`HTTP handler failed: ${(err as Error).stack ?? String(err)}`);
  const servers: http.Server[] = [createApiServer(handlers, tcpPolicy, onError), createApiServer(handlers, { trusted: true }, onError)];
  const [tcp, unix] = servers;

  return {
    agent,
    get config() {
      return config;
    },
    async serve() {
      // Exporters first: the first events find them open (an engine that is away is no error).
      await Promise.all(feeds.map((f) => f.exporter.start()));
      agent.start();
      void pods?.start();
      try {
        const addr = await listen(tcp, config.listen.host, config.listen.port);
        await listenUnix(unix, config.api.socket);
        return addr;
      } catch (err) {
        tcp.close();
        await Promise.all(feeds.map((f) => f.stop()));
        await pods?.close();
        agent.close();
        await beancounters.close();
        throw err;
      }
    },
    startPrograms: () => supervisor.start(),
    reload(next) {
      if (opts.listenFlag) next.listen = config.listen; // --listen overrides the file, now as at start
      const refused = reloadRefusal(config, next);
      if (refused) return { refused };
      let tokens;
      try {
        tokens = readTokens(next.api);
      } catch (err) {
        return { refused: `SIGHUP: ${(err as Error).message}; keeping the previous config` };
      }
      config = next;
      Object.assign(tcpPolicy, tokens);
      // Redaction and the queues' bounds apply to live subscribers, and to what they have queued.
      bus.setLimits({ events: next.api.subscriber_queue, bytes: next.api.subscriber_queue_bytes });
      const redacted = publisher.setRedact(next.api.redact);
      agent.reload(next);
      beancounters.reload(next);
      void supervisor
        .reload(next)
        .then(() => agent.interest.setSupervised(supervisor.cgroupPaths()))
        .catch((err: unknown) => supervisorLog.error(`SIGHUP: programs: ${(err as Error).message}`));
      return { subscribers: bus.subscribers, redacted };
    },
    async stop() {
      for (const s of servers) {
        s.close();
        s.closeAllConnections();
      }
      // Programs go first (stop signal, timeout, SIGKILL of their cgroups) unless keep_running.
      await supervisor.stop().catch((err: unknown) => supervisorLog.error(`stopping programs: ${(err as Error).message}`));
      // What the bus holds goes out; what an exporter cannot send in its bounded time is counted
      // dropped. Before the pipeline closes: leaving the bus changes what the kernel records.
      await Promise.all(feeds.map((f) => f.stop().catch((err: unknown) => log.error(`export.${f.exporter.name}: stopping: ${(err as Error).message}`))));
      await pods?.close();
      agent.close();
      // Running hooks are killed (their process groups too), so none outlives the agent.
      await beancounters.close();
    },
  };
}
