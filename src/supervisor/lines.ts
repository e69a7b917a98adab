/**
 * Cut a program's output into lines for the logger. A byte stream can split a line, or a UTF-8
 * character, across chunks, and a program may write megabytes without a newline: lines longer
 * than `maxChars` are cut so one program cannot grow the agent's memory without bound.
 */
import { StringDecoder } from 'node:string_decoder';

/** Incremental line splitter over chunks of UTF-8. */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(private readonly maxChars = 16 * 1024) {}

  /** Complete lines found after adding `chunk` (without their newline; a trailing \r is dropped). */
  push(chunk: Buffer | string): string[] {
    const text = this.partial + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    const lines = parts.map(stripCR);
    while (this.partial.length > this.maxChars) {
      lines.push(this.partial.slice(0, this.maxChars));
      this.partial = this.partial.slice(this.maxChars);
    }
    return lines;
  }

  /** Whatever is left when the stream ends (a last line without newline). */
  end(): string[] {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    return rest === '' ? [] : [stripCR(rest)];
  }
}

function stripCR(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}
