import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { inert, inertJson, inertText, shellWord } from '../src/terminal.js';

/** Every character inert must escape, with the escape it must become. */
const ESCAPED: Array<[string, string, string]> = [
  ['NUL', '\x00', '\\x00'],
  ['BEL (ends OSC)', '\x07', '\\x07'],
  ['backspace', '\b', '\\x08'],
  ['tab', '\t', '\\x09'],
  ['newline (forges a line)', '\n', '\\x0a'],
  ['carriage return (rewrites a line)', '\r', '\\x0d'],
  ['ESC', '\x1b', '\\x1b'],
  ['DEL', '\x7f', '\\x7f'],
  ['C1 PAD', '\u0080', '\\u0080'],
  ['C1 NEL', '\u0085', '\\u0085'],
  ['C1 CSI', '\u009b', '\\u009b'],
  ['C1 OSC', '\u009d', '\\u009d'],
  ['C1 APC', '\u009f', '\\u009f'],
  ['soft hyphen (format)', '\u00ad', '\\u00ad'],
  ['arabic letter mark', '\u061c', '\\u061c'],
  ['zero-width space', '\u200b', '\\u200b'],
  ['LRM', '\u200e', '\\u200e'],
  ['RLM', '\u200f', '\\u200f'],
  ['line separator', '\u2028', '\\u2028'],
  ['paragraph separator', '\u2029', '\\u2029'],
  ['LRE', '\u202a', '\\u202a'],
  ['RLO (reverses text)', '\u202e', '\\u202e'],
  ['LRI', '\u2066', '\\u2066'],
  ['PDI', '\u2069', '\\u2069'],
  ['BOM', '\ufeff', '\\ufeff'],
  ['lone high surrogate', '\ud800', '\\ud800'],
  ['lone low surrogate', '\udc00', '\\udc00'],
  ['tag character (astral format)', '\u{e0041}', '\\U000e0041'],
];

const KEPT: Array<[string, string]> = [
  ['plain ASCII', 'nginx: worker process'],
  ["systemd's own escapes", '/system.slice/system-systemd\\x2dfsck.slice'],
  ['backslashes', 'C:\\dir\\file'],
  ['accented letters', 'café'],
  ['CJK', '日本語'],
  ['emoji (a surrogate pair)', '🚀'],
  ['the replacement character invalid UTF-8 became', 'a\ufffdb'],
  ['NBSP (a space, visible as one)', 'a\u00a0b'],
];

describe('inert', () => {
  it.each(ESCAPED)('escapes %s', (_name, ch, want) => {
    expect(inert(`a${ch}b`)).toBe(`a${want}b`);
  });

  it.each(KEPT)('keeps %s', (_name, s) => {
    expect(inert(s)).toBe(s);
  });

  it('a whole attack: OSC 52, a forged line, a bidi override', () => {
    expect(inert('\x1b]52;c;cHduZWQ=\x07\n12:00:00 exit 1 ok\u202e')).toBe('\\x1b]52;c;cHduZWQ=\\x07\\x0a12:00:00 exit 1 ok\\u202e');
  });

  it('inertText prints any value as inert text', () => {
    expect(inertText(undefined)).toBe('');
    expect(inertText(null)).toBe('');
    expect(inertText(42)).toBe('42');
    expect(inertText({ toString: () => 'x\x1by' })).toBe('x\\x1by');
  });
});

describe('shellWord', () => {
  it.each([
    ['plain', '/bin/echo', '/bin/echo'],
    ['spaces', 'two words', "'two words'"],
    ['a quote', "it's", `'it'\\''s'`],
    ['an escape', 'a\x1b[2Jb', "$'a\\x1b[2Jb'"],
    ['an escape, a quote and a backslash', "a\x1b'\\n", "$'a\\x1b\\'\\\\n'"],
    ['a newline', 'a\nb', "$'a\\x0ab'"],
    ['C1 and bidi', '\u009b\u202e', "$'\\u009b\\u202e'"],
  ])('%s', (_name, arg, want) => {
    expect(shellWord(arg)).toBe(want);
  });

  it('bash reads every quoted word back as the exact argument', () => {
    const args = ['a\x1b[2Jb', "a\x1b'\\n", 'x\ny', '\u009b\u202e', "it's", 'two words', '\t', 'emoji 🚀\u200b', '\u{e0041}'];
    const script = `for a in ${args.map(shellWord).join(' ')}; do printf '%s\\0' "$a"; done`;
    const out = execFileSync('bash', ['-c', script], { encoding: 'utf8' });
    expect(out.split('\0').slice(0, -1)).toEqual(args);
  });
});

describe('inertJson', () => {
  const value = {
    comm: '\x1b]0;x\x07\nFAKE\u009b',
    cgroup: '/a\u202eb\u2066c',
    argv: ['\x7f', '\u2028', '\u{e0041}', '\ud800', 'plain 🚀'],
  };

  it('escapes DEL, C1, format characters and separators that JSON.stringify leaves raw', () => {
    const text = inertJson(value);
    expect(text).not.toMatch(/[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\u{e0000}-\u{e007f}]/u);
    expect(text).toContain('\\u009b');
    expect(text).toContain('\\u202e');
    expect(text).toContain('\\udb40\\udc41');
    expect(text).toContain('🚀');
  });

  it('parses back to exactly the same value, indented or not', () => {
    expect(JSON.parse(inertJson(value))).toEqual(value);
    expect(JSON.parse(inertJson(value, 2))).toEqual(value);
    expect(inertJson(value, 2)).toContain('\n  "comm"');
  });

  it('undefined becomes null, as a line must hold a value', () => {
    expect(inertJson(undefined)).toBe('null');
  });
});
