/**
 * The lifetime slot the kernel counts an exit in (bpf/lifetime.h, found without a division) is the
 * plain division's, and the one user space labels (src/groups/registry.ts lifetimeSlot): compiled
 * on the host and fed the slot boundaries, the edges of the u64 range and seeded random lifetimes.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { LIFETIME_SLOTS } from '../../src/events/layout.js';
import { lifetimeSlot } from '../../src/groups/registry.js';
import { workload } from '../helpers/workloads.js';

const U64_MAX = 2n ** 64n - 1n;

/** Every boundary 2^k ms (k up to 2^k ms < 2^64 ns), a few ns either side. */
function boundaries(): bigint[] {
  const out: bigint[] = [];
  for (let k = 0n; 1_000_000n << k <= U64_MAX; k++) {
    for (let d = -3n; d <= 3n; d++) {
      const ns = (1_000_000n << k) + d;
      if (ns >= 0n && ns <= U64_MAX) out.push(ns);
    }
  }
  return out;
}

/** Lifetimes spread over every magnitude: a seeded xorshift, shifted right by 0..63 bits. */
function spread(n: number): bigint[] {
  let x = 0x9e3779b97f4a7c15n;
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    x ^= (x << 13n) & U64_MAX;
    x ^= x >> 7n;
    x ^= (x << 17n) & U64_MAX;
    out.push(x >> (x % 64n));
  }
  return out;
}

function kernelSlots(values: bigint[]): [number, number][] {
  const out = execFileSync(workload('lifetime-slot'), { input: values.join('\n') + '\n', encoding: 'utf8', maxBuffer: 64 << 20 });
  return out
    .trim()
    .split('\n')
    .map((line) => line.split(' ').map(Number) as [number, number]);
}

describe('the kernel lifetime slot (bpf/lifetime.h)', () => {
  const values = [0n, 1n, 999_999n, U64_MAX, ...boundaries(), ...spread(200_000)];
  const slots = kernelSlots(values);

  it('is the slot of the division for every value', () => {
    expect(slots).toHaveLength(values.length);
    const wrong = values.filter((_, i) => slots[i][0] !== slots[i][1]);
    expect(wrong).toEqual([]);
    // The values reach every slot, +Inf included: the comparison covered each branch.
    expect(new Set(slots.map(([s]) => s)).size).toBe(LIFETIME_SLOTS);
  });

  it('is the slot user space labels, wherever a double holds the ns exactly', () => {
    const wrong = values.filter((ns, i) => ns <= BigInt(Number.MAX_SAFE_INTEGER) && lifetimeSlot(Number(ns)) !== slots[i][0]);
    expect(wrong).toEqual([]);
    expect(slots[values.indexOf(999_999n)][0]).toBe(0);
    expect(slots[values.indexOf(1_000_000n)][0]).toBe(1);
    expect(slots[values.indexOf(U64_MAX)][0]).toBe(LIFETIME_SLOTS - 1);
  });
});
