/**
 * The one home for regular expressions that come from outside (a config, a tail flag, an /events
 * query) and run per event: they are compiled by RE2, whose matching time is linear in the input
 * for every pattern, so no pattern and no process name can stall the agent. Features that need
 * backtracking (backreferences, lookahead, lookbehind) are refused, and so are patterns whose
 * compiled program could be large (a length cap, and counted repetitions capped).
 */
import RE2 from 're2';

/** A regex that runs in linear time (an RE2 object; it has RegExp's test/exec). */
export type LinearRegExp = RE2;

/** Longest pattern accepted, in characters. */
export const PATTERN_MAX_CHARS = 256;
/** Largest count in a `{n}`/`{n,m}` repetition: the program grows with it, and the time with the program. */
export const REPEAT_MAX = 100;

/** What the callers put after "expected". */
export const PATTERN_EXPECTED = `a regular expression (RE2 syntax: no backreferences or lookaround; at most ${PATTERN_MAX_CHARS} characters, repetition counts up to {${REPEAT_MAX}})`;

/** A pattern refused; `reason` is one line, without the pattern itself (callers quote it). */
export class PatternError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'PatternError';
  }
}

/** Compiles `text` for linear-time matching, or throws a {@link PatternError} saying why not. */
export function compilePattern(text: string, flags = ''): LinearRegExp {
  if (text.length > PATTERN_MAX_CHARS) throw new PatternError(`${text.length} characters is longer than ${PATTERN_MAX_CHARS}`);
  for (const m of text.matchAll(/\{(\d+)(?:,(\d*))?\}/g)) {
    const n = Math.max(Number(m[1]), Number(m[2] || 0));
    if (n > REPEAT_MAX) throw new PatternError(`the repetition ${m[0]} is above {${REPEAT_MAX}}`);
  }
  try {
    return new RE2(text, flags);
  } catch (err) {
    throw new PatternError(explain(err instanceof Error ? err.message : String(err)));
  }
}

/** RE2's messages, with what they mean for someone who wrote a JavaScript regex. */
function explain(message: string): string {
  const first = message.split('\n')[0];
  if (/invalid perl operator: \(\?<?[=!]/.test(first)) return `lookahead and lookbehind cannot run in linear time (${first})`;
  if (/invalid escape sequence: \\(?:[1-9]|k)/.test(first)) return `backreferences cannot run in linear time (${first})`;
  return first;
}

/**
 * Compiles a regex the code generated from checked input (a cgroup glob): linear like the others,
 * without the caps meant for hand-written patterns.
 */
export function compileGenerated(source: string, flags = ''): LinearRegExp {
  return new RE2(source, flags);
}
