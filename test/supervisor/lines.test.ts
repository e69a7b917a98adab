import { describe, expect, it } from 'vitest';
import { findCgroup2Mount, isValidCgroupName, normalizeCgroupPath } from '../../src/supervisor/cgroup-path.js';
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

describe('findCgroup2Mount', () => {
  const hybrid = [
    'tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0',
    'cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0',
    'cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0',
  ].join('\n');
  it.each([
    ['hybrid host', hybrid, '/sys/fs/cgroup/unified'],
    ['unified host', 'cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\nproc /proc proc rw 0 0', '/sys/fs/cgroup'],
    ['the usual place over a bind mount listed first', 'cgroup2 /var/lib/x/cg cgroup2 rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw 0 0', '/sys/fs/cgroup'],
    ['otherwise the first listed', 'cgroup2 /run/a cgroup2 rw 0 0\ncgroup2 /run/b/c cgroup2 rw 0 0', '/run/a'],
    ['escaped space', 'none /mnt/my\\040cg cgroup2 rw 0 0', '/mnt/my cg'],
    ['v1 only', 'cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0', null],
  ])('%s', (_label, mounts, expected) => {
    expect(findCgroup2Mount(mounts)).toBe(expected);
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
