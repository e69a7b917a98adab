/**
 * What an exported event carries besides its JSON on NATS, written by the exporter (nats.ts) and
 * read by `tail --from nats://` (tail/nats.ts): the message id `<run>-<seq>` that JetStream
 * dedups on, the `Forkwatch-Prev` link to the event sent before it, the `Forkwatch-Dropped` mark
 * of a stand-in, subject tokens, and which JetStream errors no retry can cure.
 */
import { MsgHdrsImpl } from '@nats-io/transport-node';

/** The header that links an exported event to the one sent before it (its seq; 0: none). */
export const PREV_HEADER = 'Forkwatch-Prev';

const MSG_ID = 'Nats-Msg-Id';

/** The header that marks a dropped event's stand-in (its value: the error code that refused the event). */
export const DROPPED_HEADER = 'Forkwatch-Dropped';

/** The message id: the agent's run and the event's seq, so a retry is stored once. */
export const msgId = (streamId: string, seq: number) => `${streamId}-${seq}`;

/**
 * A message's headers, encoded once for all its attempts. The client's own headers() checks each
 * name and value on set and encodes them again on every publish (6 µs an event, a third of what
 * the exporter spent besides the socket); these values are ours (the run id and numbers) and need
 * no check. The client calls only encode() on a publish's headers; the rest reads the same map.
 */
export class ExportHeaders extends MsgHdrsImpl {
  private readonly wire: Uint8Array;

  /** `dropped`: a stand-in's code (digits or a word of ours, never outside text). */
  constructor(id: string, prev: number, dropped?: string) {
    super();
    this.headers.set(MSG_ID, [id]);
    this.headers.set(PREV_HEADER, [String(prev)]);
    if (dropped !== undefined) this.headers.set(DROPPED_HEADER, [dropped]);
    const mark = dropped === undefined ? '' : `${DROPPED_HEADER}: ${dropped}\r\n`;
    this.wire = Buffer.from(`NATS/1.0\r\n${MSG_ID}: ${id}\r\n${PREV_HEADER}: ${prev}\r\n${mark}\r\n`);
  }

  override encode(): Uint8Array {
    return this.wire;
  }
}

/** A run id as the agent makes them (boot id, pid, start time), with room to spare, and nothing else. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** A seq as String(n) writes a positive safe integer: no sign, no leading zero, at most 16 digits. */
const SEQ = /^[1-9][0-9]{0,15}$/;

/**
 * Where a message sits in its agent's export order, from its headers. They are outside input
 * (anyone who may publish to the stream can write them): anything msgId and PREV_HEADER would not
 * have made gives undefined: a run id of other characters or longer than 64, a seq or prev that
 * is not a safe integer written plainly, a prev not before its seq (0 only for the run's first).
 */
export function exportLink(id: string | undefined, prev: string | undefined): { source: string; seq: number; prev: number } | undefined {
  if (id === undefined || prev === undefined || id.length > 81 || prev.length > 16) return undefined;
  const dash = id.lastIndexOf('-');
  const source = id.slice(0, dash);
  const seqText = id.slice(dash + 1);
  if (dash < 1 || !RUN_ID.test(source) || !SEQ.test(seqText) || (prev !== '0' && !SEQ.test(prev))) return undefined;
  const seq = Number(seqText);
  const p = Number(prev);
  return Number.isSafeInteger(seq) && p < seq ? { source, seq, prev: p } : undefined;
}

/**
 * JetStream errors of a publish that no retry can cure, from nats-server's errors.json: the
 * message is larger than the stream's max_msg_size or the server's max_payload (10054), its
 * headers over 64 KiB (10097), the stream sealed (10109, for good), or the store's own refusals
 * under 10077 that are about the message, not the stream's fill: `message too large` (a file
 * store's block) and `maximum messages per subject exceeded` (discard new per subject: the
 * subject takes nothing more, however long we wait). A stream or account that is full (10077
 * `maximum messages`/`bytes exceeded`, 10047, 10028, 10023, 10002) can clear, as can everything
 * with a 5xx status (no leader, not available); those, and any code not named here, are retried.
 */
export function permanentError(code: number | undefined, description: string | undefined): boolean {
  if (code === 10054 || code === 10097 || code === 10109) return true;
  return code === 10077 && /^(message too large|maximum messages per subject exceeded)$/i.test(description ?? '');
}

/**
 * A subject token from any string: characters other than letters, digits, `_` and `-` (a node
 * name's dots above all, which would split the token) are written %XX, so two names never meet.
 */
export function subjectToken(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_-]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out || '%00';
}
