/** Public surface of the supervisor; the agent imports from here. */
export * from './types.js';
export * from './policy.js';
export { Program, type ProgramDeps } from './program.js';
export { Supervisor, type SupervisorDeps, type ReloadSummary, type SupervisedCgroup } from './supervisor.js';
export {
  CgroupLauncher,
  DEFAULT_PROGRAMS_ROOT,
  detectCgroup2Mount,
  findSetpriv,
  type CgroupLauncherOptions,
  type OutputSink,
} from './launcher.js';
export { normalizeCgroupPath, findCgroup2Mount } from './cgroup-path.js';
export { resolveIdentity, parsePasswd, parseGroup, programEnv, type Identity } from './identity.js';
