/**
 * A pod list read now and then: for a URL that cannot be watched (the kubelet's /pods). The API
 * server's list is watched instead (src/k8s/watch.ts).
 */
import { PodIndex, type PodMeta } from './pods.js';

/** Reads the list; rejects with a one-line reason. */
export type PodListFetch = () => Promise<unknown>;

export interface PodDirectoryOptions {
  fetch: PodListFetch;
  /** Seconds between reads; also the least time between two reads asked for by unknown uids. */
  refreshS: number;
  now?: () => number;
  /** Told when reading starts failing and when it works again (not on every failure). */
  onState?: (ok: boolean, detail: string) => void;
  /** A read changed what names the pods' groups would take. */
  onChange?: () => void;
}

/** The node's pods, read now and then; lookups never wait for the network. */
export class PodDirectory {
  readonly index = new PodIndex();
  private lastRead = -Infinity;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private healthy: boolean | undefined;
  private readonly now: () => number;

  constructor(private readonly o: PodDirectoryOptions) {
    this.now = o.now ?? (() => Date.now());
  }

  /** Reads the list now and every refreshS after. */
  start(): Promise<void> {
    this.timer = setInterval(() => void this.refresh(), this.o.refreshS * 1000);
    this.timer.unref();
    return this.refresh();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** The pod of `uid`, if the last list had it. An unknown uid asks for a new list (at most once per refreshS). */
  pod(uid: string): PodMeta | undefined {
    const pod = this.index.get(uid);
    if (!pod && this.now() - this.lastRead >= this.o.refreshS * 1000) void this.refresh();
    return pod;
  }

  /** One read; concurrent callers share it. A failed read (or an answer that is not a list) keeps the last good list. */
  refresh(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    this.lastRead = this.now();
    this.inFlight = this.o
      .fetch()
      .then((list) => {
        if (!this.index.replace(list)) throw new Error('the answer is not a pod list');
        this.report(true, `${this.index.size} pods`);
        this.o.onChange?.();
      })
      .catch((err: unknown) => this.report(false, (err as Error).message))
      .finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private report(ok: boolean, detail: string): void {
    if (this.healthy !== ok) this.o.onState?.(ok, detail);
    this.healthy = ok;
  }
}
