/**
 * The beancounters' hook worker for tests that run from src/: a worker thread cannot load
 * TypeScript, so src/beancounters/hook-worker.ts is bundled (esbuild) into a temporary .mjs whose
 * URL ThreadedHooks (and composeAgent's hookWorkerUrl) is given.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

export interface BundledWorker {
  url: URL;
  remove(): void;
}

export async function bundleHookWorker(): Promise<BundledWorker> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forkwatch-hookworker-'));
  const url = pathToFileURL(path.join(dir, 'hook-worker.mjs'));
  await build({
    entryPoints: [new URL('../../src/beancounters/hook-worker.ts', import.meta.url).pathname],
    outfile: url.pathname,
    bundle: true,
    platform: 'node',
    format: 'esm',
    logLevel: 'silent',
  });
  return { url, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
