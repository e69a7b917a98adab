/** The README's config examples are real configs: each parses as the agent would read it. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ROOT } from '../helpers/cli.js';

const blocks = [...fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)]
  .map((m) => m[1])
  .filter((b) => !/^scrape_configs:/m.test(b)); // Prometheus's, not ours

describe('README config examples', () => {
  it('has some', () => expect(blocks.length).toBeGreaterThanOrEqual(2));
  it.each(blocks.map((b, i) => [i, b]))('block %i parses', (_i, b) => {
    expect(() => parseConfig(b, 'README.md', { hostname: 'h' })).not.toThrow();
  });
});
