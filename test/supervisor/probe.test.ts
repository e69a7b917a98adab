/** The real health checks against real local servers and commands. */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgroupLauncher } from '../../src/supervisor/launcher.js';
import { RealProber } from '../../src/supervisor/probe.js';
import { freePort } from '../helpers/net.js';
import { captureLogger } from './fakes.js';

const logger = captureLogger();
const prober = new RealProber(new CgroupLauncher({ logger, mountPoint: '/nonexistent', native: null, pidfd: null }));
const spec = { name: 'p', env: {} };
let server: http.Server;
let port = 0;
/** Another host (127.0.0.2 is loopback too) that a redirect points to: it must never be asked. */
let other: http.Server;
let otherPort = 0;
let otherAsked = 0;
/** When the endless body's response was closed by the client. */
let endlessClosed: Promise<void> = Promise.resolve();

function listen(s: http.Server, host: string): Promise<number> {
  return new Promise((resolve) => s.listen(0, host, () => resolve((s.address() as net.AddressInfo).port)));
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/hang') return; // never answers
    if (req.url === '/elsewhere') {
      res.writeHead(302, { location: `http://127.0.0.2:${otherPort}/` }).end();
      return;
    }
    if (req.url === '/endless') {
      // A body that never ends: 64 KiB chunks for as long as anyone reads.
      endlessClosed = new Promise((resolve) => res.on('close', resolve));
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
      return;
    }
    if (req.url === '/trickle') {
      // The status line and then one header byte a while: the check must still end at its timeout.
      res.socket?.write('HTTP/1.1 200 OK\r\nX-Slow: ');
      const t = setInterval(() => res.socket?.write('a'), 50);
      res.on('close', () => clearInterval(t));
      return;
    }
    if (req.url === '/big-headers') {
      res.writeHead(200, { 'x-big': 'y'.repeat(64 * 1024) }).end();
      return;
    }
    res.statusCode = Number(req.url?.slice(1)) || 200;
    res.end('\x1b[31mbody\n');
  });
  other = http.createServer((_req, res) => {
    otherAsked += 1;
    res.end();
  });
  port = await listen(server, '127.0.0.1');
  otherPort = await listen(other, '127.0.0.2');
});
afterAll(() => {
  for (const s of [server, other]) {
    s.closeAllConnections();
    s.close();
  }
});

describe('RealProber', () => {
  it.each([
    ['200', null],
    ['204', null],
    ['302', null],
    ['404', 'GET answered 404'],
    ['500', 'GET answered 500'],
  ])('http status %s', async (status, expected) => {
    expect(await prober.check(spec, { http: `http://127.0.0.1:${port}/${status}` }, 1000)).toBe(expected);
  });

  it('http that never answers gives up at the timeout', async () => {
    const t0 = Date.now();
    expect(await prober.check(spec, { http: `http://127.0.0.1:${port}/hang` }, 200)).toBe('GET: no answer within 200 ms');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('http never follows a redirect: its 3xx is the answer, the other host is never asked', async () => {
    expect(await prober.check(spec, { http: `http://127.0.0.1:${port}/elsewhere` }, 1000)).toBeNull();
    expect(otherAsked).toBe(0);
  });

  it('http reads the headers only: an endless body is cut off at once', async () => {
    const t0 = Date.now();
    expect(await prober.check(spec, { http: `http://127.0.0.1:${port}/endless` }, 5000)).toBeNull();
    await endlessClosed;
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('http headers that trickle in end at the timeout; headers past 16 KiB fail', async () => {
    const t0 = Date.now();
    expect(await prober.check(spec, { http: `http://127.0.0.1:${port}/trickle` }, 300)).toBe('GET: no answer within 300 ms');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await prober.check(spec, { http: `http://127.0.0.1:${port}/big-headers` }, 1000)).toMatch(/^GET: HPE_HEADER_OVERFLOW/);
  });

  it('http and tcp to a closed port: refused', async () => {
    const closed = await freePort();
    expect(await prober.check(spec, { http: `http://127.0.0.1:${closed}/` }, 1000)).toMatch(/^GET: ECONNREFUSED/);
    expect(await prober.check(spec, { tcp: { host: '127.0.0.1', port: closed } }, 1000)).toMatch(/^connect: ECONNREFUSED/);
  });

  it('tcp to a listening port passes', async () => {
    expect(await prober.check(spec, { tcp: { host: '127.0.0.1', port } }, 1000)).toBeNull();
  });

  it('exec: exit 0 passes, anything else says how it ended, its output is not logged', async () => {
    expect(await prober.check(spec, { exec: ['sh', '-c', 'echo hello; exit 0'] }, 2000)).toBeNull();
    expect(await prober.check(spec, { exec: ['sh', '-c', 'exit 4'] }, 2000)).toBe('"sh" exit code 4');
    expect(await prober.check(spec, { exec: ['sleep', '10'] }, 200)).toBe('"sleep" timed out (killed by SIGKILL)');
    expect(await prober.check(spec, { exec: ['/nonexistent/check'] }, 2000)).toMatch(/nonexistent/);
    expect(logger.lines.join('\n')).not.toContain('hello');
  });
});
