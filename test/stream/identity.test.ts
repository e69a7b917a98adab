/**
 * Identity on exit through a real agent: exits on /events and from an exporter carry the last
 * exec's filename, argv (with argv_truncated when the kernel cut it), cwd and parent; ancestors go
 * only to a reader that asked (here the file exporter, `filter: { ancestors: true }`), never to
 * one that did not.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watch, type WatchEvent } from '../../src/client/watch.js';
import type { ProcessEvent } from '../../src/events/model.js';
import { TestAgent } from '../helpers/agent.js';
import { expectIdentity, IDENTITY_SCRIPT } from '../helpers/identity.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';

describe('exit identity on the agent stream', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-identity-'));
  const file = path.join(dir, 'events.ndjson');
  const abort = new AbortController();
  let agent: TestAgent;
  let cg: TestCgroup;

  beforeAll(async () => {
    requireRoot();
    cg = TestCgroup.create('identity-stream');
    agent = await TestAgent.start(
      `node_name: ident\nexport:\n  file:\n    path: ${file}\n    filter:\n      cgroup: ${cg.path}\n      events: exit\n      ancestors: true\n`,
    );
  });

  afterAll(async () => {
    abort.abort();
    await agent?.stop();
    await cg?.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('carries filename, argv, argv_truncated, cwd and parent on every exit; ancestors only where asked', async () => {
    const plain: WatchEvent[] = [];
    void (async () => {
      for await (const e of watch({ url: `unix:${agent.socket}`, filter: { cgroup: cg.path, events: 'exit' }, signal: abort.signal })) plain.push(e);
    })();
    await until(() => plain.some((e) => e.type === 'hello'), "the reader's hello");

    const run = await cg.exec(IDENTITY_SCRIPT);
    expect(run.code).toBe(0);
    const exits = () => plain.filter((e): e is ProcessEvent => e.type === 'exit');
    await until(() => exits().some((e) => e.pid === run.pid), 'the script exit on /events');
    const exported = () =>
      fs.existsSync(file)
        ? fs
            .readFileSync(file, 'utf8')
            .split('\n')
            .filter((l) => l.endsWith('}'))
            .map((l) => JSON.parse(l) as ProcessEvent)
        : [];
    await until(() => exported().some((e) => e.pid === run.pid), 'the script exit in the file');

    const { sh } = expectIdentity(exits(), run.pid);
    // The reader did not ask for ancestors: none of its exits has them, although the exporter's do.
    expect(exits().filter((e) => 'ancestors' in e)).toEqual([]);

    const { sub } = expectIdentity(exported(), run.pid);
    expect(sub.ancestors!.map((a) => [a.pid, a.comm, a.filename])).toEqual([
      [sh.pid, 'sh', '/bin/sh'],
      [run.pid, 'bash', '/bin/bash'],
    ]);
    expect(sub.ancestors![0].id).toBe(sh.id);
    expect(exported().find((e) => e.comm === 'true')).toMatchObject({ argv_truncated: true, ancestors: [{ pid: run.pid, comm: 'bash' }] });
  });
});
