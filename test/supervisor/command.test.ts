/** A prepared command as Node's spawn takes it: the identity drop through setpriv, or Node's ids. */
import { describe, expect, it } from 'vitest';
import { nodeCommand, prepareCommand, type Prepared } from '../../src/supervisor/command.js';

const prepared = (identity: Prepared['identity']): Prepared => ({ file: '/bin/true', argv: ['true', '-x'], env: {}, cwd: '/', identity });

describe('nodeCommand', () => {
  it.each([
    ['no identity', null, '/usr/bin/setpriv', { argv: ['true', '-x'], ids: {}, groupsDropped: false }],
    [
      'a user through setpriv',
      { uid: 65534, gid: 65534, groups: [65534, 27] },
      '/usr/bin/setpriv',
      { argv: ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--groups=65534,27', '--', 'true', '-x'], ids: {}, groupsDropped: false },
    ],
    [
      'a group only, no supplementary groups, through setpriv',
      { uid: undefined, gid: 100, groups: [] },
      '/usr/bin/setpriv',
      { argv: ['/usr/bin/setpriv', '--regid=100', '--clear-groups', '--', 'true', '-x'], ids: {}, groupsDropped: false },
    ],
    [
      'a user without setpriv: Node sets uid and gid',
      { uid: 1000, gid: 1000, groups: [1000] },
      null,
      { argv: ['true', '-x'], ids: { uid: 1000, gid: 1000 }, groupsDropped: false },
    ],
    [
      'supplementary groups without setpriv are dropped, and said so',
      { uid: 1000, gid: 1000, groups: [1000, 27] },
      null,
      { argv: ['true', '-x'], ids: { uid: 1000, gid: 1000 }, groupsDropped: true },
    ],
  ])('%s', (_label, identity, setpriv, want) => {
    expect(nodeCommand(prepared(identity), setpriv)).toEqual(want);
  });
});

describe('prepareCommand', () => {
  const files = { passwd: '/etc/passwd', group: '/etc/group' };
  it('finds the command in PATH, past directories without it, and keeps argv as given', async () => {
    const p = await prepareCommand({ name: 'p', env: { PATH: '/nonexistent:/bin' } }, ['sh', '-c', 'true'], files);
    expect(p).toMatchObject({ file: '/bin/sh', argv: ['sh', '-c', 'true'], cwd: '/', identity: null });
  });

  it.each([
    ['a command not in PATH', ['forkwatch-no-such-command'], {}, 'command "forkwatch-no-such-command" not found in PATH=/bin', true],
    ['a path that is a directory', ['/tmp'], {}, 'command /tmp: not a regular file', true],
    [
      'a missing working directory (found first)',
      ['forkwatch-no-such-command'],
      { cwd: '/nonexistent-forkwatch-dir' },
      'working directory /nonexistent-forkwatch-dir: ENOENT (no such file or directory)',
      true,
    ],
    [
      'a passwd file that cannot be read (maybe soon)',
      ['sh'],
      { user: 'nobody', passwd: '/nonexistent-passwd' },
      'read /nonexistent-passwd: ENOENT (no such file or directory)',
      false,
    ],
  ])('refuses %s', async (_label, argv, o: { cwd?: string; user?: string; passwd?: string }, detail, permanent) => {
    const spec = { name: 'p', env: { PATH: '/bin' }, ...(o.cwd ? { cwd: o.cwd } : {}), ...(o.user ? { user: o.user } : {}) };
    await expect(prepareCommand(spec, argv, { ...files, ...(o.passwd ? { passwd: o.passwd } : {}) })).rejects.toMatchObject({
      message: `program "p": ${detail}`,
      detail,
      permanent,
    });
  });
});
