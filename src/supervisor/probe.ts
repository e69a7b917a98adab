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

/** Response headers larger than this fail the check (Node's own default, said explicitly). */
export const HTTP_MAX_HEADER_BYTES = 16 * 1024;

/**
 * GET `url`; passes on 2xx/3xx. A redirect is never followed (to another host or at all): its
 * status is the answer. Only the status line and headers are read (at most HTTP_MAX_HEADER_BYTES);
 * the connection is closed as soon as they are in, so an endless or huge body costs nothing, and
 * the whole exchange, a server that trickles its headers too, ends at `timeoutMs`.
 */
function httpCheck(url: string, timeoutMs: number): Promise<string | null> {
  const get = url.startsWith('https:') ? https.get : http.get;
  return new Promise((resolve) => {
    let settled = false;
    const done = (answer: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      resolve(answer);
    };
    const options = { agent: false, maxHeaderSize: HTTP_MAX_HEADER_BYTES, headers: { 'user-agent': 'forkwatch-health' }, rejectUnauthorized: false };
    const req = get(url, options, (res) => {
      res.on('error', () => undefined);
      const status = res.statusCode ?? 0;
      done(httpStatusPasses(status) ? null : `GET answered ${status}`);
    });
    const deadline = setTimeout(() => done(`GET: no answer within ${timeoutMs} ms`), timeoutMs);
    req.on('error', (err) => done(`GET: ${errnoText(err)}`));
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
