/** HTTP over a raw socket, for requests no HTTP client would send (malformed, slow, pipelined). */
import net from 'node:net';

export interface RawAnswer {
  /** Status codes of the responses read, in order. */
  statuses: number[];
  /** The connection closed (or reset) before any response came. */
  droppedWithoutReply: boolean;
  /** Nothing came and the connection stayed open until the wait ran out. */
  timedOut: boolean;
  raw: string;
}

export interface RawOptions {
  port?: number;
  socketPath?: string;
  /** How long to wait for the answers (and the close) at most. */
  timeoutMs?: number;
  /** Stop once this many responses were read. */
  expect?: number;
  /** Sends `data` in pieces, this far apart (a slow client). */
  chunk?: { bytes: number; everyMs: number };
}

/** Counts complete responses in `raw` (status line, headers, a Content-Length body). */
export function parseResponses(raw: string): { statuses: number[]; complete: number } {
  const statuses: number[] = [];
  let at = 0;
  let complete = 0;
  for (;;) {
    const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(raw.slice(at));
    if (!m) break;
    statuses.push(Number(m[1]));
    const end = raw.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const head = raw.slice(at, end);
    const len = /\r\ncontent-length: *(\d+)/i.exec(head);
    const bodyEnd = end + 4 + (len ? Number(len[1]) : 0);
    if (raw.length < bodyEnd) break;
    complete++;
    at = bodyEnd;
  }
  return { statuses, complete };
}

/** Writes `data` on a new connection and reads what comes back until `expect` responses, a close, or the timeout. */
export function rawRequest(data: string | Buffer, o: RawOptions): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const sock = o.socketPath ? net.connect(o.socketPath) : net.connect(o.port!, '127.0.0.1');
    let raw = '';
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (timedOut: boolean) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      sock.destroy();
      const { statuses } = parseResponses(raw);
      resolve({ statuses, droppedWithoutReply: !timedOut && statuses.length === 0, timedOut: timedOut && statuses.length === 0, raw });
    };
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      raw += d;
      if (o.expect !== undefined && parseResponses(raw).complete >= o.expect) finish(false);
    });
    sock.on('close', () => finish(false));
    sock.on('error', () => finish(false));
    timers.push(setTimeout(() => finish(true), o.timeoutMs ?? 5000));
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    if (!o.chunk) {
      sock.write(buf);
      return;
    }
    const { bytes, everyMs } = o.chunk;
    let off = 0;
    const step = () => {
      if (settled || off >= buf.length) return;
      sock.write(buf.subarray(off, off + bytes));
      off += bytes;
      timers.push(setTimeout(step, everyMs));
    };
    step();
  });
}
