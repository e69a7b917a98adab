// N subscribers of one agent's /events, in one process: `reader.mjs SOCKET MODE SPEC…`, where each
// SPEC is COUNT:QUERY (COUNT connections with that query string). MODE `count` counts events
// without parsing them (what a fast consumer costs the agent, not the reader); MODE `latency`
// parses each and records how long after the kernel's timestamp it reached this callback.
// Prints "ready" on stderr once every connection has its hello; on SIGUSR1 "count N" (events
// received or reported missed, all subscribers); on SIGUSR2 a JSON summary on stdout, and exits.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { timeKey } from '../../dist/tail/merge.js';

const [socketPath, mode, ...specs] = process.argv.slice(2);
const subs = [];
for (const spec of specs) {
  const at = spec.indexOf(':');
  const n = Number(spec.slice(0, at));
  for (let i = 0; i < n; i++) subs.push({ query: spec.slice(at + 1), events: 0, missed: 0, hello: false, first: 0, last: 0, lat: [] });
}
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;

for (const s of subs) {
  http.get({ socketPath, path: `/events?${s.query}` }, (res) => {
    if (res.statusCode !== 200) {
      process.stderr.write(`reader: /events?${s.query}: HTTP ${res.statusCode}\n`);
      process.exit(1);
    }
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (d) => {
      buf += d;
      let start = 0;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n', start)) {
        const line = buf.slice(start, nl);
        start = nl + 1;
        if (line.startsWith('{"type":"hello"')) {
          s.hello = true;
          if (subs.every((x) => x.hello)) process.stderr.write('ready\n');
          continue;
        }
        if (line.startsWith('{"type":"heartbeat"')) continue;
        if (line.startsWith('{"type":"missed"')) {
          s.missed += JSON.parse(line).count;
          continue;
        }
        const t = nowUs();
        if (!s.first) s.first = t;
        s.last = t;
        s.events++;
        if (mode === 'latency') s.lat.push(t - timeKey(JSON.parse(line).time));
      }
      buf = buf.slice(start);
    });
  });
}

// Progress, for the harness to tell when the stream has drained.
process.on('SIGUSR1', () => process.stderr.write(`count ${subs.reduce((a, s) => a + s.events + s.missed, 0)}\n`));

process.on('SIGUSR2', () => {
  const cpu = process.cpuUsage();
  process.stdout.write(
    JSON.stringify({
      subs: subs.map(({ query, events, missed, first, last }) => ({ query, events, missed, first, last })),
      latUs: subs.flatMap((s) => s.lat),
      cpuS: (cpu.user + cpu.system) / 1e6,
    }) + '\n',
    () => process.exit(0),
  );
});
