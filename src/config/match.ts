/**
 * Which configured group rule a cgroup or process belongs to. Pure: the caller brings the facts
 * it knows (the cgroup path always; comm, exe and uid once it has seen the process).
 */
import { compileGenerated, type LinearRegExp } from './regex.js';
import type { GroupMatch, GroupRule, ResourceLimits } from './types.js';

/** What is known about a process (or a bare cgroup) when its group is decided. */
export interface MatchFacts {
  cgroup: string;
  comm?: string;
  exe?: string;
  uid?: number;
}

/**
 * Compiles a cgroup path glob: `*` and `?` stay within one path segment; `**` as a whole segment
 * matches zero or more segments (`/system.slice/**` is the slice and everything below it), and
 * inside a segment matches anything, slashes included. Everything else is literal.
 */
export function globToRegExp(glob: string): LinearRegExp {
  const segs = glob.split('/').filter((s) => s !== '');
  if (segs.length === 0) return compileGenerated('^/$');
  let body = '';
  for (const seg of segs) {
    if (seg === '**') {
      body += '(?:/[^/]+)*';
      continue;
    }
    body += '/';
    for (let i = 0; i < seg.length; i++) {
      const c = seg[i];
      if (c === '*' && seg[i + 1] === '*') {
        body += '.*';
        i++;
      } else if (c === '*') body += '[^/]*';
      else if (c === '?') body += '[^/]';
      else body += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
    }
  }
  // A glob of only `**` segments also matches the root, whose path has no segment at all.
  const rootToo = segs.every((s) => s === '**');
  return compileGenerated(rootToo ? `^(?:${body}|/)$` : `^${body}$`);
}

const compiled = new Map<string, LinearRegExp>();

function globMatches(glob: string, path: string): boolean {
  let re = compiled.get(glob);
  if (re === undefined) {
    re = globToRegExp(glob);
    compiled.set(glob, re);
  }
  return re.test(path);
}

/** `/a//b/` as `/a/b`, so that globs and regexes see one spelling of each cgroup. */
function normalise(path: string): string {
  const segs = path.split('/').filter((s) => s !== '');
  return '/' + segs.join('/');
}

/** Whether every field a rule gives matches; a fact the rule needs but the caller lacks fails it. */
export function ruleMatches(match: GroupMatch, facts: MatchFacts): boolean {
  const path = normalise(facts.cgroup);
  if (match.cgroup !== undefined && !globMatches(match.cgroup, path)) return false;
  if (match.cgroup_regex !== undefined && !match.cgroup_regex.test(path)) return false;
  if (match.comm !== undefined && (facts.comm === undefined || !match.comm.test(facts.comm))) return false;
  if (match.exe !== undefined && (facts.exe === undefined || !match.exe.test(facts.exe))) return false;
  if (match.uid !== undefined && (facts.uid === undefined || !match.uid.includes(facts.uid))) return false;
  return true;
}

/** The first rule that matches, in config order, or undefined for "name it after its cgroup". */
export function matchGroup(rules: readonly GroupRule[], facts: MatchFacts): GroupRule | undefined {
  return rules.find((rule) => ruleMatches(rule.match, facts));
}

/**
 * Whether a rule picks whole cgroups (by path alone), so its members are exactly cgroups and
 * cgroup-wide actions such as `freeze` can apply.
 */
export function isCgroupRule(match: GroupMatch): boolean {
  return match.comm === undefined && match.exe === undefined && match.uid === undefined;
}

/**
 * The resources a group is held to: the config's defaults, overridden resource by resource by
 * its rule. A rule's spec with neither barrier nor limit clears that default.
 */
export function effectiveResources(defaults: ResourceLimits, rule?: GroupRule): ResourceLimits {
  const merged: ResourceLimits = { ...defaults, ...rule?.resources };
  for (const name of Object.keys(merged) as Array<keyof ResourceLimits>) {
    const spec = merged[name];
    if (spec !== undefined && spec.barrier === undefined && spec.limit === undefined) delete merged[name];
  }
  return merged;
}
