/**
 * Two agents (nodes alpha and beta) merged by `forkwatch tail --from A --from B --json`: every
 * event of a scripted workload once per agent, in time order, labelled by node; one agent killed
 * and restarted mid-run; cluster-unique ids from which the process tree is rebuilt; argv
 * redaction on the stream.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProcessEvent } from '../../src/events/model.js';
import { timeKey } from '../../src/tail/merge.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup } from '../helpers/cgroup.js';
import { CliProcess } from '../helpers/cli.js';

type Ev = ProcessEvent & { node: string };

/** Prints "p <pid>" for each of n children (fork, exec /bin/sh, exit). */
const children = (n: number) => `for i in $(seq ${n}); do /bin/sh -c 'echo p $$'; done`;

/** A small tree, named so the test knows it: root -> a1 -> (b1, b2), root -> a2. */
const TREE = ['echo root $$', "( echo a1 $BASHPID; ( echo b1 $BASHPID; : ); /bin/sh -c 'echo b2 $$'; : )", '( echo a2 $BASHPID; : )'].join('\n');
const TREE_EDGES: [string, string][] = [
  ['a1', 'root'],
  ['a2', 'root'],
  ['b1', 'a1'],
  ['b2', 'a1'],
];

/** "name pid" lines of a script's output. */
function named(stdout: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [, name, pid] of stdout.matchAll(/^(\w+) (\d+)$/gm)) out.set(name, [...(out.get(name) ?? []), Number(pid)]);
  return out;
}

