/**
 * Turns kernel records into stream events for subscribers: the public model plus node, group and
 * cluster-unique ids, with argv redacted. Only runs while someone subscribes.
 */
import type { RawEvent } from '../events/decode.js';
import { EventType } from '../events/layout.js';
import { toProcessEvent, type EnrichContext, type ExitIdentity } from '../events/model.js';
import type { Group } from '../groups/registry.js';
import type { GroupNotice } from '../groups/tracker.js';
import type { ProcessInfo, TableChange } from '../process/table.js';
import type { EventBus } from './bus.js';
import { processId } from './identity.js';
import { redactArgv } from './redact.js';

export interface PublisherOptions {
  bus: EventBus;
  node: string;
  bootId: string;
  redact: readonly RegExp[];
  ctx: EnrichContext;
  groupOf: (pid: number) => Group | undefined;
  /** What the process table knew of a process that exited (its entry before the exit), with its ancestors when `ancestors`. */
  identity?: (e: RawEvent, before: ProcessInfo, ancestors: boolean) => ExitIdentity;
}

export class ProcessPublisher {
  private redact: readonly RegExp[];

  constructor(private readonly o: PublisherOptions) {
    this.redact = o.redact;
  }

  /**
   * New redaction patterns (SIGHUP). Events still queued for subscribers are redacted with them
   * too: nothing published before the reload leaves afterwards with what the patterns hide.
   * Returns how many queued events changed.
   */
  setRedact(patterns: readonly RegExp[]): number {
    this.redact = patterns;
    return this.o.bus.rewrite((e) => {
      const argv = (e as { argv?: string[] }).argv;
      if (!argv) return false;
      const next = redactArgv(argv, patterns);
      if (next.every((w, i) => w === argv[i])) return false;
      (e as { argv?: string[] }).argv = next;
      return true;
    });
  }

  /**
   * Publishes one record (after groups were updated); the notices' `left` names the group of an
   * exit. Costs nothing while nobody subscribes.
   */
  publish(e: RawEvent, change: TableChange, notices: readonly GroupNotice[] = []): void {
    if (!this.o.bus.active) return;
    const groupBefore = notices.find((n) => n.kind === 'left')?.group;
    // Ancestors walk the table per exit: built only while a subscriber asked for them.
    const identity = e.type === EventType.EXIT && change.before && this.o.identity ? this.o.identity(e, change.before, this.o.bus.wantsAncestors) : undefined;
    const ev = toProcessEvent(e, this.o.ctx, change.before?.cgroupId, identity);
    if (!ev) return;
    ev.node = this.o.node;
    const g = e.type === EventType.EXIT && !ev.thread ? groupBefore : this.o.groupOf(e.pid);
    if (g) ev.group = g.name;
    ev.id = processId(this.o.bootId, e.pid, e.startNs);
    if (e.type === EventType.FORK && !ev.thread) ev.parent_id = processId(this.o.bootId, e.ppid, e.parentStartNs);
    if (ev.argv) ev.argv = redactArgv(ev.argv, this.redact);
    this.o.bus.publish(ev);
  }
}
