/**
 * LogFollower (forkwatch logs -f) against rotations done by hand the way the relay does them
 * (shift .N up from the oldest, then the name to .1, then a new name), at the moments a slow
 * reader meets them: a file made, filled and rotated while the name was still empty for the
 * follower, a rotation caught half done (a name emptied while the files move up), and two
 * rotations between two names of one walk of the rotated files (the fast-writer case that once
 * put a newer file's lines before an older one's, and then repeated them).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogFollower, openLog, walkRotated } from '../../src/supervisor/log-files.js';

describe('LogFollower across rotations', () => {
  let dir: string;
  let file: string;
  let lines: string[];
  let notices: string[];
  let follower: LogFollower;
  const write = (name: string, ...text: string[]) => fs.appendFileSync(path.join(dir, name), text.map((t) => t + '\n').join(''));
  const move = (from: string, to: string) => fs.renameSync(path.join(dir, from), path.join(dir, to));
  /** A rotation as the relay does it: .N up from the oldest, the name to .1, then a new name with `text`. */
  const rotate = (...text: string[]) => {
    const kept = fs.readdirSync(dir).filter((f) => /^p\.log\.\d+$/.test(f));
    for (let k = kept.length; k >= 1; k--) move(`p.log.${k}`, `p.log.${k + 1}`);
    move('p.log', 'p.log.1');
    write('p.log', ...text);
  };
  /** step() until it finds nothing more. */
  const settle = async () => {
    while (await follower.step());
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-follow-'));
    file = path.join(dir, 'p.log');
    lines = [];
    notices = [];
    write('p.log', 'a1', 'a2');
    follower = new LogFollower(
      file,
      { fd: openLog(file), pos: 0 },
      async (batch) => void lines.push(...batch.map((b) => b.toString())),
      (m) => notices.push(m),
    );
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds a file made, filled and rotated away while the name was empty at its last look', async () => {
    await settle();
    write('p.log', 'a3');
    move('p.log', 'p.log.1'); // the relay renamed; its new file is not there yet
    expect(await follower.step()).toBe(true);
    await settle();
    expect(lines).toEqual(['a1', 'a2', 'a3']);

    // Before the follower looks again: a new file, filled, rotated, and another after it.
    write('p.log', 'b1', 'b2');
    move('p.log.1', 'p.log.2');
    move('p.log', 'p.log.1');
    write('p.log', 'c1');
    await settle();
    expect(lines).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'c1']);
    expect(notices).toEqual([]);
  });

  it('waits out a rotation caught half done instead of calling its files missed', async () => {
    await settle();
    // a is rotated to .3 with b, c after it, and d is the name.
    write('p.log', 'a3');
    move('p.log', 'p.log.1');
    write('p.log', 'b1');
    move('p.log.1', 'p.log.2');
    move('p.log', 'p.log.1');
    write('p.log', 'c1');
    move('p.log.2', 'p.log.3');
    move('p.log.1', 'p.log.2');
    move('p.log', 'p.log.1');
    write('p.log', 'd1');
    // The next rotation, half done: .3 -> .4 and .2 -> .3 moved, .2 empty until the rest moves.
    move('p.log.3', 'p.log.4');
    move('p.log.2', 'p.log.3');
    setTimeout(() => {
      move('p.log.1', 'p.log.2');
      move('p.log', 'p.log.1');
      write('p.log', 'e1');
    }, 30);
    await settle();
    await new Promise((r) => setTimeout(r, 60));
    await settle();
    expect(lines).toEqual(['a1', 'a2', 'a3', 'b1', 'c1', 'd1', 'e1']);
    expect(notices).toEqual([]);
  });

  it('says so when the file it was reading is gone past the ones kept, and goes on with what is there', async () => {
    await settle();
    write('p.log', 'a3');
    move('p.log', 'p.log.1');
    fs.rmSync(path.join(dir, 'p.log.1')); // keep 0, or rotated past keep
    write('p.log', 'b1');
    await settle();
    expect(lines).toEqual(['a1', 'a2', 'a3', 'b1']);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain('rotated past the files kept');
  });

  it('walks the rotated files again when two rotations pass between two of its names', async () => {
    await settle();
    write('p.log', 'a3');
    const a = fs.statSync(file);
    rotate('b1'); // a at .1, b the name
    // The walk opens the name (b); before it opens .1, b is rotated and so is a new c after it.
    let once = true;
    const during = (i: number) => {
      if (i !== 0 || !once) return;
      once = false;
      rotate('c1');
      rotate('d1');
    };
    const walk = walkRotated(file, a, during);
    const met = walk.chain.map((c) => fs.readFileSync(c.fd, 'utf8'));
    for (const c of walk.chain) fs.closeSync(c.fd);
    // What it met, newest first as it believes: b, then c, which is newer than b: out of order.
    expect(walk.found).toBe(true);
    expect(met).toEqual(['b1\n', 'c1\n']);
    expect(walk.stable).toBe(false);
    // Left alone, the same walk is stable.
    const again = walkRotated(file, a);
    for (const c of again.chain) fs.closeSync(c.fd);
    expect(again).toMatchObject({ found: true, stable: true });
    expect(again.chain).toHaveLength(3); // d (the name), c, b
  });

  it('reads each line once and in order when the files move under its walk', async () => {
    const mine = new LogFollower(
      file,
      { fd: openLog(file), pos: 0 },
      async (batch) => void lines.push(...batch.map((b) => b.toString())),
      (m) => notices.push(m),
      (i) => {
        if (i === 0 && rotations-- > 0) {
          rotate(`x${rotations}`);
          rotate(`y${rotations}`);
        }
      },
    );
    let rotations = 0;
    while (await mine.step());
    write('p.log', 'a3');
    rotate('b1');
    rotations = 1; // the follower's walk for b meets two more rotations between the name and .1
    while (await mine.step());
    expect(lines).toEqual(['a1', 'a2', 'a3', 'b1', 'x0', 'y0']);
    expect(notices).toEqual([]);
  });

  it('goes on from where a file is cut back (a torn write undone), repeating no line', async () => {
    await settle();
    const size = () => fs.statSync(file).size;
    // A write cut short: b1 whole, b2 torn; the relay cuts the file back to where the write began.
    const before = size();
    fs.appendFileSync(file, 'b1\nb');
    await settle();
    fs.truncateSync(file, before);
    await settle();
    write('p.log', 'c1');
    await settle();
    // b1 was shown before the cut took it back (the relay then writes how many lines it lost).
    expect(lines).toEqual(['a1', 'a2', 'b1', 'c1']);
    // Cut within a line not yet complete: what is left of it goes on.
    fs.appendFileSync(file, 'd1d1');
    await settle();
    fs.truncateSync(file, size() - 2);
    await settle();
    fs.appendFileSync(file, 'xx\n');
    await settle();
    expect(lines).toEqual(['a1', 'a2', 'b1', 'c1', 'd1xx']);
    // Cut to nothing (a new start): read from the start.
    fs.truncateSync(file, 0);
    await settle();
    write('p.log', 'e1');
    await settle();
    expect(lines).toEqual(['a1', 'a2', 'b1', 'c1', 'd1xx', 'e1']);
    expect(notices).toEqual([]);
  });
});
