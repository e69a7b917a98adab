/**
 * The accounting log: one JSON object per line (release records, crossings), appended to a file
 * that is rotated by size. An I/O adapter; writes are synchronous because records are rare (one per
 * released group or crossing) and a record half-written at a crash is worse than a short block.
 */
import { appendFileSync, mkdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';

/** Where the log goes and how much of it is kept. */
export interface NdjsonLogOptions {
  path: string;
  /** Rotate before a line would take the file past this size. */
  max_bytes: number;
  /** Rotated files kept: path.1 (newest) … path.<keep>; 0 keeps none. */
  keep: number;
}

/**
 * Appends NDJSON records to `path`, rotating to `path.1` … `path.<keep>` by size. The size is
 * read from the file at every append, so an outside logrotate or a deleted file is noticed.
 * Errors are thrown as fs raised them (they name the call, the path and the errno).
 */
export class NdjsonLog {
  readonly path: string;
  readonly #max: number;
  readonly #keep: number;
  #dirMade = false;

  constructor(opts: NdjsonLogOptions) {
    if (!(opts.max_bytes > 0)) throw new RangeError(`log max_bytes must be > 0, got ${opts.max_bytes}`);
    if (!Number.isInteger(opts.keep) || opts.keep < 0) throw new RangeError(`log keep must be an integer >= 0, got ${opts.keep}`);
    this.path = opts.path;
    this.#max = opts.max_bytes;
    this.#keep = opts.keep;
  }

  /** Appends one record as one line. A record bigger than max_bytes still gets a file of its own. */
  append(record: unknown): void {
    const line = JSON.stringify(record) + '\n';
    const bytes = Buffer.byteLength(line);
    if (!this.#dirMade) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.#dirMade = true;
    }
    const size = sizeOf(this.path);
    if (size > 0 && size + bytes > this.#max) this.rotate();
    appendFileSync(this.path, line);
  }

  /** Shifts path → path.1 → … → path.<keep>, dropping the oldest. */
  rotate(): void {
    if (this.#keep === 0) {
      removeIfThere(this.path);
      return;
    }
    removeIfThere(`${this.path}.${this.#keep}`);
    for (let i = this.#keep - 1; i >= 1; i--) renameIfThere(`${this.path}.${i}`, `${this.path}.${i + 1}`);
    renameIfThere(this.path, `${this.path}.1`);
  }
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
