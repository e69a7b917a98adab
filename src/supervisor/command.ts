/**
 * Preparing a program's command before anything is spawned: who it runs as (/etc/passwd and
 * /etc/group), its environment, its working directory and the executable, found as exec would
 * find it. Everything that can be checked here is, so a bad config gets a clear LaunchError
 * ("command "x" not found in PATH=...") rather than a shell's exit 127 read as a crash.
 */
import { access, constants, readFile, stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { errnoCode, errnoText } from '../errors.js';
import { parseGroup, parsePasswd, programEnv, resolveIdentity, type Identity } from './identity.js';
import { LaunchError, type LaunchSpec } from './types.js';

/** A command ready to spawn. */
export interface Prepared {
  /** The command found as exec would find it (absolute). */
  file: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  identity: Identity | null;
}

/** Where users and groups are looked up. */
export interface AccountFiles {
  passwd: string;
  group: string;
}

const SETPRIV_CANDIDATES = ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv', '/sbin/setpriv'];

/** The first setpriv found in the usual places, or null. */
export async function findSetpriv(candidates = SETPRIV_CANDIDATES): Promise<string | null> {
  for (const path of candidates) {
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // try the next place
    }
  }
  return null;
}

/** Everything that can be checked before spawning `argv` for `spec`. Rejects with a LaunchError. */
export async function prepareCommand(spec: LaunchSpec, argv: string[], files: AccountFiles): Promise<Prepared> {
  const identity = await readIdentity(spec, files);
  const env = programEnv(spec.env, identity);
  const cwd = spec.cwd ?? '/';
  // Both looks at once (one trip through the thread pool on the restart path); a bad cwd is
  // reported first, as it would be found first.
  const [dirCheck, commandCheck] = await Promise.allSettled([checkDirectory(spec.name, cwd), resolveCommand(spec.name, argv[0], env.PATH ?? '', cwd)]);
  if (dirCheck.status === 'rejected') throw dirCheck.reason;
  if (commandCheck.status === 'rejected') throw commandCheck.reason;
  return { file: commandCheck.value, argv, env, cwd, identity };
}

/** A prepared command as Node's spawn takes it: argv, and the uid/gid Node sets itself. */
export interface NodeCommand {
  argv: string[];
  ids: { uid?: number; gid?: number };
  /** The identity has supplementary groups that Node cannot set (no setpriv): they are dropped. */
  groupsDropped: boolean;
}

/**
 * argv and ids for Node's spawn: the identity drop through `setpriv` when there is one (which
 * also sets supplementary groups), else Node's uid/gid (the primary group only).
 */
export function nodeCommand(prepared: Prepared, setpriv: string | null): NodeCommand {
  const { argv, identity } = prepared;
  if (!identity) return { argv, ids: {}, groupsDropped: false };
  if (setpriv) {
    const drop = [
      setpriv,
      ...(identity.uid !== undefined ? [`--reuid=${identity.uid}`] : []),
      `--regid=${identity.gid}`,
      identity.groups.length > 0 ? `--groups=${identity.groups.join(',')}` : '--clear-groups',
      '--',
    ];
    return { argv: [...drop, ...argv], ids: {}, groupsDropped: false };
  }
  return {
    argv,
    ids: { ...(identity.uid !== undefined ? { uid: identity.uid } : {}), gid: identity.gid },
    groupsDropped: identity.groups.some((g) => g !== identity.gid),
  };
}

/** Runs an fs step, turning its failure into a LaunchError naming step, object and errno. */
export async function sys<T>(program: string, op: string, object: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new LaunchError(program, `${op} ${object}: ${errnoText(err)}`, { permanent: false, code: errnoCode(err) });
  }
}

async function readIdentity(spec: LaunchSpec, files: AccountFiles): Promise<Identity | null> {
  if (spec.user === undefined && spec.group === undefined) return null;
  const [passwd, group] = await Promise.all([
    sys(spec.name, 'read', files.passwd, () => readFile(files.passwd, 'utf8')),
    sys(spec.name, 'read', files.group, () => readFile(files.group, 'utf8')),
  ]);
  return resolveIdentity(spec.name, spec, parsePasswd(passwd), parseGroup(group), files);
}

async function checkDirectory(program: string, cwd: string): Promise<void> {
  try {
    if ((await stat(cwd)).isDirectory()) return;
  } catch (err) {
    throw new LaunchError(program, `working directory ${cwd}: ${errnoText(err)}`, { permanent: true, code: errnoCode(err) });
  }
  throw new LaunchError(program, `working directory ${cwd} is not a directory`, { permanent: true });
}

/** Finds the command as exec would, to say "not found" before spawning. */
async function resolveCommand(program: string, command: string, pathVar: string, cwd: string): Promise<string> {
  if (command.includes('/')) {
    const path = resolvePath(cwd, command);
    const problem = await executableProblem(path);
    if (problem) throw new LaunchError(program, `command ${command}: ${problem}`, { permanent: true });
    return path;
  }
  for (const dir of pathVar.split(':')) {
    const path = resolvePath(cwd, dir === '' ? '.' : dir, command);
    if ((await executableProblem(path)) === null) return path;
  }
  throw new LaunchError(program, `command "${command}" not found in PATH=${pathVar}`, { permanent: true, code: 'ENOENT' });
}

async function executableProblem(path: string): Promise<string | null> {
  try {
    const st = await stat(path);
    if (!st.isFile()) return 'not a regular file';
    if ((st.mode & 0o111) === 0) return 'not executable (no x permission)';
    return null;
  } catch (err) {
    return errnoCode(err) === 'ENOENT' ? 'does not exist' : errnoText(err);
  }
}
