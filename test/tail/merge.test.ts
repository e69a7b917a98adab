/** StreamMerger: several agents' streams in one time order, with a reorder window. */
import { describe, expect, it } from 'vitest';
import { StreamMerger, timeKey } from '../../src/tail/merge.js';

interface Ev {
  time: string;
  id: string;
}

/** t(5) = 5 µs after a fixed second. */
const BASE = Date.parse('2026-01-01T00:00:00Z') * 1000;
const t = (us: number) => `2026-01-01T00:00:0${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}Z`;
const ev = (us: number, id: string): Ev => ({ time: t(us), id });

/** Without jitter unless asked: the order rules alone. */
function merger(windowUs = 300_000, jitterUs = 0) {
  const out: string[] = [];
  let now = BASE;
  const m = new StreamMerger<Ev>(
    (e, src) => out.push(`${src}:${e.id}`),
    windowUs,
    () => now,
    jitterUs,
  );
  return { m, out, advance: (us: number) => (now += us) };
}

describe('timeKey', () => {
  it.each([
    ['2026-01-01T00:00:00.000001Z', BASE + 1],
    ['2026-01-01T00:00:00.123456Z', BASE + 123_456],
    ['2026-01-01T00:00:01.5Z', BASE + 1_500_000],
    ['2026-01-01T00:00:00Z', BASE],
  ])('%s -> exact microseconds', (iso, key) => {
    expect(timeKey(iso)).toBe(key);
  });
});

