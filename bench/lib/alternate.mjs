// The alternating-chunk method of bench/overhead.mjs, shared with bench/agent-cost.mjs: the same
// loop runs in chunks of about a second, alternately detached (A) and with a tool attached (B), in
// the order A B B A A B B A ... so slow drift hits both sides alike. Each adjacent A/B pair gives
// one ratio B/A, for the workload's wall time and for its own CPU time (user + system of the
// workload and its children: the BPF programs run in the forking and exiting tasks).
import { median, quantile } from './stats.mjs';

/** A B B A ...: chunk i is attached when floor((i + 1) / 2) is odd. */
export const attachedAt = (i) => ((i + 1) >> 1) % 2 === 1;

/**
 * Runs up to 2 × perSide chunks: `attach()` before each B block (resolves with a handle),
 * `detach(handle)` before each A block and at the end (its results are returned as `blocks`),
 * `chunk(i, attached)` for each chunk (resolves with a runWorkload result). Past `stopAt`
 * (ms since the epoch) it ends at a pair boundary, after at least two pairs.
 */
export async function alternate({ perSide, stopAt = Infinity, attach, detach, chunk, onStop = () => {} }) {
  const chunks = [];
  const blocks = [];
  let handle = null;
  try {
    for (let i = 0; i < 2 * perSide; i++) {
      if (i % 2 === 0 && i >= 4 && Date.now() > stopAt) {
        onStop(i / 2);
        break;
      }
      const want = attachedAt(i);
      if (want && !handle) handle = await attach(i);
      if (!want && handle) {
        blocks.push(await detach(handle));
        handle = null;
      }
      const r = await chunk(i, want);
      chunks.push({ attached: want, elapsedS: r.elapsedNs / 1e9, cpuS: r.cpuNs / 1e9, eventsPerS: (r.tasks + r.execs + r.exits) / (r.elapsedNs / 1e9) });
    }
  } finally {
    if (handle) blocks.push(await detach(handle));
  }
  return { chunks, blocks };
}

/** The pair ratios B/A of wall and CPU time, their medians, middle halves and ranges. */
export function pairStats(chunks) {
  const ratios = [];
  const cpuRatios = [];
  for (let i = 0; i + 1 < chunks.length; i += 2) {
    const [a, b] = chunks[i].attached ? [chunks[i + 1], chunks[i]] : [chunks[i], chunks[i + 1]];
    ratios.push(b.elapsedS / a.elapsedS);
    cpuRatios.push(b.cpuS / a.cpuS);
  }
  const side = (attached, key) => chunks.filter((c) => c.attached === attached).map((c) => c[key]);
  return {
    pairs: ratios.length,
    ratios,
    medianRatio: median(ratios),
    p25: quantile(ratios, 0.25),
    p75: quantile(ratios, 0.75),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
    medianA: median(side(false, 'elapsedS')),
    medianB: median(side(true, 'elapsedS')),
    cpuRatios,
    cpuMedianRatio: median(cpuRatios),
    cpuP25: quantile(cpuRatios, 0.25),
    cpuP75: quantile(cpuRatios, 0.75),
    eventsPerS: median(side(false, 'eventsPerS')),
  };
}
