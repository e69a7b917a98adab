#!/usr/bin/env node
// Micro-benchmark: user-space cost of ring buffer bytes -> decoded events, on recorded kernel
// records (test/fixtures/pipeline.bin) repeated into 1 MiB batches, as the addon hands them over.
// Prints events/s and ns per event for decode alone, and for decode + the public JSON model.
// Usage: node bench/decode.mjs [seconds per measure, default 3]   (after `make`)
import fs from 'node:fs';
import { decodeBatch } from '../dist/events/decode.js';
import { toProcessEvent } from '../dist/events/model.js';
import { isoMicros } from '../dist/events/clock.js';

const seconds = Number(process.argv[2] ?? 3);
const fixture = fs.readFileSync(new URL('../test/fixtures/pipeline.bin', import.meta.url));
const copies = Math.ceil((1 << 20) / fixture.length);
const batch = Buffer.concat(Array.from({ length: copies }, () => fixture));
let perBatch = 0;
decodeBatch(batch, () => perBatch++);

function measure(name, sink) {
  // Warm up, then run whole batches until the time is up.
  for (let i = 0; i < 20; i++) decodeBatch(batch, sink);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let events = 0;
  while (Number(process.hrtime.bigint() - t0) < seconds * 1e9) events += decodeBatch(batch, sink);
  const cpu = process.cpuUsage(cpu0);
  const cpuNs = (cpu.user + cpu.system) * 1000;
  return { name, events, perSecond: Math.round(events / (cpuNs / 1e9)), nsPerEvent: cpuNs / events };
}

let sinkCount = 0;
const ctx = { iso: (ns) => isoMicros(ns + 1.7e18), cgroupPath: () => '/forkwatch-fixture' };
const rows = [
  measure('decode (RawEvent objects)', () => sinkCount++),
  measure('decode + public event model', (e) => {
    if (toProcessEvent(e, ctx)) sinkCount++;
  }),
  measure('decode + model + JSON line', (e) => {
    const p = toProcessEvent(e, ctx);
    if (p) sinkCount += JSON.stringify(p).length > 0 ? 1 : 0;
  }),
];
console.log(`| stage | events decoded | events/s (CPU time) | ns per event |`);
console.log(`|---|---:|---:|---:|`);
for (const r of rows) console.log(`| ${r.name} | ${r.events.toLocaleString('en')} | ${r.perSecond.toLocaleString('en')} | ${r.nsPerEvent.toFixed(0)} |`);
console.log(`\n${perBatch} records per 1 MiB batch (${fixture.length}-byte fixture x ${copies}); node ${process.version}.`);
