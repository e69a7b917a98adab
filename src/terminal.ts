/**
 * Text from outside (a process name, argv, a file name, a cgroup path, what an agent or a server
 * sent) on its way to a terminal or a log. A process names itself, so its name can hold escape
 * sequences that retitle a terminal, hide or rewrite lines or write the clipboard (OSC 52), or a
 * newline that forges a whole line. Everything a terminal would act on, or that hides or reorders
 * text, is written as a visible escape instead:
 *
 * - controls: C0, DEL and C1 (U+0080–U+009F, which some terminals obey even UTF-8 encoded);
 * - format characters: bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069),
 *   marks (U+200E, U+200F, U+061C), zero-width characters, the BOM;
 * - the line and paragraph separators U+2028 and U+2029, and lone surrogates.
 *
 * Escapes are `\xHH` below U+0080 (as systemd writes unit names, so `\x2d` in a slice name reads
 * the same here as in systemctl), `\uHHHH` and `\UHHHHHHHH` above. Backslashes are left as they
 * are: systemd's own escapes are common in cgroup paths and must stay readable. Invalid UTF-8 never
 * gets here raw: decoding turned it into U+FFFD, which is visible.
 */

const UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'gu');

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

function escapeChar(c: string): string {
  const cp = c.codePointAt(0)!;
  if (cp < 0x80) return `\\x${hex(cp, 2)}`;
  if (cp < 0x10000) return `\\u${hex(cp, 4)}`;
  return `\\U${hex(cp, 8)}`;
}

/** The string with every control, format and separator character written as a visible escape. */
export function inert(s: string): string {
  return UNSAFE.test(s) ? s.replace(UNSAFE_ALL, escapeChar) : s;
}

/** Any value as one inert line of text (`undefined` and `null` as empty). */
export function inertText(v: unknown): string {
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- any value, as String() prints it; the point is that it is inert
  return v === undefined || v === null ? '' : inert(String(v));
}

/**
 * One argument as a shell would need it to read it back: bare when it is plain, in single quotes
 * when it has spaces or quotes, and in bash's `$'…'` with escapes when it holds anything `inert`
 * escapes (so it is both safe to print and correct to paste).
 */
export function shellWord(a: string): string {
  if (/^[\w@%+=:,./-]+$/.test(a)) return a;
  if (!UNSAFE.test(a)) return `'${a.replace(/'/g, `'\\''`)}'`;
  return `$'${a.replace(/[\\']/g, '\\$&').replace(UNSAFE_ALL, escapeChar)}'`;
}

/**
 * JSON.stringify already escapes C0, quotes, backslashes and lone surrogates; this also escapes
 * DEL, C1, format characters and U+2028/U+2029. JSON.parse gives back exactly the same value, so
 * machines lose nothing, and the line stays inert when a person reads it in a terminal.
 */
const JSON_UNSAFE = /[\x7f-\x9f\p{Cf}\p{Zl}\p{Zp}]/gu;

function jsonEscape(c: string): string {
  let out = '';
  for (let i = 0; i < c.length; i++) out += `\\u${hex(c.charCodeAt(i), 4)}`;
  return out;
}

/** JSON text of `value` (indented by `indent` spaces when given) that is inert in a terminal. */
export function inertJson(value: unknown, indent?: number): string {
  return inertJsonText(JSON.stringify(value, null, indent) ?? 'null');
}

/**
 * JSON text someone else serialized (a logger's line) made inert the same way: those characters
 * can only stand inside strings, where their \u escape is the same value.
 */
export function inertJsonText(text: string): string {
  return text.replace(JSON_UNSAFE, jsonEscape);
}
