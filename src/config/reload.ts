/**
 * What a SIGHUP can change. Keys read only at start (the BPF programs' settings, the sockets, the
 * cgroup hierarchy, the node name the stream carries, the pod list's source, the exporters) cannot be applied to
 * a running agent; a reload that changes one is refused whole, naming them, rather than half
 * applied while the operator believes all of it is.
 */
import type { Config } from './types.js';

/** Dotted keys, each compared as a whole. */
const START_ONLY = [
  'listen',
  'node_name',
  'cgroup.hierarchy',
  'bpf.ring_buffer_bytes',
  'bpf.argv_max_bytes',
  'bpf.cpu_accounting',
  'bpf.flush_interval',
  'bpf.counter_entries',
  'bpf.records_on_demand',
  'api.socket',
  'program_logs',
  'kubernetes',
  'export',
] as const;

/** Where each dotted key sits in a Config (bpf.flush_interval is flush_interval_s there). */
function valueAt(c: Config, key: (typeof START_ONLY)[number]): unknown {
  switch (key) {
    case 'listen':
      return c.listen;
    case 'node_name':
      return c.node_name;
    case 'cgroup.hierarchy':
      return c.cgroup.hierarchy;
    case 'bpf.flush_interval':
      return c.bpf.flush_interval_s;
    case 'api.socket':
      return c.api.socket;
    case 'program_logs':
      return c.program_logs;
    case 'kubernetes':
      return c.kubernetes;
    case 'export':
      return c.export;
    default:
      return c.bpf[key.slice(4) as keyof Config['bpf']];
  }
}

/** The keys whose value differs between the running config and the one read again, in config order. */
export function restartOnlyChanges(running: Config, next: Config): string[] {
  return START_ONLY.filter((k) => JSON.stringify(valueAt(running, k)) !== JSON.stringify(valueAt(next, k)));
}
