/**
 * The pod list as config `kubernetes` asks for it: the API server's pods (`.../api/v1/pods`) are
 * listed and watched (watch.ts), with the owners of ReplicaSets and Jobs read from the same
 * server (owners.ts); any other URL (the kubelet's /pods) is read every `refresh` (poll.ts).
 */
import { ApiClient } from './http.js';
import { OwnerCache, workloadOf } from './owners.js';
import { PodDirectory } from './poll.js';
import type { PodLookup } from './pods.js';
import { PodWatch } from './watch.js';

export interface PodSourceConfig {
  /** `{node}` is replaced by `node`. */
  pods_url: string;
  token_file?: string;
  ca_file?: string;
  refresh_s: number;
}

export interface PodSourceHooks {
  /** Pods or containers came or went: groups may take Kubernetes names now. */
  onChange(): void;
  /** Reading the pods (`what`: 'pods' or 'owners') starts failing, or works again. */
  onState(what: 'pods' | 'owners', ok: boolean, detail: string): void;
}

export interface PodSource {
  lookup: PodLookup;
  /** 'watch' for the API server, 'poll' otherwise. */
  mode: 'watch' | 'poll';
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Where `/api/v1/` starts in an API server's pod list URL (-1: not one). */
function apiRoot(url: URL): number {
  const i = url.pathname.lastIndexOf('/api/v1/');
  const rest = i < 0 ? '' : url.pathname.slice(i);
  return /^\/api\/v1\/(?:namespaces\/[^/]+\/)?pods$/.test(rest) ? i : -1;
}

export function podSource(c: PodSourceConfig, node: string, hooks: PodSourceHooks): PodSource {
  const url = new URL(c.pods_url.replaceAll('{node}', encodeURIComponent(node)));
  const root = apiRoot(url);
  const base = `${url.origin}${root < 0 ? '' : url.pathname.slice(0, root)}`;
  const client = new ApiClient({ base, tokenFile: c.token_file, caFile: c.ca_file });
  const path = `${url.pathname.slice(Math.max(root, 0))}${url.search}`;

  if (root < 0) {
    const dir = new PodDirectory({
      fetch: () => client.getJson(`${url.pathname}${url.search}`),
      refreshS: c.refresh_s,
      onChange: () => hooks.onChange(),
      onState: (ok, detail) => hooks.onState('pods', ok, detail),
    });
    // No API server to read ReplicaSets from: their Deployment by the naming convention only.
    const lookup: PodLookup = { pod: (uid) => dir.pod(uid), workload: (pod) => workloadOf(pod, () => undefined) };
    return {
      lookup,
      mode: 'poll',
      start: () => dir.start(),
      close: () => {
        dir.close();
        client.close();
        return Promise.resolve();
      },
    };
  }

  let closing = false;
  const watch = new PodWatch({ client, path, onChange: () => hooks.onChange(), onState: (ok, detail) => hooks.onState('pods', ok, detail) });
  const owners = new OwnerCache({
    get: (p) => client.getJson(p),
    // A read ended by close() is not a failure to report.
    onState: (ok, detail) => closing || hooks.onState('owners', ok, detail),
  });
  const lookup: PodLookup = { pod: (uid) => watch.index.get(uid), workload: (pod) => owners.workload(pod) };
  return {
    lookup,
    mode: 'watch',
    start: () => watch.start(),
    close: () => {
      closing = true;
      client.close();
      return watch.close();
    },
  };
}
