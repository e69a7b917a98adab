import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_YAML } from '../../src/config/default.js';
import { PATTERN_EXPECTED } from '../../src/config/regex.js';
import { EMBEDDED_SOURCE, loadConfig, parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { UsageError } from '../../src/errors.js';

const FILE = '/etc/forkwatch.yaml';
const ENV = { hostname: 'node-a' };
const parse = (text: string): Config => parseConfig(text, FILE, ENV);

/** The message parse() throws, checked to be a one-line usage error (exit 2). */
function failure(text: string): string {
  try {
    parse(text);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error('parsed without error');
}

const DEFAULT_CONFIG: Config = {
  source: FILE,
  listen: { host: '127.0.0.1', port: 10510 },
  node_name: 'node-a',
  cgroup: { hierarchy: 'v2' },
  bpf: {
    ring_buffer_bytes: 8 * 1024 * 1024,
    argv_max_bytes: 2048,
    cpu_accounting: true,
    flush_interval_s: 0.002,
    counter_entries: 16384,
    records_on_demand: true,
  },
  groups: { rules: [], max_groups: 2000, evict_after_s: 300 },
  resources: {},
  accounting: { period_s: null },
  programs: [],
  api: { socket: '/run/forkwatch/api.sock', redact: [], subscriber_queue: 10000, subscriber_queue_bytes: 4 * 2 ** 20, max_subscribers: 32 },
  export: {},
};

describe('defaults', () => {
  it('an empty file is the default config', () => {
    expect(parse('')).toStrictEqual(DEFAULT_CONFIG);
    expect(parse('# nothing here\n')).toStrictEqual(DEFAULT_CONFIG);
  });

  it('empty sections read as defaults', () => {
    expect(parse('bpf:\ngroups:\nresources:\napi:\n')).toStrictEqual(DEFAULT_CONFIG);
  });

  it('the embedded default is valid and says what the loader fills in', () => {
    const embedded = parseConfig(DEFAULT_CONFIG_YAML, EMBEDDED_SOURCE, ENV);
    expect(embedded).toStrictEqual({ ...DEFAULT_CONFIG, source: EMBEDDED_SOURCE });
  });

  it('loadConfig() without a path is the embedded default', () => {
    expect(loadConfig(undefined, ENV)).toStrictEqual({ ...DEFAULT_CONFIG, source: '<embedded default>' });
  });

  it('node_name defaults to the host name', () => {
    expect(parseConfig('', FILE).node_name.length).toBeGreaterThan(0);
    expect(parse('node_name: web-7').node_name).toBe('web-7');
  });

  it('fills in program defaults like systemd', () => {
    const [p] = parse('programs: [{name: web, command: /usr/bin/web --port 8080}]').programs;
    expect(p).toStrictEqual({
      name: 'web',
      command: ['/usr/bin/web', '--port', '8080'],
      env: {},
      restart: 'on-failure',
      success_exit_codes: [0],
      backoff: { initial_s: 0.1, factor: 2, max_s: 30, reset_after_s: 60 },
      start_limit: { burst: 5, interval_s: 10 },
      retry_failed_after_s: null,
      stop_signal: 'SIGTERM',
      stop_timeout_s: 10,
      keep_running: false,
      after: [],
    });
  });

  it('fills in rule defaults: event first, exec timeout 10s', () => {
    const [rule] = parse(`
groups:
  - name: web
    match: { cgroup: /system.slice/nginx.service }
    resources:
      tasks: { barrier: 50, limit: 100, on_barrier: [{exec: notify-send busy}], on_limit: [kill, event, kill] }
      threads: { limit: 1000 }
    on_release: [/usr/local/bin/cleanup, web]
`).groups.rules;
    expect(rule).toStrictEqual({
      name: 'web',
      match: { cgroup: '/system.slice/nginx.service' },
      resources: {
        tasks: {
          barrier: 50,
          limit: 100,
          on_barrier: [{ kind: 'event' }, { kind: 'exec', command: ['notify-send', 'busy'], timeout_s: 10 }],
          on_limit: [{ kind: 'event' }, { kind: 'kill' }],
        },
        threads: { limit: 1000, on_barrier: [], on_limit: [{ kind: 'event' }] },
      },
      on_release: { command: ['/usr/local/bin/cleanup', 'web'], timeout_s: 10 },
    });
  });
});

describe('values', () => {
  it.each([
    ['100ms', 0.1],
    ['2ms', 0.002],
    ['5s', 5],
    ['1.5s', 1.5],
    ['2m', 120],
    ['1h', 3600],
    ['1d', 86400],
    ['1m30s', 90],
    ['"30"', 30],
    ['45', 45],
    ['0.25', 0.25],
    ['0', 0],
  ])('duration %s is %s s', (text, seconds) => {
    expect(parse(`group_settings: { evict_after: ${text} }`).groups.evict_after_s).toBe(seconds);
  });

  it.each([
    ['4096', 4096],
    ['"4096"', 4096],
    ['64KiB', 65536],
    ['8MiB', 8 * 2 ** 20],
    ['1GiB', 2 ** 30],
    ['1.5KiB', 1536],
    ['10MB', 10_000_000],
    ['2kb', 2000],
    ['512 B', 512],
    ['16mib', 16 * 2 ** 20],
  ])('size %s is %s bytes', (text, bytes) => {
    expect(parse(`resources: { memory_bytes: { limit: ${text} } }`).resources.memory_bytes?.limit).toBe(bytes);
  });

  it.each([
    ['"127.0.0.1:10510"', { host: '127.0.0.1', port: 10510 }],
    ['0.0.0.0:9999', { host: '0.0.0.0', port: 9999 }],
    ['"[::1]:10510"', { host: '::1', port: 10510 }],
    ['"[::]:80"', { host: '::', port: 80 }],
    ['localhost:10510', { host: 'localhost', port: 10510 }],
    ['metrics.example.org:443', { host: 'metrics.example.org', port: 443 }],
  ])('listen %s', (text, want) => {
    expect(parse(`listen: ${text}`).listen).toStrictEqual(want);
  });

  it.each([
    ['v2', 'v2'],
    ['cpuacct', 'cpuacct'],
    ['"name=systemd"', 'name=systemd'],
  ])('cgroup.hierarchy %s', (text, want) => {
    expect(parse(`cgroup: { hierarchy: ${text} }`).cgroup.hierarchy).toBe(want);
  });

  it('still reads the retired bpf.process_entries, and ignores it', () => {
    expect(parse('bpf: { process_entries: 1000 }').bpf).toEqual(parse('').bpf);
  });

  it('reads resources in their units', () => {
    const { resources } = parse(`
resources:
  forks_per_second: { limit: 2.5 }
  cpu_cores: { barrier: 0.5, limit: 1.5 }
  memory_bytes: { barrier: 512MiB, limit: 1GiB }
`);
    expect(resources.forks_per_second?.limit).toBe(2.5);
    expect(resources.cpu_cores).toMatchObject({ barrier: 0.5, limit: 1.5 });
    expect(resources.memory_bytes).toMatchObject({ barrier: 512 * 2 ** 20, limit: 2 ** 30 });
  });

  it('reads a full program', () => {
    const [p, w] = parse(`
groups: [{ name: batch, match: { cgroup: "/batch.slice/**" } }]
programs:
  - name: web
    command: [/usr/bin/web, --port, 8080]
    cwd: /srv/web
    env: { PORT: 8080, DEBUG: true, NAME: web }
    user: www-data
    group: 33
    restart: always
    success_exit_codes: [0, 3]
    backoff: { initial: 1s, factor: 1.5, max: 1m, reset_after: 5m }
    start_limit: { burst: 3, interval: 30s }
    retry_failed_after: 10m
    stop_signal: INT
    stop_timeout: 30s
    keep_running: true
  - name: batch-watch
    watch: batch
    restart_command: systemctl restart batch.service
`).programs;
    expect(p).toStrictEqual({
      name: 'web',
      command: ['/usr/bin/web', '--port', '8080'],
      cwd: '/srv/web',
      env: { PORT: '8080', DEBUG: 'true', NAME: 'web' },
      user: 'www-data',
      group: '33',
      restart: 'always',
      success_exit_codes: [0, 3],
      backoff: { initial_s: 1, factor: 1.5, max_s: 60, reset_after_s: 300 },
      start_limit: { burst: 3, interval_s: 30 },
      retry_failed_after_s: 600,
      stop_signal: 'SIGINT',
      stop_timeout_s: 30,
      keep_running: true,
      after: [],
    });
    expect(w.watch).toBe('batch');
    expect(w.restart_command).toStrictEqual(['systemctl', 'restart', 'batch.service']);
    expect(w.command).toBeUndefined();
  });

  it('reads health checks and after', () => {
    const [db, web, job] = parse(`
programs:
  - name: db
    command: /usr/bin/db
    health: { tcp: "127.0.0.1:5432", interval: 2s, timeout: 1s, start_period: 30s, failure_threshold: 5 }
  - name: web
    command: /usr/bin/web
    after: [db]
    health: { http: "http://127.0.0.1:8080/healthz" }
  - name: job
    command: /usr/bin/job
    after: web
    health: { exec: [/usr/bin/job, --check] }
`).programs;
    expect(db.health).toStrictEqual({
      probe: { tcp: { host: '127.0.0.1', port: 5432 } },
      interval_s: 2,
      timeout_s: 1,
      start_period_s: 30,
      failure_threshold: 5,
    });
    expect(web.health).toStrictEqual({
      probe: { http: 'http://127.0.0.1:8080/healthz' },
      interval_s: 10,
      timeout_s: 5,
      start_period_s: 0,
      failure_threshold: 3,
    });
    expect(web.after).toStrictEqual(['db']);
    expect(job.after).toStrictEqual(['web']);
    expect(job.health?.probe).toStrictEqual({ exec: ['/usr/bin/job', '--check'] });
    expect(db.after).toStrictEqual([]);
  });

  it('reads match fields', () => {
    const [rule] = parse(`
groups:
  - name: builds
    match: { cgroup_regex: "^/ci/", comm: "^(make|cc1)$", exe: /usr/bin/, uid: [1000, 1001] }
`).groups.rules;
    expect(rule.match.cgroup_regex?.source).toBe('^\\/ci\\/');
    expect(rule.match.cgroup_regex?.test('/ci/x')).toBe(true);
    expect(rule.match.comm?.test('cc1')).toBe(true);
    expect(rule.match.exe?.source).toBe('\\/usr\\/bin\\/');
    expect(rule.match.uid).toStrictEqual([1000, 1001]);
    expect(parse('groups: [{ name: root, match: { uid: 0 } }]').groups.rules[0].match.uid).toStrictEqual([0]);
  });

  it('accepts a rule spec with no thresholds (clears a default) and on_release with a timeout', () => {
    const [rule] = parse(`
resources: { tasks: { limit: 10 } }
groups:
  - name: build
    match: { cgroup: /build }
    resources: { tasks: null }
    on_release: { command: [rm, -rf, /tmp/build], timeout: 1m }
`).groups.rules;
    expect(rule.resources.tasks).toStrictEqual({ on_barrier: [], on_limit: [] });
    expect(rule.on_release).toStrictEqual({ command: ['rm', '-rf', '/tmp/build'], timeout_s: 60 });
  });

  it('accepts max 0 (no cap) in a backoff and 0 (off) in a start limit', () => {
    const [p] = parse('programs: [{ name: a, command: a, backoff: { initial: 5s, max: 0 }, start_limit: { burst: 0 } }]').programs;
    expect(p.backoff.max_s).toBe(0);
    expect(p.start_limit.burst).toBe(0);
  });
});

// Every class of mistake, with the whole line the user sees.
const errors: Array<[string, string, string]> = [
  // syntax
  ['YAML syntax', 'a: [1\n', `${FILE}:2:1: Flow sequence in block collection must be sufficiently indented and end with a ]; expected valid YAML`],
  ['duplicate key', 'listen: a:1\nlisten: b:2\n', `${FILE}:2:1: Map keys must be unique; expected valid YAML`],
  [
    'top level not a mapping',
    '- a\n- b\n',
    `${FILE}: (top level): a list is not a mapping; expected a mapping with keys listen, node_name, cgroup, bpf, groups, group_settings, resources, accounting, programs, program_logs, api, kubernetes, export`,
  ],

  // unknown keys, at every level
  [
    'unknown top-level key',
    'lisen: "127.0.0.1:1"',
    `${FILE}: (top level): unknown key "lisen"; expected one of listen, node_name, cgroup, bpf, groups, group_settings, resources, accounting, programs, program_logs, api, kubernetes, export`,
  ],
  [
    'unknown bpf key',
    'bpf: { ring_buffer: 8MiB }',
    `${FILE}: bpf: unknown key "ring_buffer"; expected one of ring_buffer_bytes, argv_max_bytes, cpu_accounting, flush_interval, counter_entries, process_entries, records_on_demand`,
  ],
  [
    'unknown group key',
    'groups: [{ name: a, match: { cgroup: /a }, limits: {} }]',
    `${FILE}: groups[0]: unknown key "limits"; expected one of name, match, resources, on_release`,
  ],
  [
    'unknown match key',
    'groups: [{ name: a, match: { path: /a } }]',
    `${FILE}: groups[0].match: unknown key "path"; expected one of cgroup, cgroup_regex, comm, exe, uid`,
  ],
  ['unknown spec key', 'resources: { tasks: { max: 5 } }', `${FILE}: resources.tasks: unknown key "max"; expected one of barrier, limit, on_barrier, on_limit`],
  [
    'unknown program key',
    'programs: [{ name: a, command: a, restrat: always }]',
    `${FILE}: programs[0]: unknown key "restrat"; expected one of name, command, cwd, env, user, group, watch, restart_command, restart, success_exit_codes, backoff, start_limit, retry_failed_after, stop_signal, stop_timeout, keep_running, after, health`,
  ],
  // health checks and order
  [
    'health without a check',
    'programs: [{ name: a, command: a, health: { interval: 5s } }]',
    `${FILE}: programs[0].health: no check; expected exactly one of exec (a command), http (a URL to GET) or tcp (host:port to connect to)`,
  ],
  [
    'health with two checks',
    'programs: [{ name: a, command: a, health: { exec: true, tcp: "127.0.0.1:80" } }]',
    `${FILE}: programs[0].health: exec and tcp together; expected exactly one of exec (a command), http (a URL to GET) or tcp (host:port to connect to)`,
  ],
  [
    'health http not a URL',
    'programs: [{ name: a, command: a, health: { http: "localhost:80" } }]',
    `${FILE}: programs[0].health.http: "localhost:80" is not an http URL; expected an http:// or https:// URL like http://127.0.0.1:8080/healthz`,
  ],
  [
    'health http with credentials',
    'programs: [{ name: a, command: a, health: { http: "http://u:p@h/" } }]',
    `${FILE}: programs[0].health.http: a URL with credentials; expected an http:// or https:// URL like http://127.0.0.1:8080/healthz, without user:password@`,
  ],
  [
    'health http port 0',
    'programs: [{ name: a, command: a, health: { http: "http://127.0.0.1:0/" } }]',
    `${FILE}: programs[0].health.http: "http://127.0.0.1:0/" has port 0; expected an http:// or https:// URL like http://127.0.0.1:8080/healthz, with a port from 1 to 65535`,
  ],
  [
    'health http of another scheme',
    'programs: [{ name: a, command: a, health: { http: "file:///etc/passwd" } }]',
    `${FILE}: programs[0].health.http: "file:///etc/passwd" is not an http URL; expected an http:// or https:// URL like http://127.0.0.1:8080/healthz`,
  ],
  [
    'health exec empty',
    'programs: [{ name: a, command: a, health: { exec: [] } }]',
    `${FILE}: programs[0].health.exec: a list is not a command; expected a list like [/usr/bin/prog, --flag] or a string split on spaces`,
  ],
  [
    'health tcp port out of range',
    'programs: [{ name: a, command: a, health: { tcp: "127.0.0.1:70000" } }]',
    `${FILE}: programs[0].health.tcp: "127.0.0.1:70000" is not host:port; expected host:port like 127.0.0.1:5432, localhost:5432 or [::1]:5432`,
  ],
  [
    'health tcp without port',
    'programs: [{ name: a, command: a, health: { tcp: "localhost" } }]',
    `${FILE}: programs[0].health.tcp: "localhost" is not host:port; expected host:port like 127.0.0.1:5432, localhost:5432 or [::1]:5432`,
  ],
  [
    'health threshold 0',
    'programs: [{ name: a, command: a, health: { tcp: "h:1", failure_threshold: 0 } }]',
    `${FILE}: programs[0].health.failure_threshold: 0 is below 1; expected a whole number >= 1`,
  ],
  [
    'health on a watch',
    'groups: [{name: g, match: {cgroup: /g}}]\nprograms: [{ name: a, watch: g, restart_command: x, health: { tcp: "h:1" } }]',
    `${FILE}: programs[0].health: given with watch; expected health only on a program with command (a watched group is not stopped by forkwatch)`,
  ],
  [
    'after an unknown program',
    'programs: [{ name: a, command: a }, { name: b, command: b, after: [c] }]',
    `${FILE}: programs[1].after[0]: no program named "c"; expected one of a`,
  ],
  [
    'after itself',
    'programs: [{ name: a, command: a, after: [a] }]',
    `${FILE}: programs[0].after[0]: "a" is the program itself; expected a list of other programs' names, like [db, cache]`,
  ],
  [
    'after in a cycle',
    'programs: [{ name: a, command: a, after: [c] }, { name: b, command: b, after: [a] }, { name: c, command: c, after: [b] }]',
    `${FILE}: programs[0].after: a cycle: a -> c -> b -> a; expected an order without cycles (a program cannot wait for itself)`,
  ],
  [
    'unknown backoff key',
    'programs: [{ name: a, command: a, backoff: { min: 1s } }]',
    `${FILE}: programs[0].backoff: unknown key "min"; expected one of initial, factor, max, reset_after`,
  ],
  [
    'unknown api key',
    'api: { token: x }',
    `${FILE}: api: unknown key "token"; expected one of socket, token_file, control_token_file, redact, subscriber_queue, subscriber_queue_bytes, max_subscribers`,
  ],
  [
    'one token file for reading and control',
    'api: { token_file: /etc/t, control_token_file: /etc/t }',
    `${FILE}: api.control_token_file: "/etc/t" is also api.token_file, so a reader could control; expected a file of its own`,
  ],
  ['unknown accounting.log key', 'accounting: { log: { file: /x } }', `${FILE}: accounting.log: unknown key "file"; expected one of path, max_bytes, keep`],
  [
    'unknown resource name',
    'resources: { procs: { limit: 5 } }',
    `${FILE}: resources: unknown key "procs"; expected one of tasks, threads, forks_per_second, cpu_cores, memory_bytes`,
  ],
  [
    'unknown resource name in a rule',
    'groups: [{ name: a, match: { cgroup: /a }, resources: { memory: { limit: 1GiB } } }]',
    `${FILE}: groups[0].resources: unknown key "memory"; expected one of tasks, threads, forks_per_second, cpu_cores, memory_bytes`,
  ],

  // wrong types
  ['boolean as string', 'bpf: { cpu_accounting: "yes" }', `${FILE}: bpf.cpu_accounting: "yes" is not a boolean; expected true or false`],
  [
    'records on demand as a word',
    'bpf: { records_on_demand: sometimes }',
    `${FILE}: bpf.records_on_demand: "sometimes" is not a boolean; expected true or false`,
  ],
  ['number as string', 'bpf: { counter_entries: lots }', `${FILE}: bpf.counter_entries: "lots" is not a whole number; expected a whole number >= 1`],
  ['retired key, still checked', 'bpf: { process_entries: 0 }', `${FILE}: bpf.process_entries: 0 is below 1; expected a whole number >= 1`],
  [
    'fraction where whole',
    'group_settings: { max_groups: 2.5 }',
    `${FILE}: group_settings.max_groups: 2.5 is not a whole number; expected a whole number >= 1`,
  ],
  [
    'section as a scalar',
    'bpf: 5',
    `${FILE}: bpf: 5 is not a mapping; expected a mapping with keys ring_buffer_bytes, argv_max_bytes, cpu_accounting, flush_interval, counter_entries, process_entries, records_on_demand`,
  ],
  [
    'groups as a mapping',
    'groups: { web: {} }',
    `${FILE}: groups: a mapping is not a list; expected a list of groups like [{name: web, match: {cgroup: /system.slice/nginx.service}}]`,
  ],
  ['node_name as a number', 'node_name: 5', `${FILE}: node_name: 5 is not a string; expected a non-empty string`],
  [
    'listen as a number',
    'listen: 10510',
    `${FILE}: listen: 10510 is not a string; expected "host:port" like 127.0.0.1:10510, 0.0.0.0:10510 or [::1]:10510 (port 1-65535)`,
  ],
  ['infinity', 'resources: { cpu_cores: { limit: .inf } }', `${FILE}: resources.cpu_cores.limit: Infinity is not a number; expected a number >= 0`],

  // negative numbers and other bounds
  ['negative count', 'resources: { tasks: { limit: -1 } }', `${FILE}: resources.tasks.limit: -1 is negative; expected a whole number >= 0`],
  [
    'negative rate',
    'resources: { forks_per_second: { barrier: -0.5 } }',
    `${FILE}: resources.forks_per_second.barrier: -0.5 is negative; expected a number >= 0`,
  ],
  [
    'negative duration',
    'group_settings: { evict_after: -5 }',
    `${FILE}: group_settings.evict_after: -5 is negative; expected a duration >= 0 (seconds as a number, or a string like 100ms, 5s, 2m, 1h, 1d)`,
  ],
  [
    'negative size',
    'accounting: { log: { path: /x, max_bytes: -1 } }',
    `${FILE}: accounting.log.max_bytes: -1 is negative; expected a size >= 4096 (bytes as a number, or a string like 4096, 64KiB, 8MiB, 1GiB)`,
  ],
  ['zero max_groups', 'group_settings: { max_groups: 0 }', `${FILE}: group_settings.max_groups: 0 is below 1; expected a whole number >= 1`],
  [
    'argv above the BPF buffer',
    'bpf: { argv_max_bytes: 32KiB }',
    `${FILE}: bpf.argv_max_bytes: "32KiB" is above 16384; expected a size from 0 to 16384 bytes (the BPF program's argv buffer)`,
  ],
  [
    'zero exec timeout',
    'resources: { tasks: { limit: 5, on_limit: [{ exec: [x], timeout: 0 }] } }',
    `${FILE}: resources.tasks.on_limit[0].timeout: 0 is zero; expected a duration above 0 (seconds as a number, or a string like 100ms, 5s, 2m, 1h, 1d)`,
  ],
  [
    'exit code out of range',
    'programs: [{ name: a, command: a, success_exit_codes: [0, 256] }]',
    `${FILE}: programs[0].success_exit_codes[1]: 256 is above 255; expected an exit code (0-255) or a list of them`,
  ],
  [
    'backoff factor below 1',
    'programs: [{ name: a, command: a, backoff: { factor: 0.5 } }]',
    `${FILE}: programs[0].backoff.factor: 0.5 is below 1; expected a number >= 1`,
  ],
  [
    'backoff initial above max',
    'programs: [{ name: a, command: a, backoff: { initial: 2m, max: 30s } }]',
    `${FILE}: programs[0].backoff: initial 120s is above max 30s; expected initial <= max, or max 0 for no cap`,
  ],
  [
    'start_limit burst negative',
    'programs: [{ name: a, command: a, start_limit: { burst: -1 } }]',
    `${FILE}: programs[0].start_limit.burst: -1 is negative; expected a whole number >= 0`,
  ],
  [
    'uid out of range',
    'groups: [{ name: a, match: { uid: -1 } }]',
    `${FILE}: groups[0].match.uid: -1 is negative; expected a numeric uid (0 to 4294967294) or a list of them`,
  ],

  // durations and sizes
  [
    'bad duration',
    'bpf: { flush_interval: 5 sec }',
    `${FILE}: bpf.flush_interval: "5 sec" is not a duration; expected a duration >= 0 (seconds as a number, or a string like 100ms, 5s, 2m, 1h, 1d)`,
  ],
  [
    'duration unit unknown',
    'accounting: { period: 1w }',
    `${FILE}: accounting.period: "1w" is not a duration; expected a duration above 0 (seconds as a number, or a string like 100ms, 5s, 2m, 1h, 1d)`,
  ],
  [
    'bad size',
    'bpf: { ring_buffer_bytes: 8M }',
    `${FILE}: bpf.ring_buffer_bytes: "8M" is not a size; expected a size >= 0 (bytes as a number, or a string like 4096, 64KiB, 8MiB, 1GiB)`,
  ],
  [
    'fractional bytes',
    'accounting: { log: { path: /x, max_bytes: 0.3KiB } }',
    `${FILE}: accounting.log.max_bytes: "0.3KiB" is not a whole number of bytes; expected a size >= 4096 (bytes as a number, or a string like 4096, 64KiB, 8MiB, 1GiB)`,
  ],
  [
    'ring buffer not a power of two',
    'bpf: { ring_buffer_bytes: 10MB }',
    `${FILE}: bpf.ring_buffer_bytes: 10000000 bytes is not a power of two >= 4096; expected a power of two of at least 4096 bytes, like 256KiB, 8MiB or 64MiB`,
  ],
  [
    'ring buffer too small',
    'bpf: { ring_buffer_bytes: 2048 }',
    `${FILE}: bpf.ring_buffer_bytes: 2048 bytes is not a power of two >= 4096; expected a power of two of at least 4096 bytes, like 256KiB, 8MiB or 64MiB`,
  ],

  // listen and hierarchy
  [
    'listen without port',
    'listen: localhost',
    `${FILE}: listen: invalid address "localhost"; expected "host:port" like 127.0.0.1:10510, 0.0.0.0:10510 or [::1]:10510 (port 1-65535)`,
  ],
  [
    'listen port out of range',
    'listen: "127.0.0.1:70000"',
    `${FILE}: listen: invalid address "127.0.0.1:70000"; expected "host:port" like 127.0.0.1:10510, 0.0.0.0:10510 or [::1]:10510 (port 1-65535)`,
  ],
  [
    'listen IPv6 without brackets',
    'listen: "::1:10510"',
    `${FILE}: listen: invalid address "::1:10510"; expected "host:port" like 127.0.0.1:10510, 0.0.0.0:10510 or [::1]:10510 (port 1-65535)`,
  ],
  [
    'listen bad IPv4',
    'listen: "300.1.1.1:80"',
    `${FILE}: listen: invalid address "300.1.1.1:80"; expected "host:port" like 127.0.0.1:10510, 0.0.0.0:10510 or [::1]:10510 (port 1-65535)`,
  ],
  [
    'listen without host',
    'listen: ":10510"',
    `${FILE}: listen: invalid address ":10510"; expected "host:port" like 127.0.0.1:10510, 0.0.0.0:10510 or [::1]:10510 (port 1-65535)`,
  ],
  [
    'unknown hierarchy',
    'cgroup: { hierarchy: v3 }',
    `${FILE}: cgroup.hierarchy: unknown hierarchy "v3"; expected v2, a cgroup v1 controller (blkio, cpu, cpuacct, cpuset, devices, freezer, hugetlb, memory, misc, net_cls, net_prio, perf_event, pids, rdma) or name=<hierarchy name>`,
  ],

  // groups
  [
    'invalid regex',
    'groups: [{ name: a, match: { cgroup: /a } }, { name: b, match: { cgroup: /b } }, { name: c, match: { comm: "([" } }]',
    `${FILE}: groups[2].match.comm: invalid regex "([": missing ]: [; expected ${PATTERN_EXPECTED}`,
  ],
  [
    'a regex with a backreference',
    'groups: [{ name: c, match: { exe: "(a)\\\\1" } }]',
    `${FILE}: groups[0].match.exe: invalid regex "(a)\\\\1": backreferences cannot run in linear time (invalid escape sequence: \\1); expected ${PATTERN_EXPECTED}`,
  ],
  [
    'a regex with lookahead',
    'api: { redact: ["--pw=(?!x)(.*)"] }',
    `${FILE}: api.redact[0]: invalid regex "--pw=(?!x)(.*)": lookahead and lookbehind cannot run in linear time (invalid perl operator: (?!); expected ${PATTERN_EXPECTED}`,
  ],
  [
    'a regex too long',
    `groups: [{ name: c, match: { comm: "${'a'.repeat(257)}" } }]`,
    `${FILE}: groups[0].match.comm: invalid regex "${'a'.repeat(55)}...": 257 characters is longer than 256; expected ${PATTERN_EXPECTED}`,
  ],
  [
    'a regex repeating too much',
    'groups: [{ name: c, match: { cgroup_regex: "^/x/[0-9a-f]{1000}$" } }]',
    `${FILE}: groups[0].match.cgroup_regex: invalid regex "^/x/[0-9a-f]{1000}$": the repetition {1000} is above {100}; expected ${PATTERN_EXPECTED}`,
  ],
  [
    'glob not absolute',
    'groups: [{ name: a, match: { cgroup: "*.service" } }]',
    `${FILE}: groups[0].match.cgroup: "*.service" does not start with /; expected a cgroup path glob starting with / (* within a segment, ** across)`,
  ],
  ['rule without name', 'groups: [{ match: { cgroup: /a } }]', `${FILE}: groups[0].name: missing; expected a name of letters, digits and _ . @ : -`],
  [
    'rule name with a space',
    'groups: [{ name: my web, match: { cgroup: /a } }]',
    `${FILE}: groups[0].name: "my web" is not a valid name; expected a name of letters, digits and _ . @ : -`,
  ],
  [
    'duplicate rule name',
    'groups: [{ name: a, match: { cgroup: /a } }, { name: a, match: { cgroup: /b } }]',
    `${FILE}: groups[1].name: "a" is already used by groups[0]; expected a unique name`,
  ],
  [
    'reserved rule name',
    'groups: [{ name: other, match: { cgroup: /a } }]',
    `${FILE}: groups[0].name: "other" is reserved for the groups beyond group_settings.max_groups; expected another name`,
  ],
  [
    'rule without match',
    'groups: [{ name: a }]',
    `${FILE}: groups[0].match: missing; expected a mapping with at least one of cgroup, cgroup_regex, comm, exe, uid`,
  ],
  [
    'rule with empty match',
    'groups: [{ name: a, match: {} }]',
    `${FILE}: groups[0].match: matches everything; expected at least one of cgroup, cgroup_regex, comm, exe, uid`,
  ],
  [
    'on_release not a command',
    'groups: [{ name: a, match: { cgroup: /a }, on_release: [] }]',
    `${FILE}: groups[0].on_release: a list is not a command; expected a list like [/usr/bin/prog, --flag] or a string split on spaces`,
  ],

  // resources and actions
  [
    'barrier above limit',
    'resources: { tasks: { barrier: 50, limit: 40 } }',
    `${FILE}: resources.tasks: barrier 50 is above limit 40; expected barrier <= limit`,
  ],
  [
    'barrier above limit, sizes in bytes',
    'resources: { memory_bytes: { barrier: 2GiB, limit: 1GiB } }',
    `${FILE}: resources.memory_bytes: barrier 2147483648 is above limit 1073741824; expected barrier <= limit`,
  ],
  [
    'kill on threads',
    'resources: { threads: { limit: 5, on_limit: [kill] } }',
    `${FILE}: resources.threads.on_limit[0]: kill is only for tasks, not threads; expected event, freeze or {exec: ...}`,
  ],
  [
    'unknown action',
    'resources: { tasks: { limit: 5, on_limit: [stop] } }',
    `${FILE}: resources.tasks.on_limit[0]: unknown action "stop"; expected event, kill, freeze, enforce or {exec: [command, args...], timeout: 10s}`,
  ],
  [
    'action of the wrong shape',
    'resources: { tasks: { limit: 5, on_limit: [[kill]] } }',
    `${FILE}: resources.tasks.on_limit[0]: a list is not an action; expected event, kill, freeze, enforce or {exec: [command, args...], timeout: 10s}`,
  ],
  [
    'enforce in the top-level resources',
    'resources: { tasks: { limit: 5, on_limit: [enforce] } }',
    `${FILE}: resources.tasks.on_limit[0]: enforce in the top-level resources would set limits on every cgroup of the host; expected enforce in a group's own resources`,
  ],
  [
    'enforce on a resource the kernel has no limit for',
    'groups: [{ name: a, match: { cgroup: /a }, resources: { threads: { limit: 5, on_limit: [enforce] } } }]',
    `${FILE}: groups[0].resources.threads.on_limit[0]: enforce has no kernel limit for threads on_limit; expected enforce under tasks.on_limit (pids.max), memory_bytes.on_limit (memory.max) or memory_bytes.on_barrier (memory.high)`,
  ],
  [
    'enforce on a tasks barrier',
    'groups: [{ name: a, match: { cgroup: /a }, resources: { tasks: { barrier: 5, on_barrier: [enforce] } } }]',
    `${FILE}: groups[0].resources.tasks.on_barrier[0]: enforce has no kernel limit for tasks on_barrier; expected enforce under tasks.on_limit (pids.max), memory_bytes.on_limit (memory.max) or memory_bytes.on_barrier (memory.high)`,
  ],
  [
    'enforce in a group that matches processes',
    'groups: [{ name: a, match: { comm: make }, resources: { tasks: { limit: 5, on_limit: [enforce] } } }]',
    `${FILE}: groups[0].resources.tasks.on_limit[0]: enforce needs a group of whole cgroups, and this group matches processes; expected event, kill or {exec: ...}`,
  ],
  [
    'exec without a command',
    'resources: { tasks: { limit: 5, on_limit: [{ timeout: 5s }] } }',
    `${FILE}: resources.tasks.on_limit[0]: no exec; expected {exec: [command, args...], timeout: 10s}`,
  ],
  [
    'actions without their threshold',
    'resources: { tasks: { limit: 5, on_barrier: [kill] } }',
    `${FILE}: resources.tasks.on_barrier: actions without a barrier; expected a barrier for them to act on`,
  ],
  [
    'freeze on cgroup v1',
    'cgroup: { hierarchy: cpuacct }\nresources: { tasks: { limit: 5, on_limit: [freeze] } }',
    `${FILE}: resources.tasks.on_limit[0]: freeze needs cgroup v2 (cgroup.freeze); expected event, kill or {exec: ...} with a v1 hierarchy`,
  ],
  [
    'freeze on a process rule',
    'groups: [{ name: a, match: { comm: make }, resources: { tasks: { limit: 5, on_limit: [freeze] } } }]',
    `${FILE}: groups[0].resources.tasks.on_limit[0]: freeze needs a group of whole cgroups, and this group matches processes; expected event, kill or {exec: ...}`,
  ],
  [
    'process rule inheriting freeze',
    'resources: { tasks: { limit: 5, on_limit: [freeze] } }\ngroups: [{ name: a, match: { uid: 1000 } }]',
    `${FILE}: groups[0].resources: inherits freeze from resources.tasks, but this group matches processes, not whole cgroups; expected its own tasks spec without freeze`,
  ],

  // programs
  [
    'program without command or watch',
    'programs: [{ name: a }]',
    `${FILE}: programs[0]: neither command nor watch; expected exactly one of command (a program to run) or watch (a group to watch)`,
  ],
  [
    'program with command and watch',
    'programs: [{ name: a, command: a, watch: /a }]',
    `${FILE}: programs[0]: both command and watch; expected exactly one of command (a program to run) or watch (a group to watch)`,
  ],
  [
    'restart_command without watch',
    'programs: [{ name: a, command: a, restart_command: b }]',
    `${FILE}: programs[0].restart_command: given without watch; expected restart_command only on a program that watches a group`,
  ],
  [
    'watch of an unknown group',
    'groups: [{ name: web, match: { cgroup: /web } }]\nprograms: [{ name: a, watch: db }]',
    `${FILE}: programs[0].watch: no group named "db"; expected a cgroup path starting with / or a group named under groups (web)`,
  ],
  [
    'duplicate program name',
    'programs: [{ name: a, command: a }, { name: b, command: b }, { name: a, command: c }]',
    `${FILE}: programs[2].name: "a" is already used by programs[0]; expected a unique name`,
  ],
  [
    'program name with a slash',
    'programs: [{ name: a/b, command: a }]',
    `${FILE}: programs[0].name: "a/b" is not a valid name; expected a name of letters, digits and _ . @ : -`,
  ],
  [
    'program name ..',
    'programs: [{ name: .., command: a }]',
    `${FILE}: programs[0].name: ".." is not a valid name; expected a name of letters, digits and _ . @ : -`,
  ],
  [
    'program name like a cgroup file',
    'programs: [{ name: cgroup.procs, command: a }]',
    `${FILE}: programs[0].name: "cgroup.procs" starts with "cgroup.", like the kernel's cgroup files; expected another name`,
  ],
  [
    'empty command',
    'programs: [{ name: a, command: "  " }]',
    `${FILE}: programs[0].command: "  " is not a command; expected a list like [/usr/bin/prog, --flag] or a string split on spaces`,
  ],
  [
    'unknown restart policy',
    'programs: [{ name: a, command: a, restart: no }]',
    `${FILE}: programs[0].restart: "no" is not accepted; expected one of always, on-failure, on-abnormal, never`,
  ],
  [
    'unknown signal',
    'programs: [{ name: a, command: a, stop_signal: SIGFOO }]',
    `${FILE}: programs[0].stop_signal: unknown signal "SIGFOO"; expected a signal name like SIGTERM, SIGINT or SIGQUIT`,
  ],
  ['relative cwd', 'programs: [{ name: a, command: a, cwd: srv }]', `${FILE}: programs[0].cwd: "srv" is relative; expected an absolute path`],
  [
    'bad env name',
    'programs: [{ name: a, command: a, env: { 1X: y } }]',
    `${FILE}: programs[0].env: invalid variable name "1X"; expected names of letters, digits and _, not starting with a digit`,
  ],
  [
    'env value a list',
    'programs: [{ name: a, command: a, env: { X: [1] } }]',
    `${FILE}: programs[0].env.X: a list is not a value; expected a string, number or boolean`,
  ],

  // accounting and api
  ['log without a path', 'accounting: { log: { keep: 2 } }', `${FILE}: accounting.log.path: missing; expected an absolute path for the accounting log`],
  [
    'zero period',
    'accounting: { period: 0 }',
    `${FILE}: accounting.period: 0 is zero; expected a duration above 0 (seconds as a number, or a string like 100ms, 5s, 2m, 1h, 1d)`,
  ],
  ['relative socket', 'api: { socket: api.sock }', `${FILE}: api.socket: "api.sock" is relative; expected an absolute path`],
];

describe('errors: one line, the key, what is wrong, what is accepted', () => {
  it.each(errors)('%s', (_title, text, message) => {
    expect(failure(text)).toBe(message);
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forkwatch-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file and names it as the source', () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, 'listen: "[::1]:10511"\n');
    const config = loadConfig(file, ENV);
    expect(config.source).toBe(file);
    expect(config.listen).toStrictEqual({ host: '::1', port: 10511 });
  });

  it('names the file in validation errors', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'lisen: x\n');
    expect(() => loadConfig(file, ENV)).toThrow(`${file}: (top level): unknown key "lisen"`);
  });

  it.each([
    ['/nonexistent/forkwatch.yaml', 'cannot read config /nonexistent/forkwatch.yaml: ENOENT: no such file or directory'],
    [tmpdir(), `cannot read config ${tmpdir()}: EISDIR: illegal operation on a directory`],
  ])('unreadable %s', (path, message) => {
    expect(() => loadConfig(path, ENV)).toThrow(new UsageError(message));
    try {
      loadConfig(path, ENV);
    } catch (err) {
      expect((err as Error).message).toBe(message);
      expect((err as UsageError).exitCode).toBe(2);
    }
  });
});

describe('docs/config.md', () => {
  // The reference's examples are configs users copy: they must load.
  const doc = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);

  it('has examples', () => {
    expect(blocks.length).toBeGreaterThan(0);
  });

  it.each(blocks.map((b, i) => [i, b] as const))('example %i is a valid config', (_i, block) => {
    expect(() => parseConfig(block, 'docs/config.md', ENV)).not.toThrow();
  });
});
