/** The hook thread (see hook-thread.ts): a HookRunner driven by messages from the agent. */
import { parentPort } from 'node:worker_threads';
import { HookRunner } from './hooks.js';
import type { FromWorker, ToWorker } from './hook-thread.js';

const port = parentPort;
if (port === null) throw new Error('hook-worker.js runs as a worker thread of the agent');
const send = (m: FromWorker) => port.postMessage(m);
const runner = new HookRunner({
  logger: {
    info: (msg) => send({ kind: 'log', level: 'info', msg }),
    warn: (msg) => send({ kind: 'log', level: 'warn', msg }),
  },
});

port.on('message', (m: ToWorker) => {
  if (m.kind === 'run') void runner.run(m.request).done.then((result) => send({ kind: 'done', id: m.id, result }));
  else void runner.close().then(() => send({ kind: 'closed' }));
});
