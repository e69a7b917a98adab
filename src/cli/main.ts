/** The forkwatch command line: one yargs module per command, errors reported in one place. */
import yargs from 'yargs';
import { UsageError } from '../errors.js';
import { inert } from '../terminal.js';
import { beancountersCommand } from './beancounters.js';
import { doctorCommand } from './doctor.js';
import { groupsCommand } from './groups.js';
import { logsCommand } from './logs.js';
import { programsCommand, restartCommand, startCommand, stopCommand } from './programs.js';
import { runCommand } from './run.js';
import { tailCommand } from './tail.js';

/**
 * Prints an error the way its kind deserves: a usage error as one line, a bug with its stack.
 * Messages quote input (a flag, a cgroup path, an agent's answer), so they are made inert; the
 * stack's frames are the code's own and keep their lines.
 */
export function report(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`forkwatch: ${inert(err.message)}\n`);
    return err.exitCode;
  }
  const stack = (err as Error)?.stack;
  const frames = typeof stack === 'string' ? stack.indexOf('\n    at ') : -1;
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  process.stderr.write(`forkwatch: internal error (please report): ${inert(text)}${frames >= 0 ? stack!.slice(frames) : ''}\n`);
  return 70;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await yargs(argv)
      .scriptName('forkwatch')
      .command(runCommand)
      .command(tailCommand)
      .command(groupsCommand)
      .command(beancountersCommand)
      .command(programsCommand)
      .command(startCommand)
      .command(stopCommand)
      .command(restartCommand)
      .command(logsCommand)
      .command(doctorCommand)
      .demandCommand(1, 'name a command: run, tail, groups, beancounters, programs, start, stop, restart, logs, doctor (see forkwatch --help)')
      .strict()
      .recommendCommands()
      .fail((msg, err) => {
        if (err) throw err;
        // yargs says only "Did you mean tail?" for a mistyped command: name what was typed.
        if (/^Did you mean/.test(msg)) throw new UsageError(`unknown command "${argv[0]}"; ${msg.replace(/^Did/, 'did')}`);
        throw new UsageError(`${msg}; see 'forkwatch --help'`);
      })
      .help()
      .version()
      .parseAsync();
  } catch (err) {
    process.exitCode = report(err);
  }
}
