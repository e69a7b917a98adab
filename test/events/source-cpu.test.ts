/**
 * The switch program keeps a cgroup's CPU in the CPU's slot (fw_oncpu.acc_ns) and moves it into the
 * counter map only when the CPU changes cgroup. EventSource.counters() reads the slots, the map,
 * the slots again, and retries while a move fell between (fw_oncpu.seq changed or odd), so a
 * reading neither misses nor double-counts a move. The probe here answers scripted reads.
 */
import { describe, expect, it } from 'vitest';
import { COUNTER_ROW_SIZE, COUNTERS, LAYOUT } from '../../src/events/layout.js';
import { EventSource } from '../../src/events/source.js';
import type { ProbeOptions } from '../../src/host/binding.js';
import { createLogger } from '../../src/log.js';
import { ReplayProbe } from '../helpers/fake-host.js';

interface Slot {
  cgroupId: number;
  seq: number;
  accNs: number;
}

function oncpu(slots: Slot[]): Buffer {
  const f = LAYOUT.fw_oncpu.fields;
  const buf = Buffer.alloc(slots.length * LAYOUT.fw_oncpu.size);
  slots.forEach((s, i) => {
    const at = i * LAYOUT.fw_oncpu.size;
    buf.writeBigUInt64LE(BigInt(s.cgroupId), at + f.cgroup_id[0]);
    buf.writeUInt32LE(s.seq, at + f.seq[0]);
    buf.writeBigUInt64LE(BigInt(s.accNs), at + f.acc_ns[0]);
  });
  return buf;
}

function rows(cpu: Record<number, number>): Buffer {
  return Buffer.concat(
    Object.entries(cpu).map(([id, ns]) => {
      const b = Buffer.alloc(COUNTER_ROW_SIZE);
      b.writeBigUInt64LE(BigInt(id), 0);
      b.writeBigUInt64LE(BigInt(ns), 8 + COUNTERS.fields.cpu_ns[0]);
      return b;
    }),
  );
}

/** A probe with the switch program attached whose map and slot reads follow a script. */
class ScriptedProbe extends ReplayProbe {
  override readonly attached = ['handle_fork', 'handle_switch'];
  slotReads: Buffer[] = [];
  mapReads: Buffer[] = [];
  override readCounters(): Buffer {
    return this.mapReads.length > 1 ? this.mapReads.shift()! : this.mapReads[0];
  }
  override oncpu(): Buffer {
    return this.slotReads.length > 1 ? this.slotReads.shift()! : this.slotReads[0];
  }
}

function source(gone: number[] = []): { src: EventSource; probe: ScriptedProbe } {
  let probe: ScriptedProbe | undefined;
  function Probe(options: ProbeOptions): ScriptedProbe {
    probe = new ScriptedProbe(options);
    return probe;
  }
  const src = new EventSource(
    { Probe: Probe as unknown as ConstructorParameters<typeof EventSource>[0]['Probe'], clocks: () => [0n, 0n] },
    {
      hierarchy: { name: 'name=systemd', id: 9, mount: '/fake' },
      log: createLogger({ quiet: true }),
      probe: {},
      cgroups: { scan: () => new Map([[1, '/']]), find: () => undefined },
      preflight: () => {},
    },
  );
  for (const id of gone) src.names.gone(id, `/gone-${id}`);
  return { src, probe: probe! };
}

const cpuOf = (src: EventSource, id: number) => src.counters().find((r) => r.cgroupId === id)?.cpuNs;

describe('EventSource.counters() with the switch program', () => {
  it("adds the slots' time to the rows when no move fell between the reads", () => {
    const { src, probe } = source();
    probe.mapReads = [rows({ 7: 1000, 8: 50 })];
    probe.slotReads = [
      oncpu([
        { cgroupId: 7, seq: 2, accNs: 30 },
        { cgroupId: 8, seq: 6, accNs: 5 },
      ]),
    ];
    expect(cpuOf(src, 7)).toBe(1030);
    expect(cpuOf(src, 8)).toBe(55);
  });

  it('reads again when a move fell between the map read and the second slot read', () => {
    const { src, probe } = source();
    // CPU 0 held 100 ns of cgroup 7 and moved it into the row right after the map was read: the
    // first map read lacks it and the second slot read no longer has it (1000 would be short).
    probe.slotReads = [oncpu([{ cgroupId: 7, seq: 2, accNs: 100 }]), oncpu([{ cgroupId: 7, seq: 4, accNs: 0 }])];
    probe.mapReads = [rows({ 7: 1000 }), rows({ 7: 1100 })];
    expect(cpuOf(src, 7)).toBe(1100);
  });

  it('reads again while a move is under way (odd seq)', () => {
    const { src, probe } = source();
    probe.slotReads = [oncpu([{ cgroupId: 7, seq: 3, accNs: 100 }]), oncpu([{ cgroupId: 7, seq: 3, accNs: 100 }]), oncpu([{ cgroupId: 7, seq: 4, accNs: 0 }])];
    probe.mapReads = [rows({ 7: 1100 }), rows({ 7: 1100 })];
    // Taking the odd reading would count the 100 ns twice (1200).
    expect(cpuOf(src, 7)).toBe(1100);
  });

  it('gives a live cgroup only a slot has time for a row, and a removed one none', () => {
    const { src, probe } = source([9]);
    probe.mapReads = [rows({ 7: 10 })];
    probe.slotReads = [
      oncpu([
        { cgroupId: 8, seq: 2, accNs: 40 },
        { cgroupId: 9, seq: 2, accNs: 60 },
      ]),
    ];
    const got = src.counters();
    expect(got.find((r) => r.cgroupId === 8)).toMatchObject({ cpuNs: 40, forks: 0, removed: false });
    expect(got.find((r) => r.cgroupId === 9)).toBeUndefined();
    expect(src.counterRows).toBe(1);
  });
});
