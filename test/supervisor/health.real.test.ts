/**
 * Issue 15, supervision: the built agent checking real programs' health and ordering their starts,
 * as root, in real cgroups. A program that stops answering its HTTP check is restarted within
 * interval × failure_threshold (+ the check's timeout and the restart itself); `after:` holds
 * when the dependency crashes and comes back; stopping goes in reverse order.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectCgroup2Mount } from '../../src/host/cgroupfs.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot } from '../helpers/cgroup.js';
import { freePort } from '../helpers/net.js';
import { TestPrometheus } from '../helpers/prometheus.js';
import { stopAgent } from '../helpers/agent.js';
import { programsYaml, readEvents, status, waitStatus, type EventReader } from './agent-helpers.js';
import { destroyTree, waitFor } from './cgroup-helpers.js';

const PREFIX = `t${process.pid}h`;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-health-'));
const names = new Set<string>();
let mount = '';

/**
 * An HTTP server that appends "<pid> <ms>" to its stamp file when it starts and answers every
 * request, except while the hang file holds its own pid: then it reads requests and never answers.
 */
const SERVER = `
const http = require('http'), fs = require('fs');
const [port, hang, stamps] = process.argv.slice(2);
http.createServer((req, res) => {
  let h = '';
  try { h = fs.readFileSync(hang, 'utf8').trim(); } catch {}
  if (h === String(process.pid)) return;
  res.end('ok');
}).listen(Number(port), '127.0.0.1', () => fs.appendFileSync(stamps, process.pid + ' ' + Date.now() + '\\n'));
`;

/**
 * A client of that server: at start it writes "ok" or "FAIL" (could it reach the server?) with its
 * pid and time; it exits 3 on FAIL, and exits 1 once the server stops answering.
 */
const CLIENT = `
const fs = require('fs');
const [url, stamps] = process.argv.slice(2);
const up = () => fetch(url, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
up().then((ok) => {
  fs.appendFileSync(stamps, (ok ? 'ok' : 'FAIL') + ' ' + process.pid + ' ' + Date.now() + '\\n');
  if (!ok) process.exit(3);
  setInterval(() => up().then((still) => still || process.exit(1)), 100);
});
`;

const serverJs = path.join(scratch, 'server.js');
const clientJs = path.join(scratch, 'client.js');

beforeAll(() => {
  requireRoot();
  mount = detectCgroup2Mount();
  fs.writeFileSync(serverJs, SERVER);
  fs.writeFileSync(clientJs, CLIENT);
});

afterAll(async () => {
  for (const n of names) await destroyTree(path.join(mount, '/forkwatch.programs', n));
  fs.rmSync(scratch, { recursive: true, force: true });
});

function name(label: string): string {
  const n = `${PREFIX}-${label}`;
  names.add(n);
  return n;
}

/** Lines a program appended to a file, split into words. */
function lines(file: string): string[][] {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' '));
  } catch {
    return [];
  }
}

