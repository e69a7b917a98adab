import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../../src/metrics/definitions.js';
import { metricsReference } from '../../src/metrics/reference.js';
import { ROOT } from '../helpers/cli.js';

describe('metric reference', () => {
  it('README.md lists every metric as definitions.ts defines it (run `make docs` after a change)', () => {
    expect(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')).toContain(metricsReference());
  });

  it('follows Prometheus naming: forkwatch_ prefix, counters end in _total, units in the name, no pid label', () => {
    for (const m of Object.values(METRICS)) {
      expect(m.name).toMatch(/^forkwatch_[a-z_]+$/);
      if (m.type === 'counter') expect(m.name, m.name).toMatch(/_total$/);
      else expect(m.name, m.name).not.toMatch(/_total$/);
      expect(m.labelNames).not.toContain('pid');
      expect(m.help.length, m.name).toBeGreaterThan(10);
    }
  });
});
