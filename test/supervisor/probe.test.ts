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

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/hang') return; // never answers
    res.statusCode = Number(req.url?.slice(1)) || 200;
    res.end('\x1b[31mbody\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
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
