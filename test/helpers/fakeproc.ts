/** A fake /proc directory for tests without root: the files scanProcesses reads, per process. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface FakeProcess {
  pid: number;
  comm?: string;
  ppid?: number;
  /** stat state: S by default, Z for a zombie. */
  state?: string;
  threads?: number;
  /** Start time in clock ticks since boot (stat field 22). */
  startTicks?: number;
  uid?: number;
  /** Path in the v2 hierarchy. */
  cgroup?: string;
  /** Target of the exe link; none for kernel threads and zombies. */
  exe?: string;
}

export class FakeProc {
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-fakeproc-'));

  constructor(list: FakeProcess[] = []) {
    this.set(list);
  }

  /** Replaces the listing with exactly these processes. */
  set(list: FakeProcess[]): void {
    for (const d of fs.readdirSync(this.root)) fs.rmSync(path.join(this.root, d), { recursive: true });
    for (const p of list) this.add(p);
  }

  add(p: FakeProcess): void {
    const dir = path.join(this.root, String(p.pid));
    fs.mkdirSync(dir);
    const fields = [p.state ?? 'S', p.ppid ?? 1, p.pid, p.pid, 0, -1, 4194304, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, p.threads ?? 1, 0, p.startTicks ?? 100, 0];
    fs.writeFileSync(path.join(dir, 'stat'), `${p.pid} (${p.comm ?? 'sh'}) ${fields.join(' ')}\n`);
    fs.writeFileSync(path.join(dir, 'cgroup'), `0::${p.cgroup ?? '/'}\n`);
    const uid = p.uid ?? 0;
    fs.writeFileSync(path.join(dir, 'status'), `Name:\t${p.comm ?? 'sh'}\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
    if (p.exe) fs.symlinkSync(p.exe, path.join(dir, 'exe'));
  }

  remove(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
