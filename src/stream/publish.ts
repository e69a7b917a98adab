/**
 * Turns kernel records into stream events for subscribers: the public model plus node, group and
 * cluster-unique ids, with argv redacted. Only runs while someone subscribes.
 */
import type { RawEvent } from '../events/decode.js';
import { EventType } from '../events/layout.js';
import { toProcessEvent, type EnrichContext } from '../events/model.js';
import type { Group } from '../groups/registry.js';
import type { GroupNotice } from '../groups/tracker.js';
import type { TableChange } from '../process/table.js';
import type { EventBus } from './bus.js';
import { processId } from './identity.js';
import { redactArgv } from './redact.js';

export interface PublisherOptions {
  bus: EventBus;
  node: string;
  bootId: string;
  redact: RegExp[];
  ctx: EnrichContext;
  groupOf: (pid: number) => Group | undefined;
}

export class ProcessPublisher {
  constructor(private readonly o: PublisherOptions) {}

  /**
   * Publishes one record (after groups were updated); the notices' `left` names the group of an
   * exit. Costs nothing while nobody subscribes.
   */
  publish(e: RawEvent, change: TableChange, notices: readonly GroupNotice[] = []): void {
    if (!this.o.bus.active) return;
    const groupBefore = notices.find((n) => n.kind === 'left')?.group;
    const ev = toProcessEvent(e, this.o.ctx, change.before?.cgroupId);
    if (!ev) return;
    ev.node = this.o.node;
    const g = e.type === EventType.EXIT && !ev.thread ? groupBefore : this.o.groupOf(e.pid);
    if (g) ev.group = g.name;
    ev.id = processId(this.o.bootId, e.pid, e.startNs);
    if (e.type === EventType.FORK && !ev.thread) ev.parent_id = processId(this.o.bootId, e.ppid, e.parentStartNs);
    if (ev.argv) ev.argv = redactArgv(ev.argv, this.o.redact);
    this.o.bus.publish(ev);
  }
}
