/** api.redact: secrets in argv words replaced before an event leaves the agent. */
import { describe, expect, it } from 'vitest';
import { REDACTED, redactArgv } from '../../src/stream/redact.js';

const R = REDACTED;

describe('redactArgv', () => {
  it.each<[string, string[], string[], string[]]>([
    ['a group redacts only the group', ['--password=(.*)'], ['app', '--password=hunter2', '--user=bob'], ['app', `--password=${R}`, '--user=bob']],
    ['no group redacts the whole match', ['secret-\\w+'], ['x', 'use-secret-abc-now'], ['x', `use-${R}-now`]],
    ['every match in a word (sh -c)', ['password=(\\S+)'], ['sh', '-c', 'a --password=x; b --password=y'], ['sh', '-c', `a --password=${R} b --password=${R}`]],
    ['the group at its own offset, not where its text first appears', ['--pw=(.*)'], ['--pw=--pw='], [`--pw=${R}`]],
    ['patterns in order, each on the output of the one before', ['token=(\\w+)', 'user=(\\w+)'], ['token=abc,user=bob'], [`token=${R},user=${R}`]],
    ['flags of the pattern are kept', ['(?:PASSWORD)=(.*)'], ['password=x'], ['password=x']],
    ['an empty match hides nothing', ['x*'], ['abc'], ['abc']],
    ['a group that did not take part: the whole match', ['key=(\\d+)|apikey'], ['my-apikey'], [`my-${R}`]],
    ['no pattern matches', ['--password=(.*)'], ['ls', '-l'], ['ls', '-l']],
  ])('%s', (_what, patterns, argv, want) => {
    expect(
      redactArgv(
        argv,
        patterns.map((p) => new RegExp(p)),
      ),
    ).toEqual(want);
  });

  it('a case-insensitive pattern stays case-insensitive; a global or sticky one is not stateful between words', () => {
    expect(redactArgv(['PASSWORD=x'], [/password=(.*)/i])).toEqual([`PASSWORD=${R}`]);
    const g = /pw=(\w+)/g;
    expect(redactArgv(['pw=a', 'pw=b', 'pw=c'], [g])).toEqual([`pw=${R}`, `pw=${R}`, `pw=${R}`]);
    expect(redactArgv(['pw=a', 'pw=b'], [/pw=(\w+)/y])).toEqual([`pw=${R}`, `pw=${R}`]);
  });

  it('no patterns: the same array, untouched', () => {
    const argv = ['a', 'b'];
    expect(redactArgv(argv, [])).toBe(argv);
  });
});
