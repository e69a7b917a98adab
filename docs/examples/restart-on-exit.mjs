#!/usr/bin/env node
// Restarts a process whenever it dies, from a running agent's event stream.
//
//   node restart-on-exit.mjs --from unix:/run/forkwatch/api.sock \
//     --cgroup /system.slice/worker.service --comm '^worker$' -- /usr/local/bin/worker --queue jobs
//
// It watches exits of processes whose command name matches --comm inside --cgroup (and below),
// and each time one dies it starts the command again in that cgroup. The process need not have
// been started by this script: anything the agent sees dying there is restarted. Exits that the
// agent saw while this script was disconnected are not known to it; it says so.
//
// Options:
//   --from URL          the agent: unix:/run/forkwatch/api.sock, or http://HOST:PORT with --token-file
//   --token-file FILE   bearer token for an agent reached over TCP
//   --cgroup PATH       the cgroup to watch, as the agent names it (path under the cgroup root)
//   --comm REGEX        command names to watch (the kernel's comm: at most 15 characters)
//   --max N             give up after N restarts within a minute (default 5)
//   --cgroup-root DIR   where cgroup v2 is mounted (default: found in /proc/self/mounts)
//
// In a Node program of your own, the same is a few lines:
//
//   import { watch } from 'forkwatch';
//   for await (const e of watch({ url, filter: { cgroup, comm, events: 'exit' } })) {
//     if (e.type === 'exit') restart();
//   }
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { watch } from 'forkwatch';

const dash = process.argv.indexOf('--');
const { values: o } = parseArgs({
  args: process.argv.slice(2, dash < 0 ? undefined : dash),
  options: {
    from: { type: 'string' },
    'token-file': { type: 'string' },
    cgroup: { type: 'string' },
    comm: { type: 'string' },
    max: { type: 'string', default: '5' },
    'cgroup-root': { type: 'string' },
  },
});
const command = dash < 0 ? [] : process.argv.slice(dash + 1);
if (!o.from || !o.cgroup || !o.comm || command.length === 0) {
  console.error('usage: restart-on-exit.mjs --from URL --cgroup PATH --comm REGEX [--token-file FILE] [--max N] -- COMMAND [ARG…]');
  process.exit(2);
}
const token = o['token-file'] ? fs.readFileSync(o['token-file'], 'utf8').trim() : undefined;
// cgroup v2 is at /sys/fs/cgroup on most hosts, /sys/fs/cgroup/unified on hybrid ones.
const v2 = o['cgroup-root'] ?? fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[2] === 'cgroup2')?.[1];
if (!v2) {
  console.error('restart-on-exit: no cgroup v2 mount found; give --cgroup-root');
  process.exit(2);
}
const procs = path.join(v2, o.cgroup, 'cgroup.procs');
const maxPerMinute = Number(o.max);
const restarts = [];

/** Starts the command inside the cgroup: the shell moves itself in, then becomes the command. */
function start() {
  const child = spawn('/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', procs, ...command], { stdio: 'inherit', detached: true });
  child.on('error', (err) => console.error(`restart-on-exit: cannot start ${command[0]}: ${err.message}`));
  child.unref(); // it outlives this script; the agent tells us when it dies
  return child.pid;
}

const abort = new AbortController();
process.once('SIGINT', () => abort.abort());
process.once('SIGTERM', () => abort.abort());

try {
  for await (const e of watch({ url: o.from, token, filter: { cgroup: o.cgroup, comm: o.comm, events: 'exit' }, signal: abort.signal })) {
    switch (e.type) {
      case 'hello':
        if (e.restarted) console.log(`restart-on-exit: the agent restarted; exits while it was down are unknown`);
        else if (e.skipped) console.log(`restart-on-exit: reconnected; up to ${e.skipped} events passed meanwhile`);
        else console.log(`restart-on-exit: watching ${o.cgroup} for exits of ${o.comm} (node ${e.node})`);
        break;
      case 'missed':
        console.log(`restart-on-exit: the agent dropped ${e.count} events for us: an exit may have been missed`);
        break;
      case 'disconnected':
        console.log(`restart-on-exit: lost the agent (${e.error}); reconnecting`);
        break;
      case 'exit': {
        if (e.thread) break; // a thread ended, not the process
        const now = Date.now();
        while (restarts.length && restarts[0] < now - 60_000) restarts.shift();
        if (restarts.length >= maxPerMinute) {
          console.error(`restart-on-exit: ${e.comm} died ${maxPerMinute} times within a minute; giving up`);
          process.exitCode = 1;
          abort.abort();
          break;
        }
        restarts.push(now);
        const how = e.signal ? `signal ${e.signal}` : `code ${e.exit_code}`;
        console.log(`restart-on-exit: ${e.comm} (pid ${e.pid}) exited with ${how}; started again as pid ${start()}`);
        break;
      }
    }
  }
} catch (err) {
  console.error(`restart-on-exit: ${err.message}`);
  process.exitCode = 1;
}
