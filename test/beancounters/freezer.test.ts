/** The freezer's record of frozen cgroups: whose a freeze is, and the file that outlives the agent. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Freezer, FrozenFile, verdict, type FreezeIO, type FreezeState, type FrozenEntry, type FrozenStore } from '../../src/beancounters/freezer.js';
import { RecordingLog } from './fakes.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** cgroups in memory: id, setting, and a write counter standing in for cgroup.freeze's mtime. */
class Cgroups implements FreezeIO {
  readonly cgs = new Map<string, { id: string; frozen: boolean; writes: number }>();
  readonly log: string[] = [];
  fail = false;
  add(cg: string, id = '7', frozen = false) {
    this.cgs.set(cg, { id, frozen, writes: 0 });
  }
  /** Someone else writes cgroup.freeze. */
  write(cg: string, frozen: boolean) {
    const c = this.cgs.get(cg)!;
    c.frozen = frozen;
    c.writes++;
  }
  setFrozen(cg: string, frozen: boolean): void {
    if (this.fail) throw new Error(`EBUSY: resource busy, open '${cg}/cgroup.freeze'`);
    const c = this.cgs.get(cg);
    if (!c) throw new Error(`ENOENT: no such file or directory, open '${cg}/cgroup.freeze'`);
    this.log.push(`${cg}=${frozen ? 1 : 0}`);
    this.write(cg, frozen);
  }
  freezeState(cg: string): FreezeState | undefined {
    const c = this.cgs.get(cg);
    return c && { id: c.id, frozen: c.frozen, writtenNs: String(c.writes) };
  }
}

class MemoryStore implements FrozenStore {
  readonly where = '/run/forkwatch/frozen-cgroups.json';
  saved: FrozenEntry[][] = [];
  constructor(public entries: FrozenEntry[] = []) {}
  load = () => this.entries;
  save = (e: FrozenEntry[]) => void this.saved.push(structuredClone(e));
}

describe('verdict', () => {
  const e: FrozenEntry = { cgroup: '/a', group: 'g', id: '7', writtenNs: '100' };
  it.each<[string, FrozenEntry, FreezeState | undefined, string]>([
    ['untouched since our write', e, { id: '7', frozen: true, writtenNs: '100' }, 'ours'],
    ['the cgroup is gone', e, undefined, 'gone'],
    ['removed and made again at the same path', e, { id: '8', frozen: true, writtenNs: '100' }, 'replaced'],
    ['written since (thawed and frozen again)', e, { id: '7', frozen: true, writtenNs: '250' }, 'rewritten'],
    ['written since (thawed)', e, { id: '7', frozen: false, writtenNs: '250' }, 'rewritten'],
    ['our write never happened', { ...e, writtenNs: undefined }, { id: '7', frozen: false, writtenNs: '5' }, 'thawed'],
    ['ended right after our write', { ...e, writtenNs: undefined }, { id: '7', frozen: true, writtenNs: '5' }, 'ours'],
  ])('%s', (_name, entry, now, want) => {
    expect(verdict(entry, now)).toBe(want);
  });
});

