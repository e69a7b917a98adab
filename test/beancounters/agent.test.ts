/**
 * Beancounters in the built agent (`forkwatch run`), against real workloads in cgroups this test
 * makes: exact crossing counts, hooks, kill, freeze, the kernel's own refusals, rates, release
 * records. Every cgroup, v1 twin, agent and temp dir is removed after each test, pass or fail.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { BeancounterRow } from '../../src/beancounters/model/ledger.js';
import type { ReleaseRecord } from '../../src/beancounters/model/release.js';
import type { CrossingEvent } from '../../src/beancounters/service.js';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { runCli } from '../helpers/cli.js';
import { envFile, isoMs, ndjson, removeTools, runCleanups, thawingCgroup, tool, V1Twin } from './helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(() =>
  // Last made, first removed: agents before cgroups (their hooks die with them), v1 twins last.
  runCleanups(cleanups),
);

afterAll(() => removeTools());

function cgroup(label: string): TestCgroup {
  return thawingCgroup(label, cleanups);
}

function twin(controller: 'pids' | 'memory', cg: TestCgroup): V1Twin {
  const t = new V1Twin(controller, cg);
  cleanups.push(() => t.remove());
  return t;
}

function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-bct-'));
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

async function agent(yaml: string): Promise<TestAgent> {
  const a = await TestAgent.start(yaml);
  cleanups.push(async () => void (await a.stop()));
  return a;
}

async function rows(a: TestAgent, group: string): Promise<Record<string, BeancounterRow>> {
  let list: BeancounterRow[];
  try {
    list = await a.json<BeancounterRow[]>('/api/beancounters');
  } catch (err) {
    const { exitCode, signalCode } = a.proc.child;
    throw new Error(
      `GET /api/beancounters: ${(err as Error).message} (agent exit ${exitCode ?? signalCode ?? 'none yet'}); agent: ${a.proc.stderr.slice(-3000)}`,
      { cause: err },
    );
  }
  return Object.fromEntries(list.filter((r) => r.group === group).map((r) => [r.resource, r]));
}

/** Polls the agent until `pred` holds for the group's rows. */
async function untilRows(a: TestAgent, group: string, pred: (r: Record<string, BeancounterRow>) => boolean, what: string, ms = 10_000) {
  let last: Record<string, BeancounterRow>;
  const start = Date.now();
  for (;;) {
    last = await rows(a, group);
    if (pred(last)) return last;
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}; rows: ${JSON.stringify(last)}; agent: ${a.proc.stderr.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const rule = (name: string, cg: TestCgroup, resources: string, extra = '') =>
  `groups:\n  - name: ${name}\n    match: { cgroup: "${cg.path}" }\n    resources:\n${resources.replace(/^/gm, '      ')}\n${extra}`;

describe('beancounters in the running agent', () => {
  it('tasks 20/40: exact barrier hits and failcnt over a scripted rise and fall, hooks told the crossing', async () => {
    requireRoot();
    const cg = cgroup('storm');
    const dir = tmp();
    const log = path.join(dir, 'acct.log');
    const a = await agent(
      rule(
        'storm',
        cg,
        [
          'tasks:',
          '  barrier: 20',
          '  limit: 40',
          '  on_barrier:',
          `    - exec: [/bin/sh, -c, 'env > ${dir}/barrier-$FORKWATCH_EVENT-$$.env']`,
          '  on_limit:',
          `    - exec: [/bin/sh, -c, 'env > ${dir}/limit-$FORKWATCH_EVENT-$$.env']`,
        ].join('\n'),
      ) + `accounting:\n  log: { path: ${log} }\n`,
    );
    // Each phase: n sleeps, then `sleep 0.2` (one more task), then all killed and reaped. Tasks
    // peak at n + 2 (bash itself, the n, the sleep 0.2): 32, 52, 12, 27, 47.
    const run = await cg.exec(
      [
        'phase() { local p=() i; for ((i = 0; i < $1; i++)); do sleep 1000 & p+=($!); done; sleep 0.2; kill -KILL "${p[@]}"; wait; }',
        'phase 30; phase 50; phase 10; phase 25; phase 45',
      ].join('\n'),
    );
    expect(run.code).toBe(0);
    const r = await untilRows(a, 'storm', (x) => x.tasks?.held === 0, 'the group to empty');
    // Above 20 in the phases of 30, 50, 25 and 45: barrier hits once per crossing. failcnt once
    // per fork past 40: the 41st to 52nd tasks of the phase of 50 and the 41st to 47th of 45's.
    expect(r.tasks).toEqual({ group: 'storm', resource: 'tasks', held: 0, maxheld: 52, minheld: 0, barrier: 20, limit: 40, barrierHits: 4, failcnt: 19 });

    // The CLI shows the same, as a table and as JSON.
    const table = runCli(['beancounters', '--url', a.url, '--group', 'storm']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^storm\s+tasks\s+0\s+52\s+20\s+40\s+19\s+4$/m);
    const json = runCli(['beancounters', '--url', a.url, '--group', 'storm', '--json']);
    expect(JSON.parse(json.stdout)).toEqual(Object.values(r));

    const crossings = ndjson<CrossingEvent>(log).filter((e) => e.group === 'storm' && e.type !== ('release' as string));
    expect(crossings.map((e) => `${e.type}:${e.direction}`)).toEqual([
      ...['barrier:up', 'barrier:down'],
      ...['barrier:up', 'limit:up', 'limit:down', 'barrier:down'],
      ...['barrier:up', 'barrier:down'],
      ...['barrier:up', 'limit:up', 'limit:down', 'barrier:down'],
    ]);
    const ups = crossings.filter((c) => c.direction === 'up');
    expect(ups.map((e) => e.held)).toEqual([21, 21, 41, 21, 21, 41]);
    // Each crossing names the fork that caused it.
    expect(ups.every((e) => typeof e.pid === 'number' && isoMs(e.kernel_time!) <= isoMs(e.time) + 1)).toBe(true);

    // Hooks of one group and resource run one after the other; on a loaded host each start is slow.
    await until(() => fs.readdirSync(dir).some((f) => f.startsWith('limit-limit-')), 'the limit hook', 30_000);
    const hookEnv = (prefix: string) =>
      fs
        .readdirSync(dir)
        .filter((f) => f.startsWith(prefix))
        .map((f) => envFile(path.join(dir, f)));
    const want = { FORKWATCH_GROUP: 'storm', FORKWATCH_RESOURCE: 'tasks', FORKWATCH_BARRIER: '20', FORKWATCH_LIMIT: '40', FORKWATCH_CGROUP: cg.path };
    expect(hookEnv('barrier-barrier-')).toContainEqual(expect.objectContaining({ ...want, FORKWATCH_EVENT: 'barrier', FORKWATCH_HELD: '21' }));
    expect(hookEnv('limit-limit-')).toContainEqual(expect.objectContaining({ ...want, FORKWATCH_EVENT: 'limit', FORKWATCH_HELD: '41' }));
    await until(() => hookEnv('barrier-release-').length > 0, 'a barrier hook for the fall back', 30_000);
    expect(hookEnv('barrier-release-')).toContainEqual(expect.objectContaining({ ...want, FORKWATCH_EVENT: 'release', FORKWATCH_HELD: '20' }));
  });

  it('a barrier crossed by a fork is acted on within 10 ms of the fork (median of 15 crossings)', { timeout: 120_000 }, async () => {
    requireRoot();
    const cg = cgroup('latency');
    const dir = tmp();
    const log = path.join(dir, 'acct.log');
    await agent(rule('quick', cg, 'tasks: { barrier: 20, limit: 40 }') + `accounting:\n  log: { path: ${log} }\n`);
    // Five rises to 32 tasks and five to 52: 10 barrier and 5 limit crossings, each by a fork.
    const run = await cg.exec(
      [
        'phase() { local p=() i; for ((i = 0; i < $1; i++)); do sleep 1000 & p+=($!); done; sleep 0.1; kill -KILL "${p[@]}"; wait; }',
        'for ((r = 0; r < 5; r++)); do phase 30; phase 50; done',
      ].join('\n'),
    );
    expect(run.code).toBe(0);
    await until(() => ndjson(log).filter((e) => e.group === 'quick' && e.direction === 'up').length === 15, '15 crossings up', 30_000);
    // `time` (when the event was published) has whole ms, `kernel_time` (the fork) microseconds.
    // The median, not every one: on a loaded 2-core host the scheduler alone can keep the agent
    // off the CPU for longer, and it reads every process event of the host, other fork storms
    // included (bench/beancounters measures the distribution).
    const lags = ndjson<CrossingEvent>(log)
      .filter((e) => e.group === 'quick' && e.direction === 'up')
      .map((e) => isoMs(e.time) - isoMs(e.kernel_time!))
      .sort((x, y) => x - y);
    const why = `lags ${lags.map((l) => l.toFixed(1)).join(', ')} ms`;
    expect(lags[Math.floor(lags.length / 2)], why).toBeLessThan(10);
    expect(lags[0], why).toBeGreaterThan(-1);
  });

  it('kill: keeps the group at its tasks limit by killing the newest processes', async () => {
    requireRoot();
    const cg = cgroup('kill');
    const dir = tmp();
    const pids = path.join(dir, 'pids');
    const a = await agent(rule('capped', cg, 'tasks:\n  limit: 40\n  on_limit: [kill]'));
    const run = cg.run(`for ((i = 0; i < 60; i++)); do sleep 1000 & echo $! >> ${pids}; done; wait`);
    await until(() => fs.existsSync(pids) && fs.readFileSync(pids, 'utf8').split('\n').filter(Boolean).length === 60, 'all 60 forks');
    await until(() => cg.pids().length === 40, 'the group back at 40 processes');
    // Kills are summed up in the log once a second, not one line per fork. 21 in the sums means
    // the agent has handled the 60th fork (its sleep is the 21st over the limit), the last event
    // that could kill: past it, a wrong kill would already show.
    const killed = (stderr: string) =>
      [...stderr.matchAll(/group capped: killed (\d+) processes above its tasks limit 40/g)].reduce((n, m) => n + Number(m[1]), 0);
    await a.proc.waitFor((p) => killed(p.stderr) >= 21, 'the kill summaries to add up to 21');
    expect(killed(a.proc.stderr)).toBe(21);
    const started = fs.readFileSync(pids, 'utf8').split('\n').filter(Boolean).map(Number);
    // bash and the 39 oldest sleeps stay; each sleep from the 40th on was killed.
    expect(new Set(cg.pids())).toEqual(new Set([run.pid!, ...started.slice(0, 39)]));
    const r = await untilRows(a, 'capped', (x) => x.tasks?.held === 40, 'held 40');
    expect(r.tasks.failcnt).toBe(21); // one per process killed
  });

  it('freeze: freezes the cgroup over the limit and thaws it back at the barrier', async () => {
    requireRoot();
    const cg = cgroup('freeze');
    const events = () => fs.readFileSync(path.join(cg.dir, 'cgroup.events'), 'utf8');
    const a = await agent(rule('frozen', cg, 'tasks:\n  barrier: 20\n  limit: 40\n  on_limit: [freeze]'));
    const run = cg.run('for ((i = 0; i < 45; i++)); do sleep 1000 & done; wait');
    await until(() => /^frozen 1$/m.test(events()), 'cgroup.events frozen 1');
    // Frozen tasks still die of SIGKILL: leave bash alone, under the barrier.
    for (const pid of cg.pids()) if (pid !== run.pid) process.kill(pid, 'SIGKILL');
    // A frozen task woken to die shows `frozen 0` for a moment; the thaw is cgroup.freeze back at 0.
    const freeze = () => fs.readFileSync(path.join(cg.dir, 'cgroup.freeze'), 'utf8').trim();
    await until(() => freeze() === '0' && /^frozen 0$/m.test(events()), 'cgroup.freeze 0 and cgroup.events frozen 0');
    await a.proc.logged(`group frozen: froze ${cg.path}`);
    await a.proc.waitFor((p) => p.stderr.includes(`group frozen: thawed ${cg.path}`), 'the thaw in the log');
  });

  it('pids.max refusals in the v1 pids cgroup of the same path count in failcnt', async () => {
    requireRoot();
    const cg = cgroup('pidsmax');
    const pids = twin('pids', cg);
    pids.write('pids.max', '10');
    const a = await agent(rule('capped', cg, 'tasks: { limit: 100 }'));
    // bash and forker are 2 of the 10: 8 children fit, the other 22 forks are refused.
    const run = await cg.exec(`${pids.joinCommand}; ${tool('forker')} 30; exit 0`);
    expect(run.code).toBe(0);
    const m = /forked (\d+) refused (\d+)/.exec(run.stdout)!;
    expect(Number(m[1])).toBe(8);
    const refused = Number(m[2]);
    expect(refused).toBe(22);
    expect(pids.read('pids.events')).toBe(`max ${refused}\n`);
    const r = await untilRows(a, 'capped', (x) => x.tasks?.failcnt === refused, `failcnt ${refused}`);
    expect(r.tasks).toMatchObject({ maxheld: 10, barrierHits: 0 });
    await a.proc.logged(`group capped: the kernel refused ${refused} forks (pids.max) in ${cg.path}`);
  });

  it('memory_bytes from the v1 memory cgroup of the same path; its failcnt into ours', async () => {
    requireRoot();
    const cg = cgroup('mem');
    const mem = twin('memory', cg);
    mem.write('memory.limit_in_bytes', String(40 * 2 ** 20));
    const a = await agent(rule('mem', cg, 'memory_bytes: { barrier: 16MiB }'));
    const hog = cg.run(`${mem.joinCommand}; exec ${tool('hog')} 24 3`);
    let out = '';
    hog.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => out.includes('ready'), 'the hog to hold 24 MiB');
    const r = await untilRows(a, 'mem', (x) => (x.memory_bytes?.held ?? 0) >= 24 * 2 ** 20, 'held >= 24 MiB');
    expect(r.memory_bytes).toMatchObject({ barrier: 16 * 2 ** 20, limit: null, barrierHits: 1, failcnt: 0 });
    // Over the v1 limit: the kernel refuses charges (and the OOM killer ends the hog).
    const big = await cg.exec(`${mem.joinCommand}; exec ${tool('hog')} 64 0`);
    expect(big.signal ?? big.code).not.toBe(0);
    const kernel = Number(mem.read('memory.failcnt'));
    expect(kernel).toBeGreaterThan(0);
    await untilRows(a, 'mem', (x) => x.memory_bytes?.failcnt === kernel, `failcnt ${kernel}`);
  });

  it('forks_per_second: a barrier hit by a fork loop and not by a slow one', async () => {
    requireRoot();
    const fast = cgroup('fast');
    const slow = cgroup('slow');
    const spec = 'forks_per_second: { barrier: 100 }';
    const a = await agent(rule('fast', fast, spec) + rule('slow', slow, spec).replace('groups:\n', ''));
    const [f, s] = await Promise.all([
      fast.exec('for ((i = 0; i < 2000; i++)); do ( : ); done'),
      slow.exec('for ((i = 0; i < 15; i++)); do ( : ); /bin/sleep 0.1; done'),
    ]);
    expect([f.code, s.code]).toEqual([0, 0]);
    const rf = await untilRows(a, 'fast', (x) => x.forks_per_second?.held === 0, 'the fast rate to fall');
    expect(rf.forks_per_second.barrierHits).toBeGreaterThanOrEqual(1);
    expect(rf.forks_per_second.maxheld).toBeGreaterThan(100);
    const rs = await rows(a, 'slow');
    expect(rs.forks_per_second.barrierHits).toBe(0);
    expect(rs.forks_per_second.maxheld).toBeGreaterThan(5);
    expect(rs.forks_per_second.maxheld).toBeLessThan(100);
  });

  it('cpu_cores: a barrier hit by a busy loop and not by a sleeper', async () => {
    requireRoot();
    const busy = cgroup('busy');
    const idle = cgroup('idle');
    // A low barrier: a busy loop gets far less than a core when the machine is shared.
    const spec = 'cpu_cores: { barrier: 0.1 }';
    const a = await agent(rule('busy', busy, spec) + rule('idle', idle, spec).replace('groups:\n', ''));
    const [b, i] = await Promise.all([busy.exec('end=$((SECONDS + 4)); while ((SECONDS < end)); do :; done'), idle.exec('/bin/sleep 4')]);
    expect([b.code, i.code]).toEqual([0, 0]);
    const rb = await untilRows(a, 'busy', (x) => x.cpu_cores?.barrierHits === 1, 'the busy group to cross 0.1 cores', 15_000);
    expect(rb.cpu_cores.maxheld).toBeGreaterThan(0.1);
    const ri = await rows(a, 'idle');
    expect(ri.cpu_cores.barrierHits).toBe(0);
    expect(ri.cpu_cores.maxheld).toBeLessThan(0.05);
  });

  it('cpu_cores under cgroup churn: the tick samples CPU though its own read of the counters makes new groups', async () => {
    requireRoot();
    const busy = cgroup('busy-churn');
    const churn = cgroup('churn');
    // Records wait up to 500 ms, so most seconds the tick reads counter rows of cgroups whose mkdir
    // records are not read yet: reading them makes their groups (Agent.totals() counts those too).
    const a = await agent('bpf:\n  flush_interval: 500ms\n' + rule('busy', busy, 'cpu_cores: { barrier: 0.1 }'));
    const churned = churn.exec(
      `for ((i = 0; i < 150; i++)); do d=${churn.dir}/c$i; mkdir $d; sh -c "echo \\$\\$ > $d/cgroup.procs; exec /bin/true"; rmdir $d; /bin/sleep 0.005; done`,
    );
    const [b, c] = await Promise.all([busy.exec('end=$((SECONDS + 4)); while ((SECONDS < end)); do :; done'), churned]);
    expect([b.code, c.code]).toEqual([0, 0]);
    const rb = await untilRows(a, 'busy', (x) => x.cpu_cores?.barrierHits === 1, 'the busy group to cross 0.1 cores', 15_000);
    expect(rb.cpu_cores.maxheld).toBeGreaterThan(0.1);
    // Every tick's sampling went through: a failed one logs an error line with its stack.
    expect(a.proc.stderr).not.toContain('CPU sampling failed');
  });

  it('release: the record of a scripted job matches what it did, CPU within 3% of cpu.stat; on_release runs', async () => {
    requireRoot();
    const cg = cgroup('job');
    const dir = tmp();
    const log = path.join(dir, 'acct.log');
    await agent(
      // Written aside and renamed: release.env appears whole, so its existence is the signal.
      rule('job', cg, 'tasks: { limit: 100 }', `    on_release: [/bin/sh, -c, 'env > ${dir}/env.tmp && /bin/mv ${dir}/env.tmp ${dir}/release.env']\n`) +
        `accounting:\n  log: { path: ${log} }\n`,
    );
    const burn = '( i=0; while ((i < 300000)); do ((i++)); done )';
    const run = await cg.exec(
      [
        'for i in 1 2 3; do ( exit 0 ); done', // 3 successes
        '( exit 3 ); ( exit 4 )', // 2 failures
        '( kill -TERM $BASHPID )', // 1 signaled
        `${burn} & ${burn} & wait`, // 2 successes that use CPU, 3 tasks at once
        'exit 0', // and bash itself
      ].join('\n'),
    );
    expect(run.code).toBe(0);
    await until(() => ndjson(log).some((r) => r.type === 'release' && r.group === 'job'), 'the release record');
    const usage = Number(/^usage_usec (\d+)$/m.exec(fs.readFileSync(path.join(cg.dir, 'cpu.stat'), 'utf8'))![1]) / 1e6;
    const rec = ndjson<ReleaseRecord>(log).find((r) => r.type === 'release' && r.group === 'job')!;
    expect(rec).toMatchObject({ group: 'job', cgroup: cg.path, processes: 8, max_tasks: 3, exits: { success: 6, failure: 2, signaled: 1 } });
    expect(Date.parse(rec.end) - Date.parse(rec.start)).toBeGreaterThan(0);
    expect(usage).toBeGreaterThan(0.2);
    expect(Math.abs(rec.cpu_s - usage) / usage).toBeLessThan(0.03);

    await until(() => fs.existsSync(path.join(dir, 'release.env')), 'the on_release hook');
    expect(envFile(path.join(dir, 'release.env'))).toMatchObject({
      FORKWATCH_GROUP: 'job',
      FORKWATCH_EVENT: 'release',
      FORKWATCH_CGROUP: cg.path,
      FORKWATCH_PROCESSES: '8',
      FORKWATCH_EXITS_SIGNALED: '1',
    });
  });

  it('a hanging hook is killed at its timeout and a failing one logged; the agent keeps acting', async () => {
    requireRoot();
    const cg = cgroup('hooks');
    const dir = tmp();
    const log = path.join(dir, 'acct.log');
    const a = await agent(
      rule(
        'hooks',
        cg,
        [
          'tasks:',
          '  barrier: 5',
          '  limit: 10',
          '  on_barrier:',
          '    - exec: [/bin/sleep, "1000"]',
          '      timeout: 1s',
          '  on_limit:',
          "    - exec: [/bin/sh, -c, 'echo doomed >&2; exit 3']",
        ].join('\n'),
      ) + `accounting:\n  log: { path: ${log} }\n`,
    );
    const phase = 'p=(); for ((i = 0; i < 12; i++)); do sleep 1000 & p+=($!); done; sleep 0.3; kill -KILL "${p[@]}"; wait';
    expect((await cg.exec(phase)).code).toBe(0);
    // The limit hook waits behind the hanging one (one hook per group and resource at a time) and
    // runs once with the latest crossing (the fall back: release).
    await a.proc.waitFor((p) => /hook hooks\/tasks (limit|release) \[\d+\]: failed: exit status 3/.test(p.stderr), 'the failing hook');
    await a.proc.logged(/hook hooks\/tasks (limit|release) \[\d+\]: doomed/);
    await a.proc.waitFor((p) => /hook hooks\/tasks barrier \[\d+\]: killed after 1 s timeout/.test(p.stderr), 'the hanging hook to be killed');
    const hung = Number(/hook hooks\/tasks barrier \[(\d+)\]: killed after/.exec(a.proc.stderr)![1]);
    expect(fs.existsSync(`/proc/${hung}`)).toBe(false);

    expect((await a.get('/healthz')).status).toBe(200);
    const before = ndjson(log).filter((e) => e.type === 'barrier' && e.direction === 'up').length;
    expect((await cg.exec(phase)).code).toBe(0);
    await until(() => ndjson(log).filter((e) => e.type === 'barrier' && e.direction === 'up').length === before + 1, 'a crossing after the hook trouble');
  });
});

describe('beancounters across SIGHUP', () => {
  it('judges held against reloaded thresholds at once: a lowered barrier is a hit, a raised limit thaws', async () => {
    requireRoot();
    const cg = cgroup('reload');
    const dir = tmp();
    const log = path.join(dir, 'acct.log');
    const tail = `accounting:\n  log: { path: ${log} }\n`;
    const a = await agent(rule('steady', cg, 'tasks: { barrier: 100 }') + tail);
    cg.run('for ((i = 0; i < 30; i++)); do sleep 1000 & done; wait');
    await untilRows(a, 'steady', (x) => x.tasks?.held === 31, '31 tasks');
    a.reload(rule('steady', cg, 'tasks:\n  barrier: 20\n  limit: 25\n  on_limit: [freeze]') + tail);
    const events = () => fs.readFileSync(path.join(cg.dir, 'cgroup.events'), 'utf8');
    await until(() => /^frozen 1$/m.test(events()), 'the freeze a lowered limit calls for');
    const r = await untilRows(a, 'steady', (x) => x.tasks?.limit === 25, 'the new thresholds');
    // The lowered limit puts 6 of the 31 tasks past it.
    expect(r.tasks).toMatchObject({ held: 31, barrier: 20, limit: 25, barrierHits: 1, failcnt: 6 });
    a.reload(rule('steady', cg, 'tasks:\n  barrier: 40\n  limit: 50\n  on_limit: [freeze]') + tail);
    await until(() => fs.readFileSync(path.join(cg.dir, 'cgroup.freeze'), 'utf8').trim() === '0' && /^frozen 0$/m.test(events()), 'the thaw');
    const crossings = ndjson<CrossingEvent>(log).filter((e) => e.group === 'steady');
    expect(crossings.map((e) => `${e.type}:${e.direction}:${e.held}`)).toEqual(['barrier:up:31', 'limit:up:31', 'limit:down:31', 'barrier:down:31']);
    // A reload is no kernel record: nothing caused it but the config.
    expect(crossings.every((e) => e.pid === undefined && e.kernel_time === undefined)).toBe(true);
  });
});

describe('forkwatch run --config: resource errors', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-bcconf-'));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    [
      'barrier above limit in a rule',
      'groups:\n  - name: a\n    match: { cgroup: /a }\n    resources:\n      tasks: { barrier: 50, limit: 40 }\n',
      /: groups\[0\]\.resources\.tasks: barrier 50 is above limit 40; expected barrier <= limit$/,
    ],
    [
      'unknown resource',
      'resources:\n  file_descriptors: { limit: 4 }\n',
      /: resources: unknown key "file_descriptors"; expected one of tasks, threads, forks_per_second, cpu_cores, memory_bytes$/,
    ],
    ['negative barrier', 'resources:\n  cpu_cores: { barrier: -0.5 }\n', /: resources\.cpu_cores\.barrier: .*-0\.5.*; expected /],
    ['negative memory', 'resources:\n  memory_bytes: { limit: -1MiB }\n', /: resources\.memory_bytes\.limit: .*; expected /],
    [
      'kill on another resource',
      'resources:\n  memory_bytes: { limit: 1GiB, on_limit: [kill] }\n',
      /: resources\.memory_bytes\.on_limit\[0\]: kill is only for tasks, not memory_bytes; expected /,
    ],
    [
      'actions without a threshold',
      'resources:\n  tasks: { limit: 5, on_barrier: [freeze] }\n',
      /: resources\.tasks\.on_barrier: actions without a barrier; expected a barrier for them to act on$/,
    ],
  ])('%s: one line, exit 2', (_name, yaml, message) => {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(file, yaml);
    const r = runCli(['run', '--config', file]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0].startsWith(`forkwatch: ${file}: `)).toBe(true);
    expect(lines[0]).toMatch(message);
  });
});
