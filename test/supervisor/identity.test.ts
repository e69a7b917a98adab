import { describe, expect, it } from 'vitest';
import { DEFAULT_PATH, parseGroup, parsePasswd, programEnv, resolveIdentity } from '../../src/supervisor/identity.js';
import { LaunchError } from '../../src/supervisor/types.js';

const passwd = parsePasswd(
  [
    'root:x:0:0:root:/root:/bin/bash',
    '# a comment',
    'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
    'alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash',
    'broken-line',
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
    '',
  ].join('\n'),
);
const groups = parseGroup(['root:x:0:', 'adm:x:4:alice,syslog', 'www-data:x:33:', 'docker:x:999:alice', 'alice:x:1000:', 'nogroup:x:65534:', 'bad'].join('\n'));

describe('parsePasswd / parseGroup', () => {
  it('keeps well-formed entries only', () => {
    expect(passwd.map((p) => p.name)).toEqual(['root', 'www-data', 'alice', 'nobody']);
    expect(passwd[2]).toEqual({ name: 'alice', uid: 1000, gid: 1000, home: '/home/alice', shell: '/bin/bash' });
    expect(groups.find((g) => g.name === 'adm')).toEqual({ name: 'adm', gid: 4, members: ['alice', 'syslog'] });
    expect(groups).toHaveLength(6);
  });
});

describe('resolveIdentity', () => {
  const table: Array<[string, { user?: string; group?: string }, unknown]> = [
    ['nothing set', {}, null],
    ['user with supplementary groups', { user: 'alice' }, { uid: 1000, gid: 1000, groups: [4, 999, 1000] }],
    ['user with another primary group', { user: 'alice', group: 'www-data' }, { uid: 1000, gid: 33, groups: [4, 33, 999, 1000] }],
    ['user without memberships', { user: 'www-data' }, { uid: 33, gid: 33, groups: [33] }],
    ['group only keeps the uid', { group: 'adm' }, { uid: undefined, gid: 4, groups: [4] }],
    ['numeric uid of a known user', { user: '1000' }, { uid: 1000, gid: 1000, groups: [4, 999, 1000] }],
    ['numeric uid nobody knows', { user: '4242' }, { uid: 4242, gid: 4242, groups: [4242] }],
    ['numeric group', { user: 'nobody', group: '5' }, { uid: 65534, gid: 5, groups: [5, 65534] }],
  ];
  it.each(table)('%s', (_label, spec, expected) => {
    const id = resolveIdentity('p', spec, passwd, groups);
    if (expected === null) expect(id).toBeNull();
    else expect(id).toMatchObject(expected as object);
  });

  it.each([
    [{ user: 'mallory' }, 'program "p": user "mallory" does not exist (not in /etc/passwd)'],
    [{ user: 'alice', group: 'wheel' }, 'program "p": group "wheel" does not exist (not in /etc/group)'],
  ])('%j is a permanent error naming it', (spec, message) => {
    let err: unknown;
    try {
      resolveIdentity('p', spec, passwd, groups);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).message).toBe(message);
    expect((err as LaunchError).permanent).toBe(true);
  });
});

describe('programEnv', () => {
  it.each([
    ['no user: PATH only', {}, null, { PATH: DEFAULT_PATH }],
    ['spec env wins', { PATH: '/opt/bin', A: '1' }, null, { PATH: '/opt/bin', A: '1' }],
    [
      'a user gets HOME, USER, LOGNAME, SHELL',
      { HOME: '/srv' },
      { uid: 1000, gid: 1000, groups: [1000], user: passwd[2] },
      { PATH: DEFAULT_PATH, HOME: '/srv', USER: 'alice', LOGNAME: 'alice', SHELL: '/bin/bash' },
    ],
  ] as Array<[string, Record<string, string>, Parameters<typeof programEnv>[1], Record<string, string>]>)('%s', (_label, env, identity, expected) => {
    expect(programEnv(env, identity)).toEqual(expected);
  });
});
