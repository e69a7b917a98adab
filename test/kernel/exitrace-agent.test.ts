/**
 * The thread-exit race through the whole agent (`forkwatch run`): what rests on a process's one
 * exit -- exit counts, live tasks and threads, releases, the /events stream -- stays exact when a
 * process's threads all end at once, and over a ./configure-like run that mixes short processes,
 * pipelines, a compiler and multi-threaded programs.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { requireRoot, TestCgroup, until } from '../helpers/cgroup.js';
import { workload } from '../helpers/workloads.js';
import { ExitDelay, exitRace } from './race.js';
import { metric, scrapeUntil } from './scrape.js';

/** The agent's /events stream on its unix socket: every JSON line, as it arrives. */
function subscribe(socket: string, query: string): { events: Record<string, unknown>[]; close(): void } {
  const events: Record<string, unknown>[] = [];
  let partial = '';
  const req = http.request({ socketPath: socket, path: `/events?${query}` }, (res) => {
    res.setEncoding('utf8').on('data', (d: string) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.startsWith('{')) events.push(JSON.parse(line) as Record<string, unknown>);
    });
    res.on('error', () => undefined);
  });
  req.on('error', () => undefined);
  req.end();
  return { events, close: () => req.destroy() };
}

describe('thread-exit race, through the agent', () => {
  const race = TestCgroup.create('race-agent');
  const configure = TestCgroup.create('configure');
  let delay: ExitDelay;
  let agent: TestAgent;
  let stream: ReturnType<typeof subscribe>;

  beforeAll(async () => {
    requireRoot();
    delay = await ExitDelay.attach();
    agent = await TestAgent.start(
      ['groups:', '  - name: race', `    match: { cgroup: "${race.path}" }`, '  - name: configure', `    match: { cgroup: "${configure.path}" }`].join('\n'),
    );
    stream = subscribe(agent.socket, 'events=exit&threads=1');
    // The agent writes hello in the turn it subscribes the stream to its bus: every later exit reaches it.
    await until(() => stream.events.some((e) => e.type === 'hello'), "the stream's hello");
  });

  afterAll(async () => {
    stream?.close();
    await agent?.stop();
    await delay?.detach();
    await race.remove();
    await configure.remove();
  });

  it('gives each racing process one exit, one release, and its group back to no task', async () => {
    // Each process is alone in the cgroup while it lives, so each exit empties the group.
    const waited = new Map([...(await exitRace(race, 'group', 30, 1)), ...(await exitRace(race, 'main', 15, 8)), ...(await exitRace(race, 'kill', 15, 3))]);
    const procs = waited.size;
    const text = await scrapeUntil(agent, (t) => metric(t, 'forkwatch_group_releases_total', 'group="race"') === procs);
    expect(metric(text, 'forkwatch_group_releases_total', 'group="race"')).toBe(procs);
    expect(metric(text, 'forkwatch_forks_total', 'group="race"')).toBe(procs);
    expect(metric(text, 'forkwatch_threads_created_total', 'group="race"')).toBe(30 * 1 + 15 * 8 + 15 * 3);
    expect(metric(text, 'forkwatch_exits_total', 'group="race",outcome="failure"')).toBe(45);
    expect(metric(text, 'forkwatch_exits_total', 'group="race",outcome="signaled"')).toBe(15);
    expect(metric(text, 'forkwatch_exits_total', 'group="race",outcome="success"')).toBe(0);
    expect(metric(text, 'forkwatch_tasks', 'group="race"')).toBe(0);
    expect(metric(text, 'forkwatch_threads', 'group="race"')).toBe(0);

    // The stream: one process exit per process, with the status wait(2) gave; the rest threads.
    await until(() => stream.events.filter((e) => e.cgroup === race.path && !e.thread).length >= procs, 'the exit events');
    const exits = stream.events.filter((e) => e.cgroup === race.path);
    const processExits = exits.filter((e) => !e.thread);
    expect(processExits.map((e) => e.pid).sort()).toEqual([...waited.keys()].sort());
    for (const e of processExits) {
      const status = waited.get(e.pid as number)!;
      if (status & 0x7f) expect(e.signal, `signal of ${e.pid as number}`).toBe('SIGKILL');
      else expect(e.exit_code, `exit code of ${e.pid as number}`).toBe(status >> 8);
    }
    expect(exits.filter((e) => e.thread)).toHaveLength(30 * 1 + 15 * 8 + 15 * 3);
  });

  it('keeps every count exact over a ./configure-like run', async () => {
    const exitrace = workload('exitrace');
    const threads = workload('threads');
    const script = [
      'set -e',
      'cd "$(mktemp -d)"',
      'for i in $(seq 1 15); do',
      '  printf "int main(void) { return %d; }\\n" $((i % 3)) > conftest.c',
      '  if cc -o conftest conftest.c 2>/dev/null && ./conftest; then echo "checking $i... yes"; else echo "checking $i... no"; fi',
      '  echo "$i" | sed -e "s/1/one/" | grep -c . >/dev/null',
      '  v=$(uname -r | cut -d. -f1)',
      `  ${threads} 4`,
      `  ${exitrace} 2 3 group`,
      '  ( exit $((i % 2)) ) || true',
      'done',
      'seq 1 200000 | sort -r --parallel=2 -S 1M | tail -1 >/dev/null',
      'printf "%s\\n" 1 2 3 4 | xargs -P 2 -n 1 sh -c "exit 0"',
      'rm -rf "$PWD"',
    ].join('\n');
    const run = await configure.exec(script);
    expect(run.code).toBe(0);

    // Every process that started in the cgroup ended once: exits = forks + the shell moved in.
    const g = 'group="configure"';
    const exits = (t: string) => ['success', 'failure', 'signaled'].reduce((n, o) => n + (metric(t, 'forkwatch_exits_total', `${g},outcome="${o}"`) ?? 0), 0);
    const text = await scrapeUntil(agent, (t) => metric(t, 'forkwatch_tasks', g) === 0 && exits(t) === (metric(t, 'forkwatch_forks_total', g) ?? 0) + 1);
    const forks = metric(text, 'forkwatch_forks_total', g)!;
    expect(forks).toBeGreaterThan(15 * 8);
    expect(exits(text)).toBe(forks + 1);
    expect(metric(text, 'forkwatch_tasks', g)).toBe(0);
    expect(metric(text, 'forkwatch_threads', g)).toBe(0);
    expect(metric(text, 'forkwatch_group_releases_total', g)).toBe(1);

    // And the stream agrees: one process exit per pid, as many thread exits as threads made.
    await until(() => stream.events.some((e) => e.cgroup === configure.path && e.pid === run.pid && !e.thread), 'the script exit');
    const mine = stream.events.filter((e) => e.cgroup === configure.path);
    const pids = mine.filter((e) => !e.thread).map((e) => e.pid);
    expect(pids).toHaveLength(forks + 1);
    expect(new Set(pids).size).toBe(pids.length);
    expect(mine.filter((e) => e.thread)).toHaveLength(metric(text, 'forkwatch_threads_created_total', g)!);
  });
});
