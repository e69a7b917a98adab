/**
 * A record that outlives the agent, of what it changed on the host and must undo (cgroups it
 * froze, kernel limits it set): a JSON file in the agent's runtime directory,
 * `{ boot_id, <key>: [...] }`. Replaced whole by a rename, so a crash leaves the old record or the
 * new one, never half of one. Not fsynced: it only has to outlive the agent, and a host that
 * loses power loses its cgroups with it. Removed when it would be empty. A record of another boot
 * is ignored: cgroup ids start again after a reboot.
 */
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Where a record is kept (a BootRecordFile, or nothing in tests). */
export interface RecordStore<E> {
  load(): E[];
  save(entries: E[]): void;
  /** For messages: where the record is. */
  readonly where: string;
}

export class BootRecordFile<E> implements RecordStore<E> {
  readonly where: string;
  readonly #bootId: string;
  readonly #key: string;
  readonly #isEntry: (e: unknown) => e is E;

  /** `key` names the list in the file; entries that fail `isEntry` are dropped when read. */
  constructor(path: string, bootId: string, key: string, isEntry: (e: unknown) => e is E) {
    this.where = path;
    this.#bootId = bootId;
    this.#key = key;
    this.#isEntry = isEntry;
  }

  load(): E[] {
    let text: string;
    try {
      text = readFileSync(this.where, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const doc = JSON.parse(text) as Record<string, unknown>;
    const list = doc[this.#key];
    if (doc.boot_id !== this.#bootId || !Array.isArray(list)) return []; // another boot: those cgroups are gone
    return list.filter(this.#isEntry);
  }

  save(entries: E[]): void {
    if (entries.length === 0) {
      try {
        unlinkSync(this.where);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      return;
    }
    mkdirSync(dirname(this.where), { recursive: true, mode: 0o700 });
    const tmp = `${this.where}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ boot_id: this.#bootId, [this.#key]: entries }) + '\n', { mode: 0o600 });
    renameSync(tmp, this.where);
  }
}

/** A cgroup path as a record may name it: absolute, no `..` (the file is root's, but checked all the same). */
export function isCgroupPath(p: unknown): p is string {
  return typeof p === 'string' && p.startsWith('/') && !p.split('/').includes('..');
}
