/** Command lines can carry secrets: the parts of argv words matching a configured pattern are replaced. */
import { compileGenerated, type LinearRegExp } from '../config/regex.js';

export const REDACTED = '[redacted]';

/**
 * Each pattern once more, global and with match indices, in RE2 (linear time: an argv word is
 * anyone's input). Kept per pattern object, since the same ones run on every event.
 */
const forRedaction = new WeakMap<RegExp, LinearRegExp>();
function globalOf(p: RegExp): LinearRegExp {
  let g = forRedaction.get(p);
  if (g === undefined) {
    // A plain RegExp (a caller's, not the config's) goes through RE2 too, with its flags.
    g = compileGenerated(p.source, p.flags.replace(/[gyd]/g, '') + 'gd');
    forRedaction.set(p, g);
  }
  return g;
}

/**
 * Redacts every match of each pattern in each argv word (`sh -c "a --password=x; b --password=y"`
 * is one word with two secrets). A pattern with a capturing group redacts only what the first group
 * captured; one without, the whole match. Patterns run in order, each on the previous one's output.
 */
export function redactArgv(argv: string[], patterns: readonly RegExp[]): string[] {
  if (patterns.length === 0) return argv;
  const global = patterns.map(globalOf);
  return argv.map((word) => {
    let out = word;
    for (const p of global) out = redactAll(out, p);
    return out;
  });
}

function redactAll(word: string, p: LinearRegExp): string {
  let out = '';
  let from = 0;
  p.lastIndex = 0;
  for (let m = p.exec(word); m; m = p.exec(word)) {
    if (m[0].length === 0) {
      p.lastIndex++; // an empty match hides nothing; step over it
      continue;
    }
    // Exact offsets of the group (hasIndices): indexOf could find the group's text earlier in the match.
    const [start, end] = m.indices?.[1] ?? m.indices![0];
    out += word.slice(from, start) + REDACTED;
    from = end;
  }
  return out + word.slice(from);
}
