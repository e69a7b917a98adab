/**
 * `tail --json` lines built straight from kernel records: the same bytes as
 * `inertJson(toProcessEvent(raw, ctx, from))`, without the intermediate object, JSON.stringify's
 * walk over it and the escaping regex over the whole line (test/tail/json-line.test.ts holds the
 * two equal on recorded and hostile records). This is the per-event hot path of a busy tail.
 */
import { EventType, Flags } from '../events/layout.js';
import type { RawEvent } from '../events/decode.js';
import { decodeStatus, round6, sentByKernel, TYPE_OF } from '../events/model.js';
import { inertJson } from '../terminal.js';
import type { ExitIdentity } from '../events/model.js';

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

/**
 * ISO 8601 UTC with microseconds, as events/clock.ts isoMicros writes it, with the part up to the
 * second kept from the previous call: events of one batch nearly always share it.
 */
export class IsoCache {
  private sec = NaN;
  private prefix = '';

  iso(epochNs: number): string {
    const ms = Math.floor(epochNs / 1e6);
    const micros = Math.floor((epochNs - ms * 1e6) / 1e3);
    const sec = Math.floor(ms / 1000);
    if (sec !== this.sec) {
      this.sec = sec;
      this.prefix = new Date(sec * 1000).toISOString().slice(0, -4); // ...SS. (also for 6-digit years)
    }
    return `${this.prefix}${pad3(ms - sec * 1000)}${pad3(micros)}Z`;
  }
}

function pad3(n: number): string {
  return n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`;
}

/** A cgroup path as JSON, cached by id; a renamed or reused id is seen by comparing the path. */
class CgroupJson {
  private readonly byId = new Map<number, { path: string; json: string }>();

  constructor(private readonly path: (id: number) => string) {}

  json(id: number): string {
    const path = this.path(id);
    const hit = this.byId.get(id);
    if (hit && hit.path === path) return hit.json;
    if (this.byId.size >= 8192) this.byId.clear(); // bounded under cgroup churn
    const json = jsonString(path);
    this.byId.set(id, { path, json });
    return json;
  }
}

/** Builds `--json` lines for one tail session (it keeps the time and cgroup caches). */
export class JsonLines {
  private readonly time = new IsoCache();
  private readonly cgroups: CgroupJson;

  constructor(private readonly ctx: LineContext) {
    this.cgroups = new CgroupJson((id) => ctx.cgroupPath(id));
  }

  /**
   * The line (without its newline) of a process record, or undefined for other records;
   * `fromCgroupId` is the previous cgroup on migrate and `identity` an exit's, as for toProcessEvent.
   */
  line(e: RawEvent, fromCgroupId?: number, identity?: ExitIdentity): string | undefined {
    const type = TYPE_OF[e.type];
    if (!type) return undefined;
    // Numbers print as JSON.stringify prints them (both are Number#toString for finite values).
    let s = `{"type":"${type}","time":"${this.time.iso(this.ctx.wallNs(e.ts))}","pid":${e.pid},"tid":${e.tid},"ppid":${e.ppid},"comm":${jsonString(e.comm)},"uid":${e.uid},"cgroup":${this.cgroups.json(e.cgroupId)},"cgroup_id":${e.cgroupId},"ns_pid":${e.nsPid}`;
    if (e.flags & Flags.THREAD) s += ',"thread":true';
    switch (e.type) {
      case EventType.EXEC: {
        s += `,"filename":${jsonString(e.filename)},"argv":[`;
        const argv = e.argv ?? [];
        for (let i = 0; i < argv.length; i++) s += (i ? ',' : '') + jsonString(argv[i]);
        s += `],"argv_truncated":${(e.flags & Flags.ARGV_TRUNC) !== 0}`;
        break;
      }
      case EventType.EXIT: {
        const st = decodeStatus(e.status);
        s += `,"exit_code":${st.exit_code},"signal":${st.signal === null ? 'null' : jsonString(st.signal)},"core_dumped":${st.core_dumped}`;
        s += `,"lifetime_s":${round6(Math.max(0, e.ts - e.startNs) / 1e9)},"cpu_s":${round6(e.cpuNs / 1e9)}`;
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
          for (const [k, v] of Object.entries(identity)) s += `,"${k}":${typeof v === 'string' ? jsonString(v) : inertJson(v)}`;
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
