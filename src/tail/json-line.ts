/**
 * `tail --json` lines built straight from kernel records: the same bytes as
 * `inertJson(toProcessEvent(raw, ctx, from))`, without the intermediate object, JSON.stringify's
 * walk over it and the escaping regex over the whole line (test/tail/json-line.test.ts holds the
 * two equal on recorded and hostile records). This is the per-event hot path of a busy tail.
 */
import { EventType, Flags } from '../events/layout.js';
import type { RawEvent } from '../events/decode.js';
import { decodeStatus, secondsJson, sentByKernel, TYPE_OF } from '../events/model.js';
import { inertJson } from '../terminal.js';
import type { ExitIdentity } from '../events/model.js';
import { IsoCache } from '../events/clock.js';

/** What a line needs from outside the record: wall-clock time and cgroup names. */
export interface LineContext {
  /** Wall-clock epoch nanoseconds for a boot-clock timestamp (WallClock.wallNs). */
  wallNs(bootNs: number): number;
  cgroupPath(id: number): string;
}

/**
 * A string as inert JSON. Plain printable ASCII without `"` or `\` (nearly every comm and cgroup
 * path) is quoted as it is; anything else goes the general way, which escapes exactly as
 * inertJson does on a whole object (the escaping of a string does not depend on its neighbours).
 */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return inertJson(s);
  }
  return `"${s}"`;
}

/** Bound of each cache below: cleared when full, so cgroup or name churn cannot grow it. */
const CACHE_MAX = 8192;

/**
 * A cgroup as JSON, cached by id: the path alone, and the line's `"cgroup":…,"cgroup_id":…` (a
 * cgroup id is a large number, whose printing is the slow kind); a renamed or reused id is seen by
 * comparing the path.
 */
class CgroupJson {
  private readonly byId = new Map<number, { path: string; json: string; fields: string }>();

  constructor(private readonly path: (id: number) => string) {}

  private entry(id: number): { path: string; json: string; fields: string } {
    const path = this.path(id);
    const hit = this.byId.get(id);
    if (hit && hit.path === path) return hit;
    if (this.byId.size >= CACHE_MAX) this.byId.clear();
    const json = jsonString(path);
    const made = { path, json, fields: `"cgroup":${json},"cgroup_id":${id}` };
    this.byId.set(id, made);
    return made;
  }

  json(id: number): string {
    return this.entry(id).json;
  }

  /** `"cgroup":<path>,"cgroup_id":<id>`. */
  fields(id: number): string {
    return this.entry(id).fields;
  }
}

/** Builds `--json` lines for one tail session (it keeps the time, cgroup and name caches). */
export class JsonLines {
  private readonly time = new IsoCache();
  private readonly cgroups: CgroupJson;
  /**
   * Strings a record shares with many others -> their JSON: comm (decode gives records of one name
   * the same string, so the lookup hashes nothing), and an exit's file name, cwd and parent names
   * (the process table's strings, the same for every process of one program).
   */
  private readonly strings = new Map<string, string>();
  /** argv arrays -> their JSON: an exec's array is kept by the process table and inherited by forks, so every exit of them reuses it. */
  private readonly argvs = new WeakMap<readonly string[], string>();

  constructor(private readonly ctx: LineContext) {
    this.cgroups = new CgroupJson((id) => ctx.cgroupPath(id));
  }

  private string(value: string): string {
    let json = this.strings.get(value);
    if (json === undefined) {
      if (this.strings.size >= CACHE_MAX) this.strings.clear();
      json = jsonString(value);
      this.strings.set(value, json);
    }
    return json;
  }

  /** As JSON.stringify writes an array of strings, each string escaped by jsonString. */
  private argv(argv: readonly string[]): string {
    let json = this.argvs.get(argv);
    if (json === undefined) {
      json = '[';
      for (let i = 0; i < argv.length; i++) json += (i ? ',' : '') + jsonString(argv[i]);
      json += ']';
      this.argvs.set(argv, json);
    }
    return json;
  }

  /**
   * The line (without its newline) of a process record, or undefined for other records;
   * `fromCgroupId` is the previous cgroup on migrate and `identity` an exit's, as for toProcessEvent.
   */
  line(e: RawEvent, fromCgroupId?: number, identity?: ExitIdentity): string | undefined {
    const type = TYPE_OF[e.type];
    if (!type) return undefined;
    // Numbers print as JSON.stringify prints them (both are Number#toString for finite values). A
    // process's tid and namespace pid are mostly its pid: printed once.
    const pid = `${e.pid}`;
    let s = `{"type":"${type}","time":"${this.time.iso(this.ctx.wallNs(e.ts))}","pid":${pid},"tid":${e.tid === e.pid ? pid : e.tid},"ppid":${e.ppid},"comm":${this.string(e.comm)},"uid":${e.uid},${this.cgroups.fields(e.cgroupId)},"ns_pid":${e.nsPid === e.pid ? pid : e.nsPid}`;
    if (e.flags & Flags.THREAD) s += ',"thread":true';
    switch (e.type) {
      case EventType.EXEC: {
        s += `,"filename":${jsonString(e.filename)},"argv":${e.argv ? this.argv(e.argv) : '[]'},"argv_truncated":${(e.flags & Flags.ARGV_TRUNC) !== 0}`;
        break;
      }
      case EventType.EXIT: {
        const st = decodeStatus(e.status);
        s += `,"exit_code":${st.exit_code},"signal":${st.signal === null ? 'null' : jsonString(st.signal)},"core_dumped":${st.core_dumped}`;
        s += `,"lifetime_s":${secondsJson(Math.max(0, e.ts - e.startNs))},"cpu_s":${secondsJson(e.cpuNs)}`;
        if (e.flags & Flags.SENDER) {
          s += sentByKernel(e)
            ? ',"signal_sender":"kernel"'
            : `,"signal_sender":{"pid":${e.senderPid},"comm":${jsonString(e.senderComm)},"cgroup":${this.cgroups.json(e.senderCgroupId)}}`;
        }
        if (e.flags & Flags.OOM) {
          s += `,"oom_killed":true,"oom_scope":"${e.oomMemcgId ? 'cgroup' : 'system'}"`;
          if (e.oomMemcgId) s += `,"oom_cgroup_id":${e.oomMemcgId}`;
        }
        if (identity && !(e.flags & Flags.THREAD)) {
          // In the order toProcessEvent's Object.assign gives them; strings by the fast path.
          for (const k in identity) {
            const v = identity[k as keyof ExitIdentity];
            s += `,"${k}":${typeof v === 'string' ? this.string(v) : typeof v === 'boolean' ? v : k === 'argv' ? this.argv(v as string[]) : inertJson(v)}`;
          }
        }
        break;
      }
      case EventType.MIGRATE:
        // toProcessEvent leaves from_cgroup undefined without a previous cgroup: JSON omits it.
        if (fromCgroupId !== undefined) s += `,"from_cgroup":${this.cgroups.json(fromCgroupId)}`;
        break;
    }
    return s + '}';
  }
}
