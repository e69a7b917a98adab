// The knockout switches of bpf/proc.bpf.c (FW_KO_*), read from the source itself so the bench and
// its test never list them apart: `#define FW_KO_NAME 0  /* what it removes */`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** [{ name: 'RECORD', define: '-DFW_KO_RECORD=1', removes: 'no fork, exec or exit record …' }] */
export function knockouts(root) {
  const src = readFileSync(join(root, 'bpf/proc.bpf.c'), 'utf8');
  return [...src.matchAll(/^#define FW_KO_([A-Z_]+) 0\s*\/\*\s*(.*?)\s*\*\/$/gm)].map(([, name, removes]) => ({
    name,
    define: `-DFW_KO_${name}=1`,
    removes,
  }));
}
