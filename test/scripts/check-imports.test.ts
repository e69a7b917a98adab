// scripts/check-imports.mjs run as `make check-imports` runs it, on small trees written per test.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../helpers/cleanups.js';
import { ROOT } from '../helpers/cli.js';

const SCRIPT = path.join(ROOT, 'scripts/check-imports.mjs');
const cleanups = cleanupAfterEach();

/** Writes `files` (path under src/ -> content) into a fresh directory; returns that directory. */
function tree(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-imports-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.join(dir, 'src', path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'src', rel), text);
  }
  return dir;
}

/** Runs the checker on dir/src from dir, as make does from the repository. */
function check(dir: string): { code: number | null; lines: string[] } {
  const r = spawnSync(process.execPath, [SCRIPT, 'src'], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
  expect(r.stderr).toBe('');
  return { code: r.status, lines: r.stdout.trimEnd().split('\n') };
}

describe('check-imports', () => {
  it('passes a tree whose imports all point down the pipeline', () => {
    const dir = tree({
      'errors.ts': 'export class UsageError extends Error {}\n',
      'log.ts': "import { UsageError } from './errors.js';\nexport const e = UsageError;\n",
      'host/procfs.ts': "import { UsageError } from '../errors.js';\nimport fs from 'node:fs';\nexport const r = [UsageError, fs];\n",
      'events/decode.ts': "import type { Cfg } from '../config/types.js';\nimport { r } from '../host/procfs.js';\nexport const d = (c: Cfg) => [c, r];\n",
      'config/types.ts': 'export interface Cfg { a: number }\n',
      'cli/main.ts': "export async function main() { return import('../events/decode.js'); }\n",
      'index.ts': "export { main } from './cli/main.js';\n",
    });
    expect(check(dir)).toEqual({ code: 0, lines: ['check-imports: 7 modules, 6 imports, 0 problems'] });
  });

  it('reports a cycle inside a folder and an edge back up the pipeline, one line each', () => {
    const dir = tree({
      'events/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
      'events/b.ts': "import { c } from './c.js';\nexport const b = () => c;\n",
      'events/c.ts': "import { a } from './a.js';\nexport const c = () => a;\n",
      'host/procfs.ts': "import type { Cfg } from '../config/types.js';\nexport const p = (c: Cfg) => c;\n",
      'config/types.ts': 'export interface Cfg { a: number }\n',
    });
    const { code, lines } = check(dir);
    expect(code).toBe(1);
    expect(lines).toEqual([
      'src/host/procfs.ts -> src/config/types.ts  back-edge: host (layer 2) imports config (layer 3) [type-only]',
      'src/events/a.ts -> src/events/b.ts  cycle: src/events/a.ts -> src/events/b.ts -> src/events/c.ts -> src/events/a.ts',
      'check-imports: 5 modules, 4 imports, 2 problems',
    ]);
  });

  it('finds every kind of import: re-export, import(), import type expression, a cycle between folders', () => {
    const dir = tree({
      'stream/accept.ts': "export { f } from '../tail/filter.js';\n",
      'stream/query.ts': "export type F = import('../tail/options.js').Opts;\n",
      'tail/filter.ts': "export const f = async () => (await import('../stream/accept.js')).f;\n",
      'tail/options.ts': 'export interface Opts { a: number }\n',
    });
    const { code, lines } = check(dir);
    expect(code).toBe(1);
    expect(lines).toEqual([
      'src/stream/accept.ts -> src/tail/filter.ts  back-edge: stream (layer 9) imports tail (layer 14)',
      'src/stream/query.ts -> src/tail/options.ts  back-edge: stream (layer 9) imports tail (layer 14) [type-only]',
      'src/stream/accept.ts -> src/tail/filter.ts  cycle: src/stream/accept.ts -> src/tail/filter.ts -> src/stream/accept.ts',
      'check-imports: 4 modules, 3 imports, 3 problems',
    ]);
  });

  it('reports sideways imports within a layer, files in no layer and imports that name nothing', () => {
    const dir = tree({
      'supervisor/service.ts': "import { Ledger } from '../beancounters/ledger.js';\nexport const s = Ledger;\n",
      'beancounters/ledger.ts': "import { gone } from './gone.js';\nexport const Ledger = gone;\n",
      'proc/procfs.ts': 'export const x = 1;\n',
    });
    const { code, lines } = check(dir);
    expect(code).toBe(1);
    expect(lines).toEqual([
      'src/beancounters/ledger.ts -> ./gone.js  unresolved',
      'src/proc/procfs.ts: in no layer (unassigned): move it to a folder of the layout or add it to LAYERS',
      'src/supervisor/service.ts -> src/beancounters/ledger.ts  sideways: supervisor/ imports beancounters/, both in layer 7 (services)',
      'check-imports: 3 modules, 2 imports, 3 problems',
    ]);
  });

  it('says so in one line when the directory is missing', () => {
    const r = spawnSync(process.execPath, [SCRIPT, 'no-such-dir'], { cwd: os.tmpdir(), encoding: 'utf8' });
    expect({ code: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 2, stdout: '', stderr: 'check-imports: no-such-dir: not a directory\n' });
  });
});
