// A bare host for one build of forkwatch's BPF object, for bench/bpf-attrib.mjs: loads it with the
// agent's default options (thread records, CPU accounting), reads the ring and also drains it on a
// 2 ms timer (the WAKEUP knockout never wakes the reader), until SIGINT / SIGTERM. Prints
// `attached NAMES` once loaded and `records N lost N` when it stops.
//
// usage: node bench/lib/probe-host.mjs FW_ROOT [OBJECT]
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [root, objectPath] = process.argv.slice(2);
// The addon is loaded the one way the agent loads it: dist/host/binding.js, relative to that tree.
const { loadBinding } = await import(pathToFileURL(join(root, 'dist/host/binding.js')).href);
const binding = loadBinding();
const { decodeStats } = await import(pathToFileURL(join(root, 'dist/events/decode.js')).href);
const { probeOptions } = await import(pathToFileURL(join(root, 'dist/config/default.js')).href);

const probe = new binding.Probe({ ...probeOptions({ threadEvents: true, cpuAccounting: true }), objectPath: objectPath || undefined });
let records = 0;
probe.start((_buf, n) => {
  records += n;
});
const timer = setInterval(() => probe.drain(), 2);
process.stdout.write(`attached ${probe.attached.join(',')}\n`);

const stop = () => {
  clearInterval(timer);
  probe.drain();
  const lost = decodeStats(probe.stats()).lostTotal;
  probe.close();
  process.stdout.write(`records ${records} lost ${lost}\n`);
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
