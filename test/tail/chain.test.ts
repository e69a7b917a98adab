/** ChainOrder: each agent run's events back in its export order, whatever order the stream holds them in. */
import { describe, expect, it } from 'vitest';
import { ChainOrder, type Link } from '../../src/tail/chain.js';

interface E {
  time: string;
  id: string;
}
const at = (ms: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0, ms)).toISOString().replace('Z', '000Z');

/** A source's events as [seq, prev] in export order, with times 1 ms apart. */
function setup(startWaitUs = 300_000, gapWaitUs = 10_000_000) {
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
});
