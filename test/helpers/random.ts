/** A seeded generator (mulberry32) for fuzz tests: the same inputs on every run, so a failure can be replayed. */
export function seeded(seed: number): { rand: () => number; int: (n: number) => number; pick: <T>(xs: readonly T[]) => T } {
  let a = seed;
  const rand = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(rand() * n);
  return { rand, int, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)] };
}
