/**
 * The accounting log: one JSON object per line (release records, crossings), appended to a file
 * that is rotated by size. An I/O adapter; writes are synchronous because records are rare (one per
 * released group or crossing) and a record half-written at a crash is worse than a short block.
 *
 * A full disk (or any failed write) never leaves part of a line: a write that stops part way is
 * cut back to where the line began, and a file that does not end in a newline (an agent killed
 * mid-write) is cut back to its last whole line before the next one is added. Records that could
 * not be written wait in memory, up to MAX_WAITING_BYTES, and go out in order with the next record
 * or flush(). A rotation that fails is retried with the next record, which is written to the
 * current file meanwhile: a log past max_bytes is better than a log that stopped.
 */
import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Where the log goes and how much of it is kept. */
export interface NdjsonLogOptions {
  path: string;
  /** Rotate before a line would take the file past this size. */
  max_bytes: number;
  /** Rotated files kept: path.1 (newest) … path.<keep>; 0 keeps none. */
  keep: number;
}

/** Why the log failed: a write (the record waits), a rotation (the file grows on), a record dropped (too many waited). */
export const LOG_ERROR_REASONS = ['write', 'rotate', 'dropped'] as const;
export type LogErrorReason = (typeof LOG_ERROR_REASONS)[number];
export type LogErrorCounts = Record<LogErrorReason, number>;

export const noLogErrors = (): LogErrorCounts => ({ write: 0, rotate: 0, dropped: 0 });

/** What the log reports to: counters it adds to (shared across reopened logs) and a warning line. */
export interface NdjsonLogReport {
  errors?: LogErrorCounts;
  /** Called when writing or rotating starts failing and when it works again (not per record). */
  warn?: (message: string) => void;
}

/** Records that wait for a failing log at most; the oldest are dropped (and counted) past it. */
export const MAX_WAITING_BYTES = 1 << 20;

/**
 * Appends NDJSON records to `path`, rotating to `path.1` … `path.<keep>` by size. The size is
 * read from the file at every append, so an outside logrotate or a deleted file is noticed.
 */
export class NdjsonLog {
  readonly path: string;
  /** Failures so far, by reason (the counters given, or its own). */
  readonly errors: LogErrorCounts;
  readonly #max: number;
  readonly #keep: number;
  readonly #warn: (message: string) => void;
  readonly #waiting: string[] = [];
  #waitingBytes = 0;
  #writeFailing = false;
  /** Records that waited when the last write failed. */
  #waited = 0;
  #rotateFailing = false;

  constructor(opts: NdjsonLogOptions, report: NdjsonLogReport = {}) {
    if (!(opts.max_bytes > 0)) throw new RangeError(`log max_bytes must be > 0, got ${opts.max_bytes}`);
    if (!Number.isInteger(opts.keep) || opts.keep < 0) throw new RangeError(`log keep must be an integer >= 0, got ${opts.keep}`);
    this.path = opts.path;
    this.#max = opts.max_bytes;
    this.#keep = opts.keep;
    this.errors = report.errors ?? noLogErrors();
    this.#warn = report.warn ?? (() => undefined);
  }

  /** Records waiting for the log to work again. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Appends one record as one line, after any that wait. A record bigger than max_bytes still
   * gets a file of its own. Does not throw for I/O: a failure is counted and the record waits.
   */
  append(record: unknown): void {
    const line = JSON.stringify(record) + '\n';
    this.#waiting.push(line);
    this.#waitingBytes += Buffer.byteLength(line);
    while (this.#waitingBytes > MAX_WAITING_BYTES && this.#waiting.length > 1) {
      this.#waitingBytes -= Buffer.byteLength(this.#waiting.shift()!);
      this.errors.dropped++;
    }
    this.flush();
  }

  /** Writes the records that wait, oldest first; stops at the first failure (they wait on). */
  flush(): void {
    while (this.#waiting.length > 0) {
      const line = this.#waiting[0];
      try {
        this.#write(line);
      } catch (err) {
        this.errors.write++;
        if (!this.#writeFailing)
          this.#warn(`accounting log: cannot write ${this.path}: ${(err as Error).message}; records wait (up to 1 MiB) until it works again`);
        this.#writeFailing = true;
        this.#waited = this.#waiting.length;
        return;
      }
      this.#waiting.shift();
      this.#waitingBytes -= Buffer.byteLength(line);
    }
    if (this.#writeFailing) {
      this.#writeFailing = false;
      this.#warn(`accounting log: writing ${this.path} again; ${this.#waited} records had waited`);
    }
  }

  /** Shifts path → path.1 → … → path.<keep>, dropping the oldest. Throws what fs threw. */
  rotate(): void {
    rotateFiles(this.path, this.#keep);
  }

  #write(line: string): void {
    const bytes = Buffer.from(line);
    mkdirSync(dirname(this.path), { recursive: true });
    const size = sizeOf(this.path);
    if (size > 0 && size + bytes.length > this.#max) this.#tryRotate();
    appendWhole(this.path, bytes);
  }

  #tryRotate(): void {
    try {
      this.rotate();
      if (this.#rotateFailing) this.#warn(`accounting log: rotating ${this.path} again`);
      this.#rotateFailing = false;
    } catch (err) {
      this.errors.rotate++;
      if (!this.#rotateFailing)
        this.#warn(`accounting log: cannot rotate ${this.path}: ${(err as Error).message}; it grows past max_bytes until a rotation works`);
      this.#rotateFailing = true;
    }
  }
}

/**
 * Shifts path → path.1 → … → path.<keep>, dropping the oldest (keep 0: path is removed). Throws
 * what fs threw. The event file exporter (src/export/file.ts) rotates the same way.
 */
export function rotateFiles(path: string, keep: number): void {
  if (keep === 0) {
    removeIfThere(path);
    return;
  }
  removeIfThere(`${path}.${keep}`);
  for (let i = keep - 1; i >= 1; i--) renameIfThere(`${path}.${i}`, `${path}.${i + 1}`);
  renameIfThere(path, `${path}.1`);
}

/** Appends a whole line or nothing: a write that fails part way is cut back to where it began. */
function appendWhole(path: string, bytes: Buffer): void {
  const fd = openSync(path, 'a+', 0o640); // appends; read too, to find the last whole line
  try {
    const start = wholeLines(fd);
    let off = 0;
    try {
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    } catch (err) {
      if (off > 0) {
        try {
          ftruncateSync(fd, start);
        } catch {
          // Cut back before the next line instead (wholeLines).
        }
      }
      throw err;
    }
  } finally {
    closeSync(fd);
  }
}

/** The file's size once it ends in a whole line: a torn last line (a crash, a failed cut) is removed. */
function wholeLines(fd: number): number {
  const size = fstatSync(fd).size;
  if (size === 0) return 0;
  const buf = Buffer.alloc(4096);
  let end = size;
  while (end > 0) {
    const from = Math.max(0, end - buf.length);
    const n = readSync(fd, buf, 0, end - from, from);
    const nl = buf.subarray(0, n).lastIndexOf(0x0a);
    if (nl >= 0) {
      const keep = from + nl + 1;
      if (keep !== size) ftruncateSync(fd, keep);
      return keep;
    }
    end = from;
  }
  ftruncateSync(fd, 0);
  return 0;
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch (err) {
    if (isMissing(err)) return 0;
    throw err;
  }
}

function removeIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
}

// Gaps in the series (keep raised since the last rotation, files removed by hand) are not errors.
function renameIfThere(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