describe('Freezer', () => {
  it('records a freeze before writing cgroup.freeze, then with its mtime; forgets it once thawed', () => {
    const io = new Cgroups();
    io.add('/a');
    const store = new MemoryStore();
    const f = new Freezer(io, store, new RecordingLog());
    expect(f.freeze('g', ['/a'])).toEqual(['/a']);
    expect(store.saved).toEqual([[{ cgroup: '/a', group: 'g', id: '7' }], [{ cgroup: '/a', group: 'g', id: '7', writtenNs: '1' }]]);
    expect(f.thaw('g')).toEqual(['/a']);
    expect(store.saved.at(-1)).toEqual([]);
    expect(io.log).toEqual(['/a=1', '/a=0']);
  });

  it('leaves alone a cgroup someone else froze, before or after us', () => {
    const io = new Cgroups();
    io.add('/theirs', '1', true);
    io.add('/ours');
    const log = new RecordingLog();
    const f = new Freezer(io, new MemoryStore(), log);
    expect(f.freeze('g', ['/theirs', '/ours'])).toEqual(['/ours']);
    io.write('/ours', false);
    io.write('/ours', true); // an operator's own freeze
    expect(f.thaw('g')).toEqual([]);
    f.stop();
    expect(io.log).toEqual(['/ours=1']);
    expect(log.lines).toEqual([
      'warn: group g: /theirs is frozen already, by someone else: left as it is, and not thawed by forkwatch',
      "warn: group g: left /ours frozen: its cgroup.freeze was written after the freeze of this agent, so the freeze is someone else's now",
    ]);
  });

  it('a failed write is not recorded, and the error goes to the caller', () => {
    const io = new Cgroups();
    io.add('/a');
    io.fail = true;
    const store = new MemoryStore();
    const f = new Freezer(io, store, new RecordingLog());
    expect(() => f.freeze('g', ['/a'])).toThrow(/EBUSY/);
    expect(store.saved.at(-1)).toEqual([]);
  });

  it('stop() thaws every group; recover() thaws what an earlier agent left, except what was made again', () => {
    const io = new Cgroups();
    io.add('/a');
    io.add('/b', '9', true);
    io.add('/c', '3', true);
    const log = new RecordingLog();
    const store = new MemoryStore([
      { cgroup: '/a', group: 'x', id: '7', writtenNs: '0' }, // thawed by hand since: nothing to do
      { cgroup: '/b', group: 'y', id: '9', writtenNs: '0' },
      { cgroup: '/c', group: 'z', id: '2', writtenNs: '0' }, // another cgroup at that path now
    ]);
    new Freezer(io, store, log).recover();
    expect(io.log).toEqual(['/b=0']);
    expect(log.lines).toEqual(['warn: group y: thawed /b, frozen by an agent that ended without thawing it']);
    expect(store.saved.at(-1)).toEqual([]);

    const f = new Freezer(io, store, log);
    f.freeze('p', ['/a']);
    f.stop();
    expect(log.lines.at(-1)).toBe('warn: group p: thawed /a, which it froze, as it stops');
  });

  it('an unreadable record is a warning at start, not a crash', () => {
    const log = new RecordingLog();
    const store = new MemoryStore();
    store.load = () => {
      throw new SyntaxError('Unexpected token } in JSON at position 7');
    };
    new Freezer(new Cgroups(), store, log).recover();
    expect(log.lines).toEqual([
      'warn: frozen cgroups: cannot read /run/forkwatch/frozen-cgroups.json: Unexpected token } in JSON at position 7; nothing thawed',
    ]);
  });
});

describe('FrozenFile', () => {
  const file = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-frozen-'));
    dirs.push(d);
    return path.join(d, 'run', 'frozen-cgroups.json');
  };

  it('writes the whole record by rename (0600, directory made 0700), and removes it when empty', () => {
    const p = file();
    const f = new FrozenFile(p, 'boot1');
    expect(f.load()).toEqual([]);
    const e = { cgroup: '/a', group: 'g', id: '7', writtenNs: '5' };
    f.save([e]);
    expect(fs.statSync(p).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(p)).mode & 0o777).toBe(0o700);
    expect(fs.readdirSync(path.dirname(p))).toEqual(['frozen-cgroups.json']);
    expect(new FrozenFile(p, 'boot1').load()).toEqual([e]);
    f.save([]);
    expect(fs.existsSync(p)).toBe(false);
  });

  it('ignores a record of another boot and entries that are not cgroup paths', () => {
    const p = file();
    new FrozenFile(p, 'boot1').save([{ cgroup: '/a', group: 'g', id: '7' }]);
    expect(new FrozenFile(p, 'boot2').load()).toEqual([]);
    fs.writeFileSync(
      p,
      JSON.stringify({ boot_id: 'boot1', frozen: [{ cgroup: '/../../etc', group: 'g', id: '1' }, { cgroup: 'rel', group: 'g', id: '1' }, 5, null] }),
    );
    expect(new FrozenFile(p, 'boot1').load()).toEqual([]);
    fs.writeFileSync(p, '{"boot_id": "boot1", "fro');
    expect(() => new FrozenFile(p, 'boot1').load()).toThrow(SyntaxError);
  });
});
