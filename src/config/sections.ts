/**
 * The small top-level sections: listen, cgroup, bpf, accounting and kubernetes, each read with
 * its defaults from config/default.ts.
 */
import { ARGV_CAP, DEFAULTS } from './default.js';
import { ConfigReader, describe, orDefault } from './reader.js';
import type { Config } from './types.js';
import { parseListen } from './values.js';

const V1_CONTROLLERS = [
  'blkio',
  'cpu',
  'cpuacct',
  'cpuset',
  'devices',
  'freezer',
  'hugetlb',
  'memory',
  'misc',
  'net_cls',
  'net_prio',
  'perf_event',
  'pids',
  'rdma',
] as const;

export function readListen(r: ConfigReader, value: unknown): Config['listen'] {
  if (value === undefined || value === null) return { ...DEFAULTS.listen };
  const expected = '"host:port" like 127.0.0.1:10510, 0.0.0.0:10510 or [::1]:10510 (port 1-65535)';
  const text = r.string(value, ['listen'], expected);
  const addr = parseListen(text);
  if (addr === undefined) r.fail(['listen'], `invalid address ${describe(text)}`, expected);
  return addr;
}

export function readHierarchy(r: ConfigReader, value: unknown): string {
  const map = r.mapping(value, ['cgroup'], ['hierarchy']);
  if (map.hierarchy == null) return DEFAULTS.cgroup_hierarchy;
  const path = ['cgroup', 'hierarchy'];
  const expected = `v2, a cgroup v1 controller (${V1_CONTROLLERS.join(', ')}) or name=<hierarchy name>`;
  const text = r.string(map.hierarchy, path, expected);
  if (text === 'v2' || (V1_CONTROLLERS as readonly string[]).includes(text) || /^name=[A-Za-z0-9_.-]+$/.test(text)) {
    return text;
  }
  r.fail(path, `unknown hierarchy ${describe(text)}`, expected);
}

export function readBpf(r: ConfigReader, value: unknown): Config['bpf'] {
  const d = DEFAULTS.bpf;
  const map = r.mapping(
    value,
    ['bpf'],
    ['ring_buffer_bytes', 'argv_max_bytes', 'cpu_accounting', 'flush_interval', 'counter_entries', 'process_entries', 'records_on_demand'],
  );
  // Retired (the kernel no longer keeps a per-process map): still read, so old configs load.
  if (map.process_entries !== undefined) r.integer(map.process_entries, ['bpf', 'process_entries'], { min: 1 });
  const ringPath = ['bpf', 'ring_buffer_bytes'];
  const ring_buffer_bytes = orDefault(map.ring_buffer_bytes, d.ring_buffer_bytes, (v) => r.size(v, ringPath));
  // The kernel sizes BPF ring buffers in whole pages, a power of two of them.
  if (ring_buffer_bytes < 4096 || (ring_buffer_bytes & (ring_buffer_bytes - 1)) !== 0) {
    r.fail(ringPath, `${ring_buffer_bytes} bytes is not a power of two >= 4096`, 'a power of two of at least 4096 bytes, like 256KiB, 8MiB or 64MiB');
  }
  return {
    ring_buffer_bytes,
    argv_max_bytes: orDefault(map.argv_max_bytes, d.argv_max_bytes, (v) =>
      r.size(v, ['bpf', 'argv_max_bytes'], {
        max: ARGV_CAP,
        expected: `a size from 0 to ${ARGV_CAP} bytes (the BPF program's argv buffer)`,
      }),
    ),
    cpu_accounting: orDefault(map.cpu_accounting, d.cpu_accounting, (v) => r.boolean(v, ['bpf', 'cpu_accounting'])),
    flush_interval_s: orDefault(map.flush_interval, d.flush_interval_s, (v) => r.duration(v, ['bpf', 'flush_interval'])),
    counter_entries: orDefault(map.counter_entries, d.counter_entries, (v) => r.integer(v, ['bpf', 'counter_entries'], { min: 1 })),
    records_on_demand: orDefault(map.records_on_demand, d.records_on_demand, (v) => r.boolean(v, ['bpf', 'records_on_demand'])),
  };
}

export function readAccounting(r: ConfigReader, value: unknown): Config['accounting'] {
  const map = r.mapping(value, ['accounting'], ['period', 'log']);
  const accounting: Config['accounting'] = {
    period_s: orDefault<number | null>(map.period, DEFAULTS.accounting.period_s, (v) => r.duration(v, ['accounting', 'period'], { positive: true })),
  };
  if (map.log != null) {
    const path = ['accounting', 'log'];
    const log = r.mapping(map.log, path, ['path', 'max_bytes', 'keep']);
    if (log.path == null) r.fail([...path, 'path'], 'missing', 'an absolute path for the accounting log');
    accounting.log = {
      path: r.absolutePath(log.path, [...path, 'path']),
      max_bytes: orDefault(log.max_bytes, DEFAULTS.accounting.log.max_bytes, (v) => r.size(v, [...path, 'max_bytes'], { min: 4096 })),
      keep: orDefault(log.keep, DEFAULTS.accounting.log.keep, (v) => r.integer(v, [...path, 'keep'], { min: 0 })),
    };
  }
  return accounting;
}

/** program_logs: where the log relays write each program's output, and how much of it they keep. */
export function readProgramLogs(r: ConfigReader, value: unknown): NonNullable<Config['program_logs']> {
  const d = DEFAULTS.program_logs;
  const path = ['program_logs'];
  const map = r.mapping(value, path, ['dir', 'max_bytes', 'keep']);
  return {
    dir: orDefault(map.dir, d.dir, (v) => r.absolutePath(v, [...path, 'dir'])),
    // A record is at most 16 KiB of line and its stamp: a file holds several.
    max_bytes: orDefault(map.max_bytes, d.max_bytes, (v) => r.size(v, [...path, 'max_bytes'], { min: 65536 })),
    keep: orDefault(map.keep, d.keep, (v) => r.integer(v, [...path, 'keep'], { min: 0, max: 1000 })),
  };
}

export function readKubernetes(r: ConfigReader, value: unknown): NonNullable<Config['kubernetes']> {
  const map = r.mapping(value, ['kubernetes'], ['pods_url', 'token_file', 'ca_file', 'refresh']);
  const expected = 'an http:// or https:// URL of a pod list, e.g. https://kubernetes.default.svc/api/v1/pods?fieldSelector=spec.nodeName={node}';
  const url = r.string(map.pods_url, ['kubernetes', 'pods_url'], expected);
  let ok: boolean;
  try {
    ok = ['http:', 'https:'].includes(new URL(url.replace('{node}', 'n')).protocol);
  } catch {
    ok = false;
  }
  if (!ok) r.fail(['kubernetes', 'pods_url'], `${describe(url)} is not an http(s) URL`, expected);
  const k: NonNullable<Config['kubernetes']> = {
    pods_url: url,
    refresh_s: orDefault(map.refresh, 30, (v) => r.duration(v, ['kubernetes', 'refresh'], { min: 1 })),
  };
  if (map.token_file != null) k.token_file = r.absolutePath(map.token_file, ['kubernetes', 'token_file']);
  if (map.ca_file != null) k.ca_file = r.absolutePath(map.ca_file, ['kubernetes', 'ca_file']);
  return k;
}
