/** Wires a tail session to the real kernel, terminal and signals. */
import { detectHierarchy } from '../cgroups/fs.js';
import { EventSource } from '../events/source.js';
import { createLogger } from '../log.js';
import { loadBinding } from '../native/binding.js';
import { runTail, seedTable, type TailOptions } from '../tail/session.js';
import { stdoutWriter, onInterrupt } from './io.js';

export async function startTail(
  opts: TailOptions,
  k: { ringBytes?: number; argvMax?: number; hierarchy: string; verbose: boolean },
): Promise<number> {
  const log = createLogger({ verbose: k.verbose });
  const hierarchy = detectHierarchy(k.hierarchy);
  const source = new EventSource(loadBinding(), {
    hierarchy,
    log,
    probe: { ringBytes: k.ringBytes, argvMax: k.argvMax, threadEvents: opts.filter.threads === true, cpuAccounting: false },
  });
  const table = seedTable(source, hierarchy.id);
  return runTail(source, table, opts, {
    out: stdoutWriter(),
    err: (line) => process.stderr.write(line + '\n'),
    onInterrupt,
  });
}
