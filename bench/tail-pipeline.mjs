#!/usr/bin/env node
// Micro-benchmark: user-space CPU per event of the local tail's pipeline with no kernel and no
// wake-ups: ring bytes -> decode -> process table -> line -> one write per batch to stdout, on
// generated fork+exit batches (the records fw-forkexit makes), through the real session
// (src/tail/session.ts) and stdout writer (src/cli/io.ts). Beside bench/tail-cpu.mjs (the whole
// process on a real loop) it tells the per-event cost from the per-wake-up cost.
//
// usage: node bench/tail-pipeline.mjs [--text] > /dev/null     (after `make`; the result on stderr)
//        env: BENCH_BATCH (events per batch, 200), BENCH_SECONDS (3)
import { decodeBatch } from '../dist/events/decode.js';
import { WallClock } from '../dist/events/clock.js';
import { EventType, HDR, LAYOUT } from '../dist/events/layout.js';
import { parseFilter } from '../dist/events/filter.js';
import { ProcessTable } from '../dist/process/table.js';
import { runTail } from '../dist/tail/session.js';
import { stdoutWriter } from '../dist/cli/io.js';

const json = !process.argv.includes('--text');
const PER = Number(process.env.BENCH_BATCH ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
if (!Number.isInteger(PER) || PER < 2 || !(SECONDS > 0)) {
  console.error('tail-pipeline: BENCH_BATCH must be an integer of at least 2, BENCH_SECONDS above 0');
  process.exit(2);
}

/** A record of `size` bytes with the header fw-forkexit's child gives it. */
function record(type, size, pid, ts) {
  const b = Buffer.alloc(size);
  b.writeUInt16LE(type, HDR.type[0]);
  b.writeUInt16LE(size, HDR.size[0]);
  b.writeBigUInt64LE(BigInt(ts), HDR.ts_ns[0]);
  b.writeBigUInt64LE(4_294_967_337n, HDR.cgroup_id[0]); // a real cgroup id is above 2^32
  b.writeBigUInt64LE(BigInt(ts - 20_000), HDR.start_ns[0]);
  for (const f of ['pid', 'tid', 'ns_pid']) b.writeUInt32LE(pid, HDR[f][0]);
  b.writeUInt32LE(999, HDR.ppid[0]);
  b.write('fw-forkexit', HDR.comm[0], 'latin1');
  return b;
}

let pid = 100_000;
let ts = 5e12;
function batch() {
  const parts = [];
  for (let i = 0; i < PER / 2; i++) {
    pid = pid >= 4_000_000 ? 100_000 : pid + 1;
    parts.push(record(EventType.FORK, LAYOUT.fw_fork_event.size, pid, (ts += 20_000)));
    const exit = record(EventType.EXIT, LAYOUT.fw_exit_event.size, pid, (ts += 20_000));
    exit.writeBigUInt64LE(300_000n, LAYOUT.fw_exit_event.fields.cpu_ns[0]);
    parts.push(exit);
  }
  return Buffer.concat(parts);
}
const batches = Array.from({ length: 64 }, batch);

let onBatch;
let stop;
const source = {
  attached: ['handle_fork'],
  clock: new WallClock(() => [1_764_000_000_000_000_000n, 0n]),
  names: { path: () => '/user.slice/user-0.slice/session-1.scope' },
  start: (cb) => (onBatch = cb),
  drain: () => 0,
  stats: () => ({ lostTotal: 0 }),
  close: () => {},
};
const io = { out: stdoutWriter(), whenDrained: (ready) => process.stdout.once('drain', ready), err: () => {}, onInterrupt: (s) => ((stop = s), () => {}) };
const done = runTail(source, new ProcessTable(), { filter: parseFilter({}), json }, io);
const deliver = (buf) => {
  const events = [];
  decodeBatch(buf, (e) => events.push(e));
  onBatch(events);
};

for (let i = 0; i < 2000; i++) deliver(batches[i % batches.length]); // warm up: the JIT settles
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let n = 0;
for (let i = 0; performance.now() - t0 < SECONDS * 1000; i++) {
  deliver(batches[i % batches.length]);
  n += PER;
}
const cpu = process.cpuUsage(cpu0);
stop();
await done;
const us = (cpu.user + cpu.system) / n;
process.stderr.write(
  `tail pipeline (${json ? '--json' : 'text'}), ${PER} events a batch: ${n.toLocaleString('en')} events, ${us.toFixed(3)} µs CPU/event (user ${(cpu.user / n).toFixed(3)}, system ${(cpu.system / n).toFixed(3)}); node ${process.version}\n`,
);
