/** Command lines can carry secrets: argv words matching a configured pattern are replaced. */
export const REDACTED = '[redacted]';

/** Redacts the matching part of each argv word (a pattern with a group redacts only the group). */
export function redactArgv(argv: string[], patterns: RegExp[]): string[] {
  if (patterns.length === 0) return argv;
  return argv.map((word) => {
    let out = word;
    for (const p of patterns) {
      const m = p.exec(out);
      if (!m) continue;
      if (m.length > 1 && m[1] !== undefined) {
        const at = m.index + m[0].indexOf(m[1]);
        out = out.slice(0, at) + REDACTED + out.slice(at + m[1].length);
      } else {
        out = out.slice(0, m.index) + REDACTED + out.slice(m.index + m[0].length);
      }
    }
    return out;
  });
}