describe('health checks', () => {
  let agent: TestAgent | undefined;
  let prom: TestPrometheus | undefined;
  let events: EventReader | undefined;
  afterAll(async () => {
    events?.close();
    await prom?.stop();
    await stopAgent(agent);
  });

  it('a program that stops answering its HTTP check is unhealthy, stopped and restarted within interval × threshold', async () => {
    const web = name('web');
    const port = await freePort();
    const hang = path.join(scratch, 'web.hang');
    const stamps = path.join(scratch, 'web.stamps');
    const check = { interval_s: 0.5, timeout_s: 0.25, failure_threshold: 3 };
    agent = await TestAgent.start(
      programsYaml([
        {
          name: web,
          command: [process.execPath, serverJs, String(port), hang, stamps],
          restart: 'on-failure',
          backoff: { initial: 0.1 },
          health: {
            http: `http://127.0.0.1:${port}/healthz`,
            interval: check.interval_s,
            timeout: check.timeout_s,
            start_period: '5s',
            failure_threshold: check.failure_threshold,
          },
        },
      ]),
    );
    events = readEvents(agent.socket, 'health,restart');
    prom = await TestPrometheus.start([`127.0.0.1:${agent.port}`]);
    const first = await waitStatus(agent.socket, web, (s) => s.health === 'healthy', 'healthy');
    expect(first).toMatchObject({ state: 'running', restarts: 0 });
    await prom.waitFor(`forkwatch_program_healthy{program="${web}"}`, (v) => v === 1);

    // The server stops answering (its process lives on): only the check can tell.
    const pid1 = Number(lines(stamps)[0][0]);
    const hungAt = Date.now();
    fs.writeFileSync(hang, String(pid1));
    await waitFor('a second start', () => lines(stamps).length >= 2, 15_000);
    const restartedAt = Number(lines(stamps)[1][1]);
    // Detection: the first check after the hang begins within one interval, the threshold-th fails
    // (threshold - 1) intervals later at its timeout; then SIGTERM, 0.1 s backoff and the spawn,
    // which with the test suite's files in parallel on 2 CPUs took up to ~2 s (1 s was exceeded).
    const bound = check.interval_s * check.failure_threshold * 1000 + check.timeout_s * 1000 + 2500;
    expect(restartedAt - hungAt, `restarted ${restartedAt - hungAt} ms after the hang (bound ${bound} ms)`).toBeLessThan(bound);
    expect(restartedAt - hungAt).toBeGreaterThanOrEqual((check.failure_threshold - 1) * check.interval_s * 1000);

    const after = await waitStatus(agent.socket, web, (s) => s.health === 'healthy' && s.restarts === 1, 'healthy again after one restart');
    expect(after.last_exit).toMatchObject({ unhealthy: true, signal: 'SIGTERM' });
    expect(after.pid).not.toBe(pid1);
    // The way there, as the log and the stream tell it.
    await agent.proc.logged(new RegExp(`program "${web}": running -> unhealthy \\(3 consecutive failed check\\(s\\), last: no answer within 0.25s\\)`));
    await agent.proc.logged(new RegExp(`program "${web}": unhealthy -> backoff`));
    // The status is the agent's at once; its events reach this reader a moment later. Failed
    // checks below the threshold are 'healthy' events too, so wait for the new run's own pass.
    await waitFor('the restarted run passing its check, in the stream', () => {
      const seen = events!.events.filter((e) => e.program === web);
      const restart = seen.findIndex((e) => e.type === 'restart');
      return restart >= 0 && seen.slice(restart + 1).some((e) => e.type === 'health' && e.health === 'healthy' && e.failures === 0);
    });
    const mine = events.events.filter((e) => e.program === web);
    // The first run's first pass may come before or after the stream connected: the story starts at the hang.
    const story = mine
      .map((e) => (e.type === 'health' ? `${String(e.health)}:${String(e.failures)}` : `restart:${String(e.reason)}`))
      .filter((line, i) => !(i === 0 && line === 'healthy:0'));
    expect(story).toEqual(['healthy:1', 'healthy:2', 'unhealthy:3', 'restart:policy', 'healthy:0']);
    const unhealthy = mine.find((e) => e.health === 'unhealthy');
    expect(unhealthy).toMatchObject({ type: 'health', detail: 'no answer within 0.25s' });
    expect(typeof unhealthy?.node).toBe('string');
    expect(await status(agent.socket, web)).toMatchObject({ state: 'running', health: 'healthy' });
    await prom.waitFor(`forkwatch_program_restarts_total{program="${web}"}`, (v) => v === 1);
    // 0 is possible in a scrape between the restart and the new run's first check.
    await prom.waitFor(`forkwatch_program_healthy{program="${web}"}`, (v) => v === 1);
  }, 60_000);
});

describe('after: order', () => {
  let agent: TestAgent | undefined;
  afterAll(async () => {
    await stopAgent(agent);
  });

  it('starts the dependent once its dependency is healthy, also when the dependency crashes and comes back; stops in reverse', async () => {
    const db = name('db');
    const app = name('app');
    const port = await freePort();
    const dbStamps = path.join(scratch, 'db.stamps');
    const appStamps = path.join(scratch, 'app.stamps');
    const url = `http://127.0.0.1:${port}/`;
    agent = await TestAgent.start(
      programsYaml([
        // Listed first, so config order would start it first; and it restarts fast, the db slowly.
        { name: app, command: [process.execPath, clientJs, url, appStamps], after: [db], backoff: { initial: 0.05 }, start_limit: { burst: 0 } },
        {
          name: db,
          command: [process.execPath, serverJs, String(port), path.join(scratch, 'db.hang'), dbStamps],
          backoff: { initial: 1.5 },
          health: { http: url, interval: 0.2, timeout: 0.2, start_period: '10s' },
        },
      ]),
    );
    await waitFor('the app to start', () => lines(appStamps).length >= 1, 15_000);
    expect(lines(appStamps)[0][0]).toBe('ok');
    expect(Number(lines(appStamps)[0][2])).toBeGreaterThanOrEqual(Number(lines(dbStamps)[0][1]));

    // The dependency crashes; the app loses it and exits, and its 0.05 s backoff passes long
    // before the db's 1.5 s: the app must wait for the db to be running and healthy again.
    const dbPid = Number(lines(dbStamps)[0][0]);
    process.kill(dbPid, 'SIGKILL');
    await waitFor('the app to start again', () => lines(appStamps).length >= 2, 15_000);
    expect(lines(dbStamps)).toHaveLength(2);
    const appAgain = lines(appStamps)[1];
    expect(appAgain[0], JSON.stringify(lines(appStamps))).toBe('ok');
    expect(Number(appAgain[2])).toBeGreaterThanOrEqual(Number(lines(dbStamps)[1][1]));
    expect(lines(appStamps).filter((l) => l[0] === 'FAIL')).toEqual([]);
    const appStatus = await waitStatus(agent.socket, app, (s) => s.state === 'running', 'the app running');
    expect(appStatus.restarts).toBe(1);

    // Stopping: the app before the db it depends on.
    const stderrOf = agent.proc;
    await stopAgent(agent);
    agent = undefined;
    const stopped = [...stderrOf.stderr.matchAll(/program "([^"]+)" stopped \(/g)].map((m) => m[1]).filter((n) => n === app || n === db);
    expect(stopped).toEqual([app, db]);
  }, 60_000);
});