describe('StreamMerger', () => {
  it('interleaves two streams in time order, holding an event until the other stream has caught up', () => {
    const { m, out } = merger();
    m.open('a');
    m.open('b');
    m.push('a', ev(10, 'a10'));
    m.push('a', ev(30, 'a30'));
    expect(out).toEqual([]); // b has shown nothing yet: it may still send something earlier
    m.push('b', ev(20, 'b20'));
    expect(out).toEqual(['a:a10', 'b:b20']); // a30 waits: b may still send something before 30
    m.push('b', ev(40, 'b40'));
    expect(out).toEqual(['a:a10', 'b:b20', 'a:a30']);
    m.push('a', ev(50, 'a50'));
    expect(out).toEqual(['a:a10', 'b:b20', 'a:a30', 'b:b40']);
  });

  it('lets an event out once it has waited the window since it arrived, even if another stream is silent', () => {
    const { m, out, advance } = merger(300_000);
    m.open('a');
    m.open('quiet');
    advance(5_000_000); // the event is 5 s old when it arrives (a reader that fell behind): it still waits
    m.push('a', ev(10, 'a10'));
    m.flush();
    expect(out).toEqual([]);
    advance(299_000);
    m.push('a', ev(20, 'a20'));
    m.flush();
    expect(out).toEqual([]);
    advance(1_000);
    m.flush();
    expect(out).toEqual(['a:a10']); // a20 arrived later: it waits its own window
    advance(299_000);
    m.flush();
    expect(out).toEqual(['a:a10', 'a:a20']);
  });

  it('puts an event a few µs out of order back in its place among those still queued', () => {
    const { m, out } = merger();
    m.open('a');
    m.open('b');
    m.push('a', ev(30, 'a30'));
    m.push('a', ev(10, 'a10')); // another CPU's record, reserved later
    m.push('a', ev(20, 'a20'));
    m.push('b', ev(100, 'b100'));
    expect(out).toEqual(['a:a10', 'a:a20', 'a:a30']);
  });

  it('on close: the stream stops holding the others back, but its queued events keep their place', () => {
    const { m, out } = merger();
    for (const s of ['a', 'b', 'c']) m.open(s);
    m.push('c', ev(5, 'c5'));
    m.push('a', ev(50, 'a50'));
    m.push('b', ev(10, 'b10'));
    m.push('b', ev(60, 'b60'));
    // a has shown 50, b 60, c 5: c5 goes; b10 waits for c.
    expect(out).toEqual(['c:c5']);
    m.close('c');
    // Without c: b10 and a50 go (a has shown 50 >= 10, b has shown 60 >= 50); b60 waits for a.
    expect(out).toEqual(['c:c5', 'b:b10', 'a:a50']);
    m.close('a');
    expect(out).toEqual(['c:c5', 'b:b10', 'a:a50', 'b:b60']);
  });

  it('a closed stream with events still queued does not jump ahead of earlier events of others', () => {
    const { m, out } = merger();
    for (const s of ['a', 'b', 'c']) m.open(s);
    m.push('a', ev(50, 'a50'));
    m.push('b', ev(30, 'b30'));
    // c is silent: nothing can go. a closes; a50 must still come after b30.
    m.close('a');
    expect(out).toEqual([]);
    m.push('c', ev(100, 'c100'));
    expect(out).toEqual(['b:b30']); // b, still open, has shown only 30: it may send 40 yet
    m.push('b', ev(45, 'b45'));
    expect(out).toEqual(['b:b30', 'b:b45']);
    m.push('b', ev(70, 'b70'));
    expect(out).toEqual(['b:b30', 'b:b45', 'a:a50', 'b:b70']); // c has shown 100; a is closed
  });

  it('a reopened stream holds the others back again until it shows an event', () => {
    const { m, out } = merger();
    m.open('a');
    m.open('b');
    m.push('a', ev(10, 'a10'));
    m.push('b', ev(20, 'b20'));
    expect(out).toEqual(['a:a10']);
    m.close('a');
    expect(out).toEqual(['a:a10', 'b:b20']);
    m.open('a'); // reconnected
    m.push('b', ev(30, 'b30'));
    expect(out).toEqual(['a:a10', 'b:b20']);
    m.push('a', ev(40, 'a40'));
    expect(out).toEqual(['a:a10', 'b:b20', 'b:b30']);
  });

  it('drain lets out everything still held, in time order', () => {
    const { m, out } = merger();
    for (const s of ['a', 'b', 'silent']) m.open(s);
    m.push('a', ev(30, 'a30'));
    m.push('b', ev(10, 'b10'));
    m.push('a', ev(40, 'a40'));
    m.push('b', ev(35, 'b35'));
    expect(out).toEqual([]);
    expect(m.pending).toBe(4);
    m.drain();
    expect(out).toEqual(['b:b10', 'a:a30', 'b:b35', 'a:a40']);
    expect(m.pending).toBe(0);
  });

  it('with jitter, an event waits until every stream, its own too, is that far past it', () => {
    const { m, out } = merger(300_000, 5);
    m.open('a');
    m.open('b');
    m.push('a', ev(30, 'a30'));
    m.push('b', ev(32, 'b32'));
    m.push('b', ev(40, 'b40'));
    expect(out).toEqual([]); // a has shown 30: not 5 µs past a30 itself
    m.push('a', ev(28, 'a28')); // stamped on another CPU, queued just after
    m.push('a', ev(36, 'a36'));
    expect(out).toEqual(['a:a28', 'a:a30']); // a32+ would need a >= 37 and b >= 37
    m.push('a', ev(50, 'a50'));
    expect(out).toEqual(['a:a28', 'a:a30', 'b:b32']); // b has shown 40: 36 waits for b >= 41
    m.drain();
    expect(out).toEqual(['a:a28', 'a:a30', 'b:b32', 'a:a36', 'b:b40', 'a:a50']);
  });

  it('keeps ties from one stream in arrival order', () => {
    const { m, out } = merger();
    m.open('a');
    m.push('a', ev(10, 'first'));
    m.push('a', ev(10, 'second'));
    m.drain();
    expect(out).toEqual(['a:first', 'a:second']);
  });

  it('a time far ahead of our clock (a forged or wrong clock) does not stop the stream holding the others back', () => {
    const { m, out } = merger();
    m.open('a');
    m.open('b');
    m.push('a', { time: '2099-01-01T00:00:00.000000Z', id: 'future' });
    m.push('b', ev(20, 'b20'));
    m.push('a', ev(10, 'a10'));
    // b's 20 waits for a, which has shown nothing credible past 20 (it would have gone out first,
    // ahead of a's 10, had the far time counted).
    expect(out).toEqual(['a:a10']);
    m.push('a', ev(30, 'a30'));
    m.push('b', ev(40, 'b40'));
    expect(out).toEqual(['a:a10', 'b:b20', 'a:a30']);
    m.drain();
    expect(out).toEqual(['a:a10', 'b:b20', 'a:a30', 'b:b40', 'a:future']);
  });
});
