/** Command lines can carry secrets: the parts of argv words matching a configured pattern are replaced. */
export const REDACTED = '[redacted]';

/**
 * Redacts every match of each pattern in each argv word (`sh -c "a --password=x; b --password=y"`
 * is one word with two secrets). A pattern with a capturing group redacts only what the first group
 * captured; one without, the whole match. Patterns run in order, each on the previous one's output.
 */
export function redactArgv(argv: string[], patterns: RegExp[]): string[] {
  if (patterns.length === 0) return argv;
  const global = patterns.map((p) => new RegExp(p.source, p.flags.replace(/[gyd]/g, '') + 'gd'));
  return argv.map((word) => {
    let out = word;
    for (const p of global) out = redactAll(out, p);
    return out;
  });
}

function redactAll(word: string, p: RegExp): string {
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
