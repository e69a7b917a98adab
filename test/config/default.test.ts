/** The one home of defaults (src/config/default.ts): the BPF loader's options come from it, and the addon has none of its own. */
import { describe, expect, it } from 'vitest';
import { DEFAULTS, PROBE_DEFAULTS, probeOptions } from '../../src/config/default.js';
import { loadBinding } from '../../src/host/binding.js';

describe('probe options', () => {
  it("are the config defaults, in the addon's units", () => {
    expect(PROBE_DEFAULTS).toMatchObject({
      ringBytes: DEFAULTS.bpf.ring_buffer_bytes,
      counterEntries: DEFAULTS.bpf.counter_entries,
      argvMax: DEFAULTS.bpf.argv_max_bytes,
      wakeupNs: Math.round(DEFAULTS.bpf.flush_interval_s * 1e9),
      cpuAccounting: DEFAULTS.bpf.cpu_accounting,
      cgroupHierarchy: 0,
    });
  });

  it('probeOptions sets every option: those given, else the default (undefined is not given)', () => {
    const o = probeOptions({ ringBytes: 4096, argvMax: undefined, threadEvents: true });
    expect(Object.keys(o).sort()).toEqual(Object.keys(PROBE_DEFAULTS).sort());
    expect(o).toEqual({ ...PROBE_DEFAULTS, ringBytes: 4096, threadEvents: true });
    expect(Object.values(o).every((v) => v !== undefined)).toBe(true);
  });

  it.each(Object.keys(PROBE_DEFAULTS))('the addon refuses a Probe without %s, naming it, before loading anything', (key) => {
    const binding = loadBinding();
    const options: Record<string, unknown> = { ...PROBE_DEFAULTS };
    delete options[key];
    expect(() => new binding.Probe(options)).toThrow(
      new TypeError(`option ${key} is missing; the caller passes every option (defaults: src/config/default.ts)`),
    );
  });

  const numeric = Object.keys(PROBE_DEFAULTS).filter((k) => typeof PROBE_DEFAULTS[k as keyof typeof PROBE_DEFAULTS] === 'number');
  it.each(numeric.flatMap((key) => [NaN, Infinity, -1, 2 ** 64, '4096'].map((bad) => [key, bad] as const)))(
    'the addon refuses %s = %s, naming it, before loading anything',
    (key, bad) => {
      const binding = loadBinding();
      expect(() => new binding.Probe({ ...PROBE_DEFAULTS, [key]: bad })).toThrow(new TypeError(`option ${key} must be a non-negative number`));
    },
  );

  it('the addon refuses watchedEntries = 0, naming it, before loading anything', () => {
    const binding = loadBinding();
    expect(() => new binding.Probe({ ...PROBE_DEFAULTS, watchedEntries: 0 })).toThrow(new TypeError('option watchedEntries must be at least 1'));
  });
});
