/**
 * The real health checks behind HealthMonitor: a command's exit status (run as the program's user,
 * in its cwd and env, outside its cgroup), an HTTP GET's status code, a TCP connect. Each gives up
 * after its timeout and answers null (passed) or one line saying why not; none rejects.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { HealthProbe } from '../config/types.js';
import { errnoText } from '../errors.js';
import { describeExit } from './policy.js';
import type { HealthProber, Launcher, LaunchSpec } from './types.js';

/** Status codes that pass an http check: 2xx and 3xx (redirects are not followed), as Kubernetes. */
export function httpStatusPasses(status: number): boolean {
  return status >= 200 && status < 400;
}

/** Runs checks for the supervisor; exec checks go through the launcher's runOnce. */
export class RealProber implements HealthProber {
  constructor(private readonly launcher: Pick<Launcher, 'runOnce'>) {}

  async check(spec: LaunchSpec, probe: HealthProbe, timeoutMs: number): Promise<string | null> {
    try {
      if ('exec' in probe) return await this.exec(spec, probe.exec, timeoutMs);
      if ('http' in probe) return await httpCheck(probe.http, timeoutMs);
      return await tcpCheck(probe.tcp.host, probe.tcp.port, timeoutMs);
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  private async exec(spec: LaunchSpec, argv: string[], timeoutMs: number): Promise<string | null> {
    const exit = await this.launcher.runOnce(spec, argv, timeoutMs, { quiet: true });
    if (exit.code === 0 && exit.signal === null && !exit.timedOut) return null;
    return `${JSON.stringify(argv[0])} ${describeExit(exit)}`;
  }
}

/** GET `url`; passes on 2xx/3xx. The body is read and dropped (never shown: it is the program's). */
function httpCheck(url: string, timeoutMs: number): Promise<string | null> {
  const get = url.startsWith('https:') ? https.get : http.get;
  return new Promise((resolve) => {
    const req = get(url, { agent: false, timeout: timeoutMs, headers: { 'user-agent': 'forkwatch-health' }, rejectUnauthorized: false }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(httpStatusPasses(status) ? null : `GET answered ${status}`);
      res.on('error', () => undefined);
    });
    req.on('timeout', () => req.destroy(new Error(`GET: no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve(err.message.startsWith('GET') ? err.message : `GET: ${errnoText(err)}`));
  });
}

/** Connect to host:port and close at once. */
function tcpCheck(host: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve(`connect: no answer within ${timeoutMs} ms`);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(null);
    });
    socket.once('error', (err) => resolve(`connect: ${errnoText(err)}`));
  });
}
