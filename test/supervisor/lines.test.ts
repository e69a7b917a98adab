import { describe, expect, it } from 'vitest';
import { isValidCgroupName, normalizeCgroupPath } from '../../src/supervisor/cgroup-path.js';
import { LineSplitter } from '../../src/supervisor/lines.js';

describe('LineSplitter', () => {
  const euro = Buffer.from('€'); // 3 bytes
  const table: Array<[string, Array<Buffer | string>, string[], string[]]> = [
    ['whole lines', ['a\nb\n'], ['a', 'b'], []],
    ['a line across chunks', ['hel', 'lo\nwor', 'ld\n'], ['hello', 'world'], []],
    ['a last line without newline', ['a\nrest'], ['a'], ['rest']],
    ['CRLF', ['dos\r\n'], ['dos'], []],
    ['a UTF-8 character split across chunks', [euro.subarray(0, 1), Buffer.concat([euro.subarray(1), Buffer.from('\n')])], ['€'], []],
    ['an overlong line is cut', ['x'.repeat(10)], ['xxxx', 'xxxx'], ['xx']],
    ['empty lines are kept', ['\n\n'], ['', ''], []],
  ];
  it.each(table)('%s', (_label, chunks, lines, tail) => {
    const s = new LineSplitter(4 + (_label.includes('overlong') ? 0 : 100));
    expect(chunks.flatMap((c) => s.push(c))).toEqual(lines);
    expect(s.end()).toEqual(tail);
  });
});

describe('normalizeCgroupPath', () => {
  it.each([
    ['/system.slice/x.service', '/system.slice/x.service'],
    ['system.slice//x.service/', '/system.slice/x.service'],
    ['/a/./b/../c', '/a/c'],
    ['/', '/'],
    ['', '/'],
  ])('%s -> %s', (input, output) => {
    expect(normalizeCgroupPath(input)).toBe(output);
  });
});

describe('isValidCgroupName', () => {
  it.each([
    ['web', true],
    ['web-1.worker', true],
    ['', false],
    ['..', false],
    ['a/b', false],
    ['cgroup.procs', false],
  ])('%s -> %s', (name, ok) => {
    expect(isValidCgroupName(name)).toBe(ok);
  });
});
