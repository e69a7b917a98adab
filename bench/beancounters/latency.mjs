#!/usr/bin/env node
/**
 * Beancounter action latency: from the kernel's record of the fork that crosses a threshold to
 *   - the crossing event on the bus (what /events and the accounting log get),
 *   - the `exec` hook running (the hook prints CLOCK_BOOTTIME as its first act),
 *   - SIGKILL sent to a process above a `kill` limit (and, as the kernel saw it, the process gone).
 * Every time is on CLOCK_BOOTTIME, the clock of the kernel's records, so nothing is compared
 * across clocks.
 *
 * The agent runs in this process (the same Agent, BeancounterService, hook thread and cgroupfs
 * adapter as `forkwatch run`), so the bus and the kill can be timestamped where they happen.
 * Workload: bench/beancounters/cycler.c forks N children per cycle into a test cgroup, holds them,
 * kills them; the group's barrier (or limit) is crossed a few forks before each burst ends.
 *
 *   node bench/beancounters/latency.mjs [--cycles 300] [--flush-ms 2] [--json]
 *
 * Run as root from a built tree (`make ts`). Prints a Markdown table (--json: the raw numbers).
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createAgent } from '../../dist/agent/compose.js';
import { HostCgroupIO } from '../../dist/beancounters/cgroup-actions.js';
import { ThreadedHooks } from '../../dist/beancounters/hook-thread.js';
import { BeancounterService } from '../../dist/beancounters/service.js';
import { detectHierarchy } from '../../dist/host/cgroupfs.js';
import { parseConfig } from '../../dist/config/load.js';
import { EventType, Flags } from '../../dist/events/layout.js';
import { createLogger } from '../../dist/log.js';
import { loadBinding } from '../../dist/host/binding.js';
import { EventBus } from '../../dist/stream/bus.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    cycles: { type: 'string', default: '300' },
    'flush-ms': { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
  },
});
const CYCLES = Number(args.cycles);
const FLUSH_MS = Number(args['flush-ms']);
const BARRIER = 20; // crossed by the 20th child (bash-free: the cycler is task 1)
const EXTRA = 5; // forks after the crossing in each burst
// The hook run leaves each hook time to finish: hooks of one group and resource run one at a
// time, and a hook queued behind the last cycle's would measure the queue, not the start.
const HOOK_CYCLE = { hold: 50, idle: 150 };
const KILL_CYCLE = { hold: 20, idle: 20 };

if (process.getuid?.() !== 0) {
  console.error('latency.mjs: run as root (BPF programs, cgroups)');
  process.exit(1);
}

// ---- build the workload and the hook ------------------------------------------------------
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-bclat-'));
const cc = (name) => {
  const out = path.join(tmp, name);
  execFileSync('cc', ['-O2', '-o', out, path.join(HERE, `${name}.c`)]);
  return out;
};
const cycler = cc('cycler');
const bootnsHook = cc('bootns');

// ---- cgroups and config -------------------------------------------------------------------
const v2 = detectHierarchy('v2').mount;
const cgPath = (label) => `/fw-bclat-${process.pid}-${label}`;
const cgroups = { hook: cgPath('hook'), kill: cgPath('kill') };
for (const p of Object.values(cgroups)) fs.mkdirSync(path.join(v2, p));

const config = parseConfig(
  `
bpf: { flush_interval: ${FLUSH_MS}ms }
groups:
  - name: bench-hook
    match: { cgroup: "${cgroups.hook}" }
    resources:
      tasks:
        barrier: ${BARRIER}
        on_barrier:
          - exec: [${bootnsHook}]
  - name: bench-kill
    match: { cgroup: "${cgroups.kill}" }
    resources:
      tasks:
        limit: ${BARRIER}
        on_limit: [kill]
`,
  'latency.mjs',
);

// ---- the agent, instrumented --------------------------------------------------------------
const binding = loadBinding();
const bootNow = () => Number(binding.clocks()[1]);
const log = createLogger({ write: () => {} });
const agent = createAgent(config, log);
const ids = new Set(Object.values(cgroups).map((p) => fs.statSync(path.join(v2, p)).ino));

const forkTs = new Map(); // pid -> kernel ts of its fork record
const seenAt = new Map(); // pid -> when the agent's listeners got its fork record
const delivery = []; // fork record ts -> the agent's listeners see it
const published = []; // crossing fork -> event on the bus
const ownTime = []; // crossing fork seen by the agent -> event on the bus
const hookStart = []; // crossing fork -> hook running
const killSent = []; // fork of a process above the limit -> SIGKILL sent
const killDead = []; // ... -> its exit record (the kernel's view of "gone")
const killed = new Set();
const crossings = []; // fork ts of each barrier crossing, in order
const hookStarts = []; // CLOCK_BOOTTIME at which each barrier hook ran
let hookLines = 0;

// Runs before the service: the fork's kernel time is known when the service acts on it.
agent.addListener({
  onEvent(e) {
    if (!ids.has(e.cgroupId) || (e.flags & Flags.THREAD) !== 0) return;
    if (e.type === EventType.FORK) {
      const now = bootNow();
      forkTs.set(e.pid, e.ts);
      seenAt.set(e.pid, now);
      delivery.push(now - e.ts);
    } else if (e.type === EventType.EXIT && killed.has(e.pid)) {
      killDead.push(e.ts - forkTs.get(e.pid));
      killed.delete(e.pid);
      forkTs.delete(e.pid);
    }
  },
});

const bus = new EventBus();
const sub = bus.subscribe(
  (e) => e.type === 'barrier' && e.direction === 'up',
  () => {
    const now = bootNow();
    for (const e of sub.take().events) {
      const ts = forkTs.get(e.pid);
      if (ts === undefined) continue;
      published.push(now - ts);
      ownTime.push(now - seenAt.get(e.pid));
      crossings.push(ts);
    }
  },
);

const hooks = new ThreadedHooks({
  info(msg) {
    const m = /^hook bench-hook\/tasks barrier \[\d+\]: started (\d+)$/.exec(msg);
    if (!m) return;
    hookLines++;
    hookStarts.push(Number(m[1]));
  },
  warn: (msg) => console.error(`hook: ${msg}`),
});

const io = HostCgroupIO.detect();
const realKill = io.kill.bind(io);
io.kill = (pid) => {
  const ok = realKill(pid);
  const now = bootNow();
  const ts = forkTs.get(pid);
  if (ok && ts !== undefined) {
    killSent.push(now - ts);
    killed.add(pid);
  }
  return ok;
};

const service = new BeancounterService({ host: agent, config, bus, hooks, io, log });
agent.addListener(service);
agent.start();

// ---- run ------------------------------------------------------------------------------------
function runIn(cg, argv) {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', `echo $$ > ${path.join(v2, cg, 'cgroup.procs')} && exec "$@"`, 'sh', ...argv], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${argv[0]} exited ${code}`))));
  });
}

const load0 = os.loadavg()[0];
const t0 = Date.now();
try {
  await runIn(cgroups.hook, [cycler, String(CYCLES), String(BARRIER + EXTRA), String(HOOK_CYCLE.hold), String(HOOK_CYCLE.idle)]);
  await runIn(cgroups.kill, [cycler, String(CYCLES), String(BARRIER + EXTRA), String(KILL_CYCLE.hold), String(KILL_CYCLE.idle)]);
  await new Promise((r) => setTimeout(r, 500)); // the last hooks and exits
} finally {
  agent.close();
  await hooks.close();
  for (const p of Object.values(cgroups)) fs.rmdirSync(path.join(v2, p));
  fs.rmSync(tmp, { recursive: true, force: true });
}
const seconds = (Date.now() - t0) / 1000;

// A hook belongs to the last crossing before it started. Matching in order would shift every
// later pair by a cycle once one hook is coalesced (HookRunner keeps only the latest request of
// a busy key, and the fall back's `release` request can replace a barrier one still queued).
for (const start of hookStarts) {
  let lo = 0;
  let hi = crossings.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (crossings[mid] <= start) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (best >= 0) hookStart.push(start - crossings[best]);
}

// ---- report ---------------------------------------------------------------------------------
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const ms = (ns) => (ns / 1e6).toFixed(2);
const rows = [
  ['fork record -> agent sees it (every fork)', delivery],
  ['crossing fork -> event on the bus', published],
  ['  of which: agent has the record -> event on the bus', ownTime],
  ['crossing fork -> exec hook running', hookStart],
  ['fork above a kill limit -> SIGKILL sent', killSent],
  ['fork above a kill limit -> its exit record', killDead],
];
const result = {
  cycles: CYCLES,
  flush_ms: FLUSH_MS,
  kernel: os.release(),
  cpus: os.cpus().length,
  loadavg_1m: { start: load0, end: os.loadavg()[0] },
  seconds,
  hook_lines: hookLines,
  series: Object.fromEntries(rows.map(([name, xs]) => [name, { n: xs.length, p50_ms: pct(xs, 50) / 1e6, p99_ms: pct(xs, 99) / 1e6, max_ms: pct(xs, 100) / 1e6 }])),
};
if (args.json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  console.log(`${CYCLES} cycles per run (${hookLines} barrier hooks reported), flush_interval ${FLUSH_MS} ms, kernel ${os.release()}, ${os.cpus().length} CPUs, load ${load0.toFixed(2)} -> ${os.loadavg()[0].toFixed(2)}, ${seconds.toFixed(1)} s`);
  console.log('');
  console.log('| from -> to | n | p50 ms | p99 ms | max ms |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, xs] of rows) console.log(`| ${name} | ${xs.length} | ${ms(pct(xs, 50))} | ${ms(pct(xs, 99))} | ${ms(pct(xs, 100))} |`);
}
