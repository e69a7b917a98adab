/**
 * Who a program runs as: user and group names resolved against the text of /etc/passwd and
 * /etc/group (pure functions; the launcher reads the files), and the environment it starts with.
 */
import { LaunchError } from './types.js';

/** One /etc/passwd line. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** One /etc/group line. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** The credentials a program gets; `uid` undefined keeps the agent's own (root). */
export interface Identity {
  uid: number | undefined;
  gid: number;
  /** Supplementary groups, primary group included. */
  groups: number[];
  user?: PasswdEntry;
}

const ID = /^\d+$/;

/** Parse /etc/passwd text; malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 7 || !ID.test(f[2] ?? '') || !ID.test(f[3] ?? '')) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6] });
  }
  return out;
}

/** Parse /etc/group text; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4 || !ID.test(f[2] ?? '')) continue;
    const members = (f[3] ?? '').split(',').filter((m) => m !== '');
    out.push({ name: f[0], gid: Number(f[2]), members });
  }
  return out;
}

/**
 * Resolve `user`/`group` (names, or numeric ids) the way systemd's User=/Group= do: the user's
 * primary group unless a group is given, plus every group listing the user as a member.
 * Returns null when neither is set. Throws a permanent LaunchError naming what is unknown.
 */
export function resolveIdentity(
  program: string,
  spec: { user?: string; group?: string },
  passwd: PasswdEntry[],
  groups: GroupEntry[],
  files = { passwd: '/etc/passwd', group: '/etc/group' },
): Identity | null {
  if (spec.user === undefined && spec.group === undefined) return null;
  let user: PasswdEntry | undefined;
  let uid: number | undefined;
  if (spec.user !== undefined) {
    user = passwd.find((p) => p.name === spec.user) ?? (ID.test(spec.user) ? passwd.find((p) => p.uid === Number(spec.user)) : undefined);
    if (user) uid = user.uid;
    else if (ID.test(spec.user)) uid = Number(spec.user);
    else throw new LaunchError(program, `user "${spec.user}" does not exist (not in ${files.passwd})`, { permanent: true });
  }
  let gid: number;
  if (spec.group !== undefined) {
    const g = groups.find((e) => e.name === spec.group);
    if (g) gid = g.gid;
    else if (ID.test(spec.group)) gid = Number(spec.group);
    else throw new LaunchError(program, `group "${spec.group}" does not exist (not in ${files.group})`, { permanent: true });
  } else {
    gid = user ? user.gid : (uid as number);
  }
  const supplementary = new Set<number>([gid]);
  if (user) {
    const name = user.name;
    for (const g of groups) if (g.members.includes(name)) supplementary.add(g.gid);
    supplementary.add(user.gid);
  }
  return { uid, gid, groups: [...supplementary].sort((a, b) => a - b), ...(user ? { user } : {}) };
}

/** PATH a program gets when its env does not set one (systemd's default). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The environment a program starts with. It does not inherit the agent's (which may hold the
 * API token and would make a program's behaviour depend on how the agent was started): PATH, and
 * HOME/USER/LOGNAME/SHELL for a program with a user, as systemd does; spec.env overrides all.
 */
export function programEnv(specEnv: Record<string, string>, identity: Identity | null): Record<string, string> {
  const env: Record<string, string> = { PATH: DEFAULT_PATH };
  const user = identity?.user;
  if (user) {
    env.HOME = user.home;
    env.USER = user.name;
    env.LOGNAME = user.name;
    env.SHELL = user.shell;
  }
  return { ...env, ...specEnv };
}
