/**
 * Reading program logs (config program_logs), as the log relay (log-relay.ts) writes them:
 * `<dir>/<name>.log`, rotated to `<name>.log.1` (the newest) … `<name>.log.<keep>`, one record per
 * line. The last lines across the files, and following the log across rotations as `tail -F`
 * does, without losing or repeating a line. `forkwatch logs` reads the files, not the agent: they
 * are there while the agent is down or restarting, and their permissions (root's, 0640) are the
 * rule for who may read them.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs';
import path from 'node:path';
import { isValidName, NAME_EXPECTED } from '../config/names.js';
import { errnoCode, UsageError } from '../errors.js';

const CHUNK = 64 * 1024;
/** Rotated files looked at, at most (program_logs.keep's bound). */
const MAX_ROTATED = 1000;
const NEWLINE = 0x0a;

/** `<dir>/<program>.log`; a name no program can have (one that would leave the directory) is a UsageError. */
export function logPath(dir: string, program: string): string {
  if (!isValidName(program) || program.startsWith('cgroup.')) {
    throw new UsageError(`program name ${JSON.stringify(program)} is not a valid name; expected ${NAME_EXPECTED}`);
  }
  return path.join(dir, `${program}.log`);
}

/** Opens a log file for reading; null when it is not there. Other errors are thrown as fs gave them. */
export function openLog(file: string): number | null {
  try {
    return openSync(file, 'r');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}

/** Where reading stopped: the file (null: none yet) and the offset after its last complete line. */
export interface LogPosition {
  fd: number | null;
  pos: number;
}

/**
 * The last `n` complete lines of the log (the current file, then the rotated ones as far as
 * needed), oldest first, without their newlines; and the position after the current file's last
 * complete line, to follow from. The fd is the caller's to close.
 */
export function lastLines(file: string, n: number): { lines: Buffer[]; at: LogPosition } {
  const fd = openLog(file);
  if (fd === null) return { lines: [], at: { fd: null, pos: 0 } };
  const { lines, end } = readBack(fd, fstatSync(fd).size, n);
  for (let i = 1; i <= MAX_ROTATED && lines.length < n; i++) {
    const older = openLog(`${file}.${i}`);
    if (older === null) break;
    try {
      lines.unshift(...readBack(older, fstatSync(older).size, n - lines.length).lines);
    } finally {
      closeSync(older);
    }
  }
  return { lines, at: { fd, pos: end } };
}

/** The last `n` complete lines before `end`, and where the last complete line ends. */
function readBack(fd: number, end: number, n: number): { lines: Buffer[]; end: number } {
  const chunks: Buffer[] = [];
  let start = end;
  let newlines = 0;
  // n lines need n + 1 newlines unless the file's start comes first; one more finds the end.
  while (start > 0 && newlines < n + 1) {
    const len = Math.min(CHUNK, start);
    start -= len;
    const chunk = readAt(fd, start, len);
    chunks.unshift(chunk);
    for (const b of chunk) if (b === NEWLINE) newlines++;
    if (n === 0 && newlines > 0) break;
  }
  const text = Buffer.concat(chunks);
  const last = text.lastIndexOf(NEWLINE);
  const complete = last < 0 ? 0 : last + 1;
  const parts = splitLines(text.subarray(0, complete));
  if (start > 0 && parts.length > 0) parts.shift(); // begins before what was read
  return { lines: n === 0 ? [] : parts.slice(-n), end: start + complete };
}

function readAt(fd: number, pos: number, len: number): Buffer {
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** Lines of a buffer that ends with a newline (or is empty), without the newlines. */
function splitLines(buf: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let from = 0;
  for (let i = buf.indexOf(NEWLINE); i >= 0; i = buf.indexOf(NEWLINE, from)) {
    lines.push(buf.subarray(from, i));
    from = i + 1;
  }
  return lines;
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.dev === b.dev;
}

/** A name's file now; null when the name is empty. */
function statName(name: string): Stats | null {
  return statSync(name, { throwIfNoEntry: false }) ?? null;
}

/**
 * The files rotated after `old`, newest first (the name, then .1, .2, … until `old`), each open;
 * `found`: `old` was met; `stable`: every name walked holds the file it held when walked (or is
 * still empty). One rotation during a walk is harmless: it moves the files up from the oldest, so a
 * file may be met twice (kept once) but never passed or met out of order. Two or more can put a
 * newer file after an older one (a file made and rotated to `.1` after the walk passed the name),
 * and a rotation under way can empty a name (then `found` is false): a walk that is not both found
 * and stable is walked again. `afterOpen` is a test's way in, between two names.
 */
export function walkRotated(
  file: string,
  old: Stats,
  afterOpen?: (i: number) => void,
): { chain: Array<{ fd: number; st: Stats }>; found: boolean; stable: boolean } {
  const chain: Array<{ fd: number; st: Stats }> = [];
  const name = (i: number) => (i === 0 ? file : `${file}.${i}`);
  const seen: Array<Stats | null> = [];
  let found = false;
  for (let i = 0; i <= MAX_ROTATED + 1; i++) {
    const fd = openLog(name(i));
    afterOpen?.(i);
    if (fd === null) {
      seen.push(null);
      if (i === 0) continue;
      break;
    }
    const st = fstatSync(fd);
    seen.push(st);
    if (sameFile(st, old)) {
      closeSync(fd);
      found = true;
      break;
    }
    if (chain.some((c) => sameFile(c.st, st))) closeSync(fd);
    else chain.push({ fd, st });
  }
  const stable = seen.every((st, i) => {
    const now = statName(name(i));
    return st === null || now === null ? st === now : sameFile(st, now);
  });
  return { chain, found, stable };
}

/**
 * Follows a log from a position: each complete line once, in order, across rotations. At the
 * end of its file it looks whether the name now holds another file; if so it reads the old one
 * to its end, then every file rotated after it (found by walking `.1`, `.2`, … up to the old
 * file, the direction rotation moves them, so none is skipped), then the new one.
 */
export class LogFollower {
  private fd: number | null;
  private pos: number;
  private partial: Buffer = Buffer.alloc(0);
  /** The file read to its end last, while no file after it is open (between a rotation's rename and its new file). */
  private after: Stats | null = null;

  constructor(
    private readonly file: string,
    from: LogPosition,
    /** Gets each batch of complete lines; the follower waits for it (backpressure). */
    private readonly emit: (lines: Buffer[]) => Promise<void>,
    /** A line for the person reading (stderr): lines may have been missed. */
    private readonly notice: (message: string) => void,
    /** Tests only: called between two names of every walk of the rotated files (walkRotated). */
    private readonly afterOpen?: (i: number) => void,
  ) {
    this.fd = from.fd;
    this.pos = from.pos;
  }

  /** Follows until the process ends; the directory is watched (inotify), and looked at once a second anyway. */
  async run(): Promise<never> {
    let wake: (() => void) | null = null;
    let watcher: FSWatcher | null = null;
    try {
      watcher = watch(path.dirname(this.file), () => wake?.());
      watcher.on('error', () => undefined);
    } catch {
      // No inotify (limits): the timer alone, more often.
    }
    const idleMs = watcher ? 1000 : 200;
    for (;;) {
      if (await this.step()) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, idleMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  }

  /** Reads what is new, handling a rotation; false when there was nothing. */
  async step(): Promise<boolean> {
    if (this.fd === null) {
      if (this.after) return this.catchUp();
      this.fd = openLog(this.file);
      this.pos = 0;
      if (this.fd === null) return false;
    }
    if (await this.readOn()) return true;
    const mine = fstatSync(this.fd);
    const named = statName(this.file);
    if (named && sameFile(named, mine)) {
      if (mine.size >= this.pos) return false;
      // Cut back. The relay does it to undo a write a full disk cut short: the file ends again where
      // that write began, a record's start, and the lines before it are as they were. So it goes on
      // from the new end, keeping what is left of a line not yet complete; cut to nothing, that is
      // the start. (Reading it again from the start would repeat every line before the cut.)
      const lineStart = this.pos - this.partial.length;
      this.partial = mine.size > lineStart ? Buffer.from(this.partial.subarray(0, mine.size - lineStart)) : Buffer.alloc(0);
      this.pos = mine.size;
      return true;
    }
    await this.readOn(); // what was written before the rename
    await this.flushPartial();
    closeSync(this.fd);
    this.fd = null;
    this.after = mine;
    await this.catchUp();
    return true;
  }

  /**
   * Reads every file rotated after the one finished last (`after`), oldest first, and goes on with
   * the newest. None yet (the name is empty between a rotation's rename and its new file): false,
   * and `after` is kept, so a file made, filled and rotated before the next look is still found
   * (opening the name then would pass it).
   */
  private async catchUp(): Promise<boolean> {
    const after = this.after!;
    let walk = walkRotated(this.file, after, this.afterOpen);
    // A rotation under way empties a name for a moment while it moves the files up, and rotations
    // during the walk can reorder what it met (under the relay's lock, which Node cannot take):
    // look again before calling anything missed or reading anything out of order.
    for (let tries = 0; !(walk.found && walk.stable) && tries < 20; tries++) {
      for (const c of walk.chain) closeSync(c.fd);
      await new Promise((r) => setTimeout(r, 5));
      walk = walkRotated(this.file, after, this.afterOpen);
    }
    if (!walk.found) this.notice(`${this.file} was rotated past the files kept before it was read to its end; lines may be missing`);
    else if (!walk.stable) this.notice(`${this.file} kept rotating while its files were looked up; lines may be repeated or out of order`);
    const [newest, ...older] = walk.chain;
    if (!newest) {
      if (!walk.found) this.after = null; // gone for good: the name, whatever it holds next, from its start
      return false;
    }
    for (const c of older.reverse()) {
      this.fd = c.fd;
      this.pos = 0;
      await this.readOn();
      await this.flushPartial();
      closeSync(c.fd);
    }
    this.fd = newest.fd;
    this.pos = 0;
    this.after = null;
    return true;
  }

  /** Reads to the end of the current file, emitting complete lines; true when anything was read. */
  private async readOn(): Promise<boolean> {
    let any = false;
    for (;;) {
      const chunk = readAt(this.fd!, this.pos, CHUNK);
      if (chunk.length === 0) return any;
      any = true;
      this.pos += chunk.length;
      const text = this.partial.length > 0 ? Buffer.concat([this.partial, chunk]) : chunk;
      const last = text.lastIndexOf(NEWLINE);
      // Copied: the rest must not pin the whole chunk.
      this.partial = Buffer.from(text.subarray(last + 1));
      if (last >= 0) await this.emit(splitLines(text.subarray(0, last + 1)));
    }
  }

  /** A file left for good that does not end in a newline: its last line as it is. */
  private async flushPartial(): Promise<void> {
    if (this.partial.length === 0) return;
    const rest = this.partial;
    this.partial = Buffer.alloc(0);
    await this.emit([rest]);
  }
}
