/**
 * The event file exporter: the stream's events as NDJSON (the /events JSON, one event a line) in
 * a file rotated by size (path.1 newest … path.<keep>), or on standard output, for a log shipper
 * (Fluent Bit, Vector, filebeat) to read. The events of one loop turn go out in one write of
 * whole lines; a rotation happens between lines, so a reader never sees half a line, and a write
 * that fails part way (a full disk) is cut back to the last whole line and its events counted
 * dropped. Writes to the file are synchronous, like the accounting log's: the file is local and
 * the batch is one turn's events. Standard output is written as Node writes it (synchronously
 * for files and pipes on Linux), with what it has not taken yet held and bounded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { EnvironmentError } from '../errors.js';
import { rotateFiles } from '../beancounters/log.js';
import { eventJson, type StreamEvent } from '../stream/bus.js';
import type { ExportCounts, Exporter } from './exporter.js';

export interface FileExporterOptions {
  /** An absolute path, or '-' for standard output. */
  path: string;
  max_bytes: number;
  keep: number;
  /** Events held between two writes (or for a slow stdout) at most; the oldest go past it. */
  bufferEvents?: number;
  warn?: (message: string) => void;
  /** Exits keep their ancestors (the filter's `ancestors`); without it they are left out, as /events does. */
  ancestors?: boolean;
  /** Where '-' writes (tests give their own stream). */
  stdout?: NodeJS.WritableStream;
}

export class FileExporter implements Exporter {
  readonly name = 'file';
  private fd: number | undefined;
  private size = 0;
  private pending: string[] = [];
  private scheduled = false;
  private sent = 0;
  private dropped = 0;
  /** Lines handed to stdout not yet written out. */
  private inStdout = 0;
  private failing = false;
  private readonly cap: number;
  private readonly warn: (message: string) => void;

  constructor(private readonly o: FileExporterOptions) {
    this.cap = o.bufferEvents ?? 100_000;
    this.warn = o.warn ?? (() => undefined);
  }

  /** A file that cannot be opened stops the agent at start, in one line. */
  start(): Promise<void> {
    try {
      if (this.o.path !== '-') this.open();
    } catch (err) {
      return Promise.reject(new EnvironmentError(`export.file: cannot open ${this.o.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`));
    }
    return Promise.resolve();
  }

  publish(event: StreamEvent): void {
    this.pending.push(eventJson(event, this.o.ancestors === true) + '\n');
    if (this.pending.length + this.inStdout > this.cap) {
      this.pending.shift();
      this.dropped++;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  async stop(): Promise<void> {
    this.flush();
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    if (this.o.path === '-' && this.inStdout > 0) {
      const out = this.o.stdout ?? process.stdout;
      await new Promise<void>((resolve) => out.write('', () => resolve()));
    }
  }

  counts(): ExportCounts {
    return { sent: this.sent, dropped: this.dropped, queued: this.pending.length + this.inStdout };
  }

  private flush(): void {
    this.scheduled = false;
    const lines = this.pending;
    this.pending = [];
    if (lines.length === 0) return;
    if (this.o.path === '-') return this.toStdout(lines);
    let chunk = '';
    let n = 0;
    let chunkBytes = 0;
    for (const line of lines) {
      const bytes = Buffer.byteLength(line);
      if (this.size + chunkBytes > 0 && this.size + chunkBytes + bytes > this.o.max_bytes) {
        this.write(chunk, n);
        this.rotate();
        chunk = '';
        n = 0;
        chunkBytes = 0;
      }
      chunk += line;
      n++;
      chunkBytes += bytes;
    }
    this.write(chunk, n);
  }

  private toStdout(lines: string[]): void {
    const out = this.o.stdout ?? process.stdout;
    const n = lines.length;
    this.inStdout += n;
    out.write(lines.join(''), (err) => {
      this.inStdout -= n;
      if (err) this.dropped += n;
      else this.sent += n;
    });
  }

  /** One write of whole lines; a partial one is cut back to where it began. */
  private write(chunk: string, lines: number): void {
    if (lines === 0) return;
    const buf = Buffer.from(chunk);
    let off = 0;
    try {
      if (this.fd === undefined) this.open();
      while (off < buf.length) off += fs.writeSync(this.fd!, buf, off, buf.length - off);
      this.size += buf.length;
      this.sent += lines;
      if (this.failing) this.warn(`export.file: writing ${this.o.path} again`);
      this.failing = false;
    } catch (err) {
      if (off > 0 && this.fd !== undefined) {
        try {
          fs.ftruncateSync(this.fd, this.size);
        } catch {
          // The size is read again at the next open.
          this.close();
        }
      }
      this.dropped += lines;
      if (!this.failing) this.warn(`export.file: cannot write ${this.o.path}: ${(err as Error).message}; events are dropped (counted) until it works again`);
      this.failing = true;
    }
  }

  private rotate(): void {
    this.close();
    try {
      rotateFiles(this.o.path, this.o.keep);
    } catch (err) {
      this.warn(`export.file: cannot rotate ${this.o.path}: ${(err as Error).message}; it grows past max_bytes until a rotation works`);
    }
    // The next write opens the new file (and says so if it cannot).
  }

  private open(): void {
    fs.mkdirSync(path.dirname(this.o.path), { recursive: true });
    this.fd = fs.openSync(this.o.path, 'a', 0o640);
    this.size = fs.fstatSync(this.fd).size;
  }

  private close(): void {
    if (this.fd === undefined) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // Already gone.
    }
    this.fd = undefined;
  }
}
