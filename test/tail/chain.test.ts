/** ChainOrder: each agent run's events back in its export order, whatever order the stream holds them in. */
import { describe, expect, it } from 'vitest';
import { ChainOrder, type Link } from '../../src/tail/chain.js';

interface E {
  time: string;
  id: string;
}
const at = (ms: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0, ms)).toISOString().replace('Z', '000Z');

/** A source's events as [seq, prev] in export order, with times 1 ms apart. */
function setup(startWaitUs = 300_000, gapWaitUs = 10_000_000, maxHeld?: number) {
  let now = 0;
  const out: string[] = [];
  const keys: number[] = [];
  const c = new ChainOrder<E>(
    (e, key) => {
      out.push(e.id);
      keys.push(key);
    },
    startWaitUs,
    gapWaitUs,
    () => now,
    maxHeld,
  );
  const push = (source: string, seq: number, prev: number, ms = seq) => c.push({ time: at(ms), id: `${source}${seq}` }, { source, seq, prev } satisfies Link);
  return { c, out, keys, push, advance: (us: number) => (now += us) };
}

describe('ChainOrder', () => {
  it.each([
    [
      'in order',
      [
        [1, 0],
        [5, 1],
        [9, 5],
      ],
      ['a1', 'a5', 'a9'],
    ],
    [
      'a retried one stored after later ones',
      [
        [5, 1],
        [9, 5],
        [1, 0],
      ],
      ['a1', 'a5', 'a9'],
    ],
    [
      'two retried, stored in reverse',
      [
        [9, 5],
        [5, 1],
        [1, 0],
        [12, 9],
      ],
      ['a1', 'a5', 'a9', 'a12'],
    ],
  ])('%s: out at once, in the chain order', (_name, links, want) => {
    const t = setup();
    for (const [seq, prev] of links) t.push('a', seq, prev);
    expect(t.out).toEqual(want);
    expect(t.c.pending).toBe(0);
  });

  it('sources are independent: one waiting never holds another', () => {
    const t = setup();
    t.push('a', 5, 1); // waits for a1
    t.push('b', 1, 0);
    t.push('b', 2, 1);
    expect(t.out).toEqual(['b1', 'b2']);
    t.push('a', 1, 0);
    expect(t.out).toEqual(['b1', 'b2', 'a1', 'a5']);
  });

  it('a gap is skipped once the event after it waited gapWait, and what follows it goes too', () => {
    const t = setup(300_000, 10_000_000);
    t.push('a', 1, 0);
    t.push('a', 7, 4); // a4 lost for good
    t.push('a', 9, 7);
    t.advance(9_999_999);
    t.c.flush();
    expect(t.out).toEqual(['a1']);
    t.advance(1);
    t.c.flush();
    expect(t.out).toEqual(['a1', 'a7', 'a9']);
    // The lost one turns up after all: late, not dropped.
    t.push('a', 4, 1);
    t.push('a', 10, 9);
    expect(t.out).toEqual(['a1', 'a7', 'a9', 'a4', 'a10']);
  });

  it('a source met mid-chain waits startWait for earlier ones, then goes from the earliest it has', () => {
    const t = setup(300_000);
    t.push('a', 9, 7);
    t.push('a', 12, 9);
    t.advance(100_000);
    t.push('a', 7, 3); // the replay brings an earlier one a moment later
    t.advance(199_999);
    t.c.flush();
    expect(t.out).toEqual([]);
    t.advance(1);
    t.c.flush();
    expect(t.out).toEqual(['a7', 'a9', 'a12']);
    t.push('a', 13, 12);
    expect(t.out).toEqual(['a7', 'a9', 'a12', 'a13']);
  });

  it('with no wait (tail --window 0) a source met mid-chain starts at once', () => {
    const t = setup(0, 0);
    t.push('a', 9, 7);
    t.push('a', 12, 9);
    expect(t.out).toEqual(['a9', 'a12']);
  });

  it('the time key never goes back within a source, so the merge by time keeps its order', () => {
    const t = setup();
    t.push('a', 1, 0, 10);
    t.push('a', 2, 1, 8); // stamped 2 ms earlier on another CPU
    t.push('a', 3, 2, 12);
    expect(t.out).toEqual(['a1', 'a2', 'a3']);
    expect(t.keys[1]).toBe(t.keys[0]);
    expect(t.keys[2]).toBeGreaterThan(t.keys[1]);
  });

  it('an event without a link goes out at once; a second copy of a held one is not held twice', () => {
    const t = setup();
    t.c.push({ time: at(1), id: 'x' });
    t.push('a', 5, 1);
    t.push('a', 5, 1);
    expect(t.out).toEqual(['x', 'a5']);
    expect(t.c.pending).toBe(1);
    t.c.drain();
    expect(t.out).toEqual(['x', 'a5', 'a5']);
  });

  it('drain lets out what is held, each source in seq order', () => {
    const t = setup();
    t.push('a', 9, 5);
    t.push('a', 5, 3);
    t.push('b', 4, 2);
    t.c.drain();
    expect(t.out).toEqual(['a5', 'a9', 'b4']);
    expect(t.c.pending).toBe(0);
  });

  it("a dropped event's stand-in links its neighbours and shows nothing, before or after the next one", () => {
    const t = setup();
    t.push('a', 1, 0);
    t.c.skip({ source: 'a', seq: 2, prev: 1 });
    t.push('a', 3, 2);
    t.push('a', 5, 4); // waits for a4
    t.c.skip({ source: 'a', seq: 4, prev: 3 });
    expect(t.out).toEqual(['a1', 'a3', 'a5']);
    expect(t.c.pending).toBe(0);
  });

  it.each([
    ['a self-link', 5, 5],
    ['a prev after its seq', 3, 9],
    ['a negative prev', 3, -1],
    ['a seq past the safe integers', 2 ** 53 + 2, 1],
    ['a fraction', 2.5, 1],
    ['NaN', NaN, 0],
  ])('%s is no link: the event goes out at once and holds nothing', (_name, seq, prev) => {
    const t = setup();
    t.push('a', 1, 0);
    t.c.push({ time: at(2), id: 'forged' }, { source: 'a', seq, prev });
    t.c.skip({ source: 'a', seq, prev });
    t.push('a', 2, 1);
    expect(t.out).toEqual(['a1', 'forged', 'a2']);
    expect(t.c.pending).toBe(0);
  });

  it('seqs up to the largest safe integer chain as any others', () => {
    const t = setup();
    const top = Number.MAX_SAFE_INTEGER;
    t.push('a', top, top - 1, 1);
    t.push('a', top - 1, top - 2, 1);
    t.c.skip({ source: 'a', seq: top - 2, prev: 0 });
    expect(t.out).toEqual([`a${top - 1}`, `a${top}`]);
  });

  it('past maxHeld the gap before the event held longest is skipped, whatever its source', () => {
    const t = setup(300_000, 10_000_000, 3);
    t.push('a', 1, 0);
    t.push('b', 1, 0);
    t.push('a', 5, 4);
    t.push('b', 9, 8);
    t.push('a', 7, 6);
    expect(t.out).toEqual(['a1', 'b1']);
    t.push('b', 12, 11); // a fourth held: a5 (held longest) goes out; a7 still waits for a6
    expect(t.out).toEqual(['a1', 'b1', 'a5']);
    expect(t.c.pending).toBe(3);
    t.push('a', 6, 5);
    expect(t.out).toEqual(['a1', 'b1', 'a5', 'a6', 'a7']);
  });

  it('a flood of forged gaps holds at most maxHeld, costs O(log n) a step, and never holds a valid source back', () => {
    const t = setup();
    const start = Date.now();
    let most = 0;
    for (let i = 0; i < 250_000; i++) {
      // Every forged event waits for one that never comes; a real source goes on beside them.
      t.push('evil', 2 * i + 2, 2 * i + 1);
      most = Math.max(most, t.c.pending);
      if (i % 1000 === 0) t.push('real', i / 1000 + 1, i / 1000);
    }
    expect(most).toBe(100_000);
    expect(t.out.filter((id) => id.startsWith('real'))).toEqual(Array.from({ length: 250 }, (_, i) => `real${i + 1}`));
    // What was let out of the flood came in its seq order; the rest goes once waited for.
    const evil = t.out.filter((id) => id.startsWith('evil')).map((id) => Number(id.slice(4)));
    expect(evil).toHaveLength(150_000);
    expect(evil).toEqual([...evil].sort((a, b) => a - b));
    t.advance(10_000_000);
    t.c.flush();
    expect(t.c.pending).toBe(0);
    expect(t.out).toHaveLength(250_250);
    // The quadratic scan this replaces took minutes here; seconds allow for a loaded machine.
    expect(Date.now() - start).toBeLessThan(10_000);
  });

  it('a flood of forged sources: at most 10,000 remembered, what a forgotten one held goes out, valid ones keep their order', () => {
    const t = setup();
    for (let i = 0; i < 50_000; i++) {
      t.push(`s${i}`, 9, 7); // met mid-chain: each would wait startWait
      if (i % 100 === 0) t.push('real', i / 100 + 1, i / 100);
    }
    expect(t.c.sourceCount).toBe(10_000);
    expect(t.c.pending).toBeLessThan(10_000);
    expect(t.out.filter((id) => id.startsWith('real'))).toEqual(Array.from({ length: 500 }, (_, i) => `real${i + 1}`));
    expect(t.out.filter((id) => id.startsWith('s'))).toHaveLength(50_000 - t.c.pending);
    t.advance(300_000);
    t.c.flush();
    expect(t.c.pending).toBe(0);
  });

  it('a forged link that jumps ahead shows later events at once; a source never goes back to hold what it showed', () => {
    const t = setup();
    t.push('a', 1, 0);
    t.push('a', 9, 3); // waits for a3
    t.push('a', 5, 1); // follows a1; a9 still waits
    t.c.push({ time: at(6), id: 'forged' }, { source: 'a', seq: 1000, prev: 5 });
    t.push('a', 6, 5); // behind what was shown: late, at once
    t.advance(10_000_000);
    t.c.flush();
    t.push('a', 9, 3); // shown already (its copy went out with the gap): not held again
    expect(t.out).toEqual(['a1', 'a5', 'forged', 'a6', 'a9', 'a9']);
    expect(t.c.pending).toBe(0);
  });
});
