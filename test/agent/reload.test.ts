/** What a SIGHUP may change, as the composition root decides it (no root: configs only). */
import { describe, expect, it } from 'vitest';
import { reloadRefusal } from '../../src/agent/compose.js';
import { testConfig } from '../helpers/fake-host.js';

describe('reloadRefusal', () => {
  it('refuses a changed bpf.flush_interval in one line naming the key', () => {
    const line = reloadRefusal(testConfig('bpf: { flush_interval: 2ms }'), testConfig('bpf: { flush_interval: 50ms }'));
    expect(line).toBe('SIGHUP: bpf.flush_interval changed, which only take effect at start; keeping the previous config (restart the agent to apply it)');
  });

  it('names every start-only key that changed, and nothing else', () => {
    const line = reloadRefusal(
      testConfig('bpf: { ring_buffer_bytes: 8MiB }\ngroups:\n  - name: a\n    match: { comm: a }\n'),
      testConfig('bpf: { ring_buffer_bytes: 16MiB, counter_entries: 4096 }\ngroups:\n  - name: b\n    match: { comm: b }\n'),
    );
    expect(line).toMatch(/^SIGHUP: bpf\.ring_buffer_bytes, bpf\.counter_entries changed, which only take effect at start;/);
  });

  it('lets a reload that changes only what can change through', () => {
    expect(
      reloadRefusal(testConfig(''), testConfig('groups:\n  - name: web\n    match: { comm: nginx }\nresources:\n  tasks: { limit: 100 }\n')),
    ).toBeUndefined();
  });
});