describe('two agents merged by tail --from', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-cluster-'));
  const tokenFile = path.join(dir, 'token');
  let cg: TestCgroup;
  let alpha: TestAgent;
  let beta: TestAgent;
  let betaAgain: CliProcess | undefined;
  let tail: CliProcess | undefined;
  /** Each script's output and when it ran (epoch µs, as timeKey counts): pids are reused fast on a busy host. */
  const runs: { label: string; pid: number; out: Map<string, number[]>; from: number; to: number }[] = [];

  beforeAll(async () => {
    requireRoot();
    cg = TestCgroup.create('cluster');
    fs.writeFileSync(tokenFile, 'c1u5t3r-t0k3n-0123456789abcdef\n', { mode: 0o600 });
    const api = (name: string, extra = '') => `api:\n  socket: ${path.join(dir, name + '.sock')}\n  token_file: ${tokenFile}\n${extra}`;
    [alpha, beta] = await Promise.all([
      TestAgent.start(`node_name: alpha\n${api('alpha', '  redact: ["--password=(.*)"]\n')}`),
      TestAgent.start(`node_name: beta\n${api('beta')}`),
    ]);
  });

  afterAll(async () => {
    if (tail && tail.child.exitCode === null) tail.kill('SIGKILL');
    if (betaAgain && betaAgain.child.exitCode === null) {
      betaAgain.kill('SIGTERM');
      await betaAgain.exited;
    }
    await cg?.remove();
    await alpha?.stop();
    await beta?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const events = () => tail!.jsonLines<Ev>().filter((e) => e.cgroup === cg.path);
  const exited = (node: string, pid: number) => (p: CliProcess) => p.jsonLines<Ev>().some((e) => e.node === node && e.type === 'exit' && e.pid === pid);

  async function run(label: string, script: string, nodes: string[]): Promise<void> {
    const from = Date.now() * 1000;
    const r = await cg.exec(script);
    expect(r.code).toBe(0);
    for (const n of nodes) await tail!.waitFor(exited(n, r.pid), `${label}: the script's exit from ${n}`, 30_000);
    runs.push({ label, pid: r.pid, out: named(r.stdout), from, to: Date.now() * 1000 });
  }

  it('shows every event of the workload once per agent, in time order, across a kill and restart of one agent', async () => {
    // A 5 s reorder window: on a loaded CI machine (load 10 on 2 cores while this was written) one
    // agent's events reached tail over a second after the other's; the default, 0.3 s, is for
    // people watching a quiet fleet.
    tail = new CliProcess(['tail', '--from', alpha.url, '--from', beta.url, '--token-file', tokenFile, '--json', '--cgroup', cg.path, '--window', '5']);
    await tail.waitFor((p) => p.stderr.includes('(node alpha)') && p.stderr.includes('(node beta)'), 'tail to connect to both', 30_000);

    await run('both up', `${TREE}\n/bin/echo --password=hunter2 --user=bob >/dev/null\n${children(20)}`, ['alpha', 'beta']);

    beta.proc.kill('SIGKILL');
    await beta.proc.exited;
    await tail.waitFor((p) => p.stderr.includes(`lost ${beta.url}`), 'tail to notice beta is gone', 30_000);
    await run('beta down', children(20), ['alpha']);

    // The same config and port: a new run of the agent.
    betaAgain = new CliProcess(['run', '--config', beta.configPath]);
    await betaAgain.waitFor((p) => p.stderr.includes('serving http://'), 'beta to serve again', 30_000);
    await tail.waitFor((p) => p.stderr.includes('(node beta) restarted'), 'tail to reconnect to beta', 30_000);
    await run('beta back', children(20), ['alpha', 'beta']);

    tail.kill('SIGINT');
    expect(await tail.exited).toEqual({ code: 0, signal: null });

    expect(tail.stderr).toContain(`forkwatch: connected to ${alpha.url} (node alpha)`);
    expect(tail.stderr).toContain(`forkwatch: connected to ${beta.url} (node beta)`);
    expect(tail.stderr).toMatch(new RegExp(`forkwatch: lost ${beta.url.replace(/\./g, '\\.')} \\(.+\\); reconnecting`));
    expect(tail.stderr).toContain(`forkwatch: ${beta.url} (node beta) restarted; its events while it was down are unknown`);

    const all = events();
    // Labelled by node, with the stream's additions.
    for (const e of all) {
      expect(['alpha', 'beta']).toContain(e.node);
      expect(e).toHaveProperty('id');
      expect(e).toHaveProperty('seq');
      expect(e).toHaveProperty('group', cg.path);
    }
    // In time order.
    const lines = tail.jsonLines<Ev>();
    const keys = lines.map((e) => timeKey(e.time));
    const show = (e: Ev) => `${e.node} ${e.type} ${e.pid} ${e.time} seq ${e.seq}`;
    for (let i = 1; i < keys.length; i++) {
      expect(keys[i], `line ${i + 1} (${show(lines[i])}) earlier than line ${i} (${show(lines[i - 1])}); stderr: ${tail.stderr}`).toBeGreaterThanOrEqual(
        keys[i - 1],
      );
    }
    // No event twice from one node.
    const seen = new Set(all.map((e) => `${e.node} ${e.type} ${e.tid} ${e.time}`));
    expect(seen.size).toBe(all.length);

    // Every child of each phase: one fork, one exec, one exit from each agent that was up.
    for (const { label, out, from, to } of runs) {
      const up = label === 'beta down' ? ['alpha'] : ['alpha', 'beta'];
      const during = all.filter((e) => timeKey(e.time) >= from && timeKey(e.time) <= to);
      const pids = out.get('p')!;
      expect(pids).toHaveLength(20);
      for (const node of ['alpha', 'beta']) {
        for (const pid of pids) {
          const types = during.filter((e) => e.node === node && e.pid === pid && !e.thread).map((e) => e.type);
          expect(types, `${label}: pid ${pid} from ${node}`).toEqual(up.includes(node) ? ['fork', 'exec', 'exit'] : []);
        }
      }
    }
  }, 120_000);

  it("fork events carry the parent's id: the tree rebuilt from the merged stream is the real one, the same from both nodes", () => {
    const { out, pid: root, from, to } = runs.find((r) => r.label === 'both up')!;
    expect(out.get('root')).toEqual([root]);
    const pidOf = (name: string) => out.get(name)![0];
    const all = events().filter((e) => timeKey(e.time) >= from && timeKey(e.time) <= to);
    for (const node of ['alpha', 'beta']) {
      const mine = all.filter((e) => e.node === node && !e.thread);
      // id -> parent id, from fork events; pid -> id, from any event (an id does not change on exec).
      const parent = new Map(mine.filter((e) => e.type === 'fork').map((e) => [e.id!, e.parent_id!]));
      const idOf = new Map<number, string>();
      for (const e of mine) {
        if (!idOf.has(e.pid)) idOf.set(e.pid, e.id!);
        expect(idOf.get(e.pid), `pid ${e.pid} changed id`).toBe(e.id);
      }
      for (const [child, par] of TREE_EDGES) {
        expect(parent.get(idOf.get(pidOf(child))!), `${node}: parent of ${child}`).toBe(idOf.get(pidOf(par)));
      }
      for (const p of out.get('p')!) expect(parent.get(idOf.get(p)!)).toBe(idOf.get(root));
      // ids are <boot id>-<pid>-<start ns>
      expect(idOf.get(root)).toMatch(new RegExp(`^[0-9a-f]{16}-${root}-\\d+$`));
    }
    // Both agents run on one host: one process has one id, whichever node reports it.
    const ids = (node: string) => new Set(all.filter((e) => e.node === node).map((e) => e.id));
    expect(ids('alpha')).toEqual(ids('beta'));
  });

  it("api.redact hides the secret in exec argv on alpha's stream; beta, without it, shows it", () => {
    const echo = (node: string) => events().find((e) => e.node === node && e.type === 'exec' && e.filename === '/bin/echo')!;
    expect(echo('alpha').argv).toEqual(['/bin/echo', '--password=[redacted]', '--user=bob']);
    expect(echo('beta').argv).toEqual(['/bin/echo', '--password=hunter2', '--user=bob']);
    const alphaBytes = tail!.stdout.split('\n').filter((l) => l.includes('"node":"alpha"'));
    expect(alphaBytes.length).toBeGreaterThan(0);
    for (const l of alphaBytes) expect(l).not.toContain('hunter2');
  });
});
