/**
 * Cluster identity. A pid is reused, and means nothing on another host; (boot id, pid, start
 * time) names one process on one boot of one machine, so a tree rebuilt from many hosts' merged
 * streams never confuses two processes.
 */
import fs from 'node:fs';

/** The kernel's random id of this boot, without dashes. */
export function readBootId(read = (p: string) => fs.readFileSync(p, 'utf8')): string {
  return read('/proc/sys/kernel/random/boot_id').trim().replace(/-/g, '');
}

/**
 * `<first 16 hex of boot id>-<pid>-<start ns>`: 64 bits of boot id keep collisions across a
 * fleet out of reach while staying short enough to read.
 */
export function processId(bootId: string, pid: number, startNs: number): string {
  return `${bootId.slice(0, 16)}-${pid}-${startNs}`;
}
