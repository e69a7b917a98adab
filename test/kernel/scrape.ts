/** Reading the agent's /metrics in kernel tests, without a Prometheus. */
import type { TestAgent } from '../helpers/agent.js';

/** A series' value in a /metrics text (every label in `labels` present), or undefined. */
export function metric(text: string, name: string, labels = ''): number | undefined {
  const want = labels ? labels.split(',') : [];
  for (const line of text.split('\n')) {
    const bare = line.startsWith(`${name} `);
    if (!bare && !line.startsWith(`${name}{`)) continue;
    const set = bare ? [] : line.slice(name.length + 1, line.indexOf('}')).split(',');
    if (want.every((l) => set.includes(l))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** Scrapes /metrics until `pred` holds for the text (or 20 s pass); returns the last text. */
export async function scrapeUntil(agent: TestAgent, pred: (text: string) => boolean): Promise<string> {
  let text = '';
  for (const start = Date.now(); Date.now() - start < 20_000; await new Promise((r) => setTimeout(r, 100))) {
    text = await (await agent.get('/metrics')).text();
    if (pred(text)) break;
  }
  return text;
}
