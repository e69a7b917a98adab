/** Cleanups a test registers as it makes things (agents, cgroups, processes, files). */
import { afterEach } from 'vitest';

export type Cleanup = () => Promise<void> | void;

/**
 * A list to push cleanups to; after each test they run last-first (agents before the cgroups their
 * hooks are in), each even when another failed.
 */
export function cleanupAfterEach(): Cleanup[] {
  const list: Cleanup[] = [];
  afterEach(async () => {
    for (const c of list.splice(0).reverse()) {
      try {
        await c();
      } catch (err) {
        console.error(`cleanup: ${(err as Error).message}`);
      }
    }
  });
  return list;
}
