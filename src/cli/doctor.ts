/** `forkwatch doctor`: one line per requirement, ok or what is wrong and how to fix it. */
import type { CommandModule } from 'yargs';
import { runChecks } from '../doctor/checks.js';
import { loadBinding, type NativeBinding } from '../host/binding.js';
import { inert } from '../terminal.js';

export const doctorCommand: CommandModule = {
  command: 'doctor',
  describe: 'Check that this host can run forkwatch',
  handler: () => {
    let binding: NativeBinding | undefined;
    try {
      binding = loadBinding();
    } catch {
      binding = undefined;
    }
    const checks = runChecks(binding);
    const width = Math.max(...checks.map((c) => c.name.length));
    for (const c of checks) process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(width)}  ${inert(c.detail)}\n`);
    process.exitCode = checks.every((c) => c.ok) ? 0 : 1;
  },
};
