/**
 * Config fuzz: YAML mutated from docs/config.md's examples, the shipped example and the embedded
 * default. Whatever the text, loading gives a Config or one UsageError line (exit 2), never
 * another exception; through the real CLI, one line on stderr and exit 2.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_YAML } from '../../src/config/default.js';
import { parseConfig } from '../../src/config/load.js';
import { UsageError } from '../../src/errors.js';
import { ROOT, runCli } from '../helpers/cli.js';
import { seeded } from '../helpers/random.js';

const { int, pick } = seeded(0xc0f16);

const docs = fs.readFileSync(path.join(ROOT, 'docs/config.md'), 'utf8');
const SEEDS = [
  ...[...docs.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]),
  fs.readFileSync(path.join(ROOT, 'deploy/forkwatch.example.yaml'), 'utf8'),
  DEFAULT_CONFIG_YAML,
  // Alias expansion (a "billion laughs") and tags: YAML features an attacker's file could use.
  'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ngroups: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n',
  'listen: !!binary aGVsbG8=\nnode_name: !!timestamp 2001-12-14\n',
];

const VALUES = [
  '',
  '~',
  'null',
  'true',
  'no',
  '0',
  '-1',
  '1e400',
  '-0',
  '0x10',
  '.inf',
  '.nan',
  '99999999999999999999',
  '1.5',
  '"x"',
  "'x'",
  '[]',
  '{}',
  '[1, [2, [3]]]',
  '{a: 1}',
  '&x 1',
  '*x',
  '*undefined',
  '!!str 5',
  '!!int x',
  '!!js/function "function(){}"',
  '!<tag:yaml.org,2002:map> {}',
  '"\\u0000"',
  '"\\x1b[31m"',
  '"(a)\\\\1"',
  '"(?=x)"',
  '"["',
  '"a{1000}"',
  `"${'a'.repeat(300)}"`,
  '5ms',
  '1d2h',
  '64KiB',
  '3K',
  '-5s',
  '1.5B',
  '/abs/path',
  'rel/path',
  'SIGKILL',
  'NOPE',
  '[/bin/true, --x]',
  '"127.0.0.1:0"',
  '"[::1]:70000"',
  '"host:port"',
  'freeze',
  'kill',
  '[event, kill, freeze]',
  '{exec: [], timeout: 0}',
  '|\n  block',
  '>-\n  folded',
  '? complex\n: key',
  '- a\n- b',
  '"' + 'x'.repeat(5000) + '"',
];

/** One mutation of `text`. */
function mutate(text: string): string {
  const lines = text.split('\n');
  const i = int(lines.length);
  switch (int(9)) {
    case 0:
      lines.splice(i, 1);
      break;
    case 1:
      lines.splice(i, 0, lines[int(lines.length)]);
      break;
    case 2: {
      const j = int(lines.length);
      [lines[i], lines[j]] = [lines[j], lines[i]];
      break;
    }
    case 3: {
      // A value replaced: `key: value` keeps its key.
      const m = /^(\s*-?\s*[\w.]+:)\s*(.*)$/.exec(lines[i]);
      lines[i] = m ? `${m[1]} ${pick(VALUES)}` : pick(VALUES);
      break;
    }
    case 4:
      lines[i] = ' '.repeat(int(6)) + lines[i].trimStart();
      break;
    case 5: {
      const at = int(lines[i].length + 1);
      lines[i] =
        lines[i].slice(0, at) +
        pick([':', '-', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '"', "'", '\t', '%', '@', '`', '\x00', '\u2028']) +
        lines[i].slice(at);
      break;
    }
    case 6:
      return text.slice(0, int(text.length));
    case 7:
      lines.splice(i, 0, `${pick(['api', 'bpf', 'groups', 'programs', 'resources', 'accounting', 'listen', 'kubernetes', 'x'])}: ${pick(VALUES)}`);
      break;
    default: {
      const m = /^(\s*-?\s*)([\w.]+):(.*)$/.exec(lines[i]);
      if (m)
        lines[i] =
          `${m[1]}${pick(['name', 'match', 'comm', 'exe', 'redact', 'limit', 'barrier', 'on_limit', 'command', 'watch', 'token_file', 'control_token_file', 'max_subscribers', 'subscriber_queue_bytes', '__proto__', 'constructor'])}:${m[3]}`;
    }
  }
  return lines.join('\n');
}

function mutant(): string {
  let t = pick(SEEDS);
  for (let n = 1 + int(4); n > 0; n--) t = mutate(t);
  return t;
}

describe('config fuzz', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-cfuzz-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const refused: string[] = [];

  it('thousands of mutated configs: a Config or one UsageError line, never another exception', { timeout: 120_000 }, () => {
    const bugs: string[] = [];
    let accepted = 0;
    for (let n = 0; n < 5000; n++) {
      const text = mutant();
      try {
        parseConfig(text, '/etc/forkwatch.yaml', { hostname: 'node-a' });
        accepted++;
      } catch (err) {
        const ok = err instanceof UsageError && err.exitCode === 2 && !err.message.includes('\n') && err.message.length < 2000;
        if (!ok && bugs.length < 10) bugs.push(`${(err as Error)?.stack?.split('\n').slice(0, 3).join(' | ')} <- ${JSON.stringify(text.slice(0, 300))}`);
        if (ok && refused.length < 12 && int(20) === 0) refused.push(text);
      }
    }
    expect(bugs).toEqual([]);
    // The mutations are not all fatal: some still load, so the valid paths are exercised too.
    expect(accepted).toBeGreaterThan(50);
  });

  it('through the CLI: exit 2 and one line on stderr, no stack', { timeout: 120_000 }, () => {
    expect(refused.length).toBeGreaterThanOrEqual(8);
    const aliasBomb = SEEDS.find((s) => s.includes('&d'))!;
    [aliasBomb, 'groups: *nowhere\n', ...refused].forEach((text, i) => {
      const file = path.join(dir, `m${i}.yaml`);
      fs.writeFileSync(file, text);
      const r = runCli(['run', '--config', file], { timeoutMs: 20_000 });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.endsWith('\n')).toBe(true);
      expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(/^forkwatch: /);
      expect(r.stderr).not.toContain('    at ');
    });
  });
});
