/** Where a client finds the agent (src/client/target.ts): flags first, then the config's defaults. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listenUrl, parseAgentUrl, resolveTarget, type AgentTarget } from '../../src/client/target.js';
import { DEFAULTS } from '../../src/config/default.js';
import { UsageError } from '../../src/errors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-target-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const where = (t: AgentTarget) => (t.kind === 'unix' ? `unix:${t.socketPath}` : t.url.toString());

describe('parseAgentUrl', () => {
  it.each([
    ['http://127.0.0.1:10510', 'tcp', 'http://127.0.0.1:10510/', 'http://127.0.0.1:10510'],
    ['http://127.0.0.1:10510/', 'tcp', 'http://127.0.0.1:10510/', 'http://127.0.0.1:10510'],
    ['https://agent.example:443/prefix', 'tcp', 'https://agent.example/prefix', 'https://agent.example:443/prefix'],
    ['http://[::1]:10510', 'tcp', 'http://[::1]:10510/', 'http://[::1]:10510'],
    ['unix:/run/forkwatch/api.sock', 'unix', 'unix:/run/forkwatch/api.sock', 'unix:/run/forkwatch/api.sock'],
  ])('%s', (url, kind, resolved, label) => {
    const t = parseAgentUrl(url);
    expect(t.kind).toBe(kind);
    expect(where(t)).toBe(resolved);
    expect(t.label).toBe(label);
    expect(t.token).toBeUndefined();
  });

  it.each([
    ['ftp://host:1', 'expected http://HOST:PORT, https://HOST:PORT or unix:/path/to/api.sock'],
    ['127.0.0.1:10510', 'expected http://HOST:PORT'],
    ['not a url', 'expected http://HOST:PORT'],
    ['unix:relative.sock', 'a unix socket needs an absolute path'],
    ['http://user:secret@host:1', 'credentials in the URL are not sent; use --token-file'],
  ])('%s is refused in one line naming the flag', (url, msg) => {
    let err: unknown;
    try {
      parseAgentUrl(url, `--url ${JSON.stringify(url)}`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message.startsWith(`--url ${JSON.stringify(url)}: `)).toBe(true);
    expect((err as Error).message).toContain(msg);
  });
});

describe('resolveTarget', () => {
  const config = (yaml: string): string => {
    const p = path.join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(p, yaml);
    return p;
  };

  it('without flags: the default listen address for reads, the default socket for control', () => {
    expect(where(resolveTarget({}, 'listen'))).toBe(`http://${DEFAULTS.listen.host}:${DEFAULTS.listen.port}/`);
    const s = resolveTarget({}, 'socket');
    expect(s).toEqual({ kind: 'unix', socketPath: DEFAULTS.api.socket, label: `unix:${DEFAULTS.api.socket}` });
  });

  it("from --config: the agent's listen address (a wildcard means this host) and its socket", () => {
    expect(where(resolveTarget({ config: config('listen: "0.0.0.0:12345"\n') }, 'listen'))).toBe('http://127.0.0.1:12345/');
    expect(where(resolveTarget({ config: config('listen: "[::]:12345"\n') }, 'listen'))).toBe('http://[::1]:12345/');
    expect(where(resolveTarget({ config: config('api:\n  socket: /tmp/x/api.sock\n') }, 'socket'))).toBe('unix:/tmp/x/api.sock');
  });

  it('--url, then --socket, win over the config', () => {
    const c = config('listen: "127.0.0.1:1"\n');
    expect(where(resolveTarget({ url: 'unix:/a.sock', socket: '/b.sock', config: c }, 'listen'))).toBe('unix:/a.sock');
    expect(where(resolveTarget({ socket: '/b.sock', config: c }, 'listen'))).toBe('unix:/b.sock');
    expect(where(resolveTarget({ url: 'http://10.0.0.1:2', config: c }, 'socket'))).toBe('http://10.0.0.1:2/');
  });

  it('reads the token file once, when resolving', () => {
    const p = path.join(dir, 'token');
    fs.writeFileSync(p, 'first-token-0123456789\n');
    const t = resolveTarget({ url: 'http://127.0.0.1:1', 'token-file': p }, 'socket');
    fs.writeFileSync(p, 'second-token-0123456789\n');
    expect(t.token).toBe('first-token-0123456789');
  });

  it('listenUrl brackets IPv6 hosts', () => {
    expect(listenUrl({ host: 'fd00::1', port: 7 })).toBe('http://[fd00::1]:7');
    expect(listenUrl({ host: 'agent.local', port: 7 })).toBe('http://agent.local:7');
  });
});
