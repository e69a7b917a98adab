/** `forkwatch logs <program> [-f] [-n N]`: a supervised program's log file (program_logs). */
import type { Argv, CommandModule } from 'yargs';
import { DEFAULTS } from '../config/default.js';
import { loadConfig } from '../config/load.js';
import { EnvironmentError, errnoCode, errnoText, UsageError } from '../errors.js';
import { lastLines, LogFollower, logPath } from '../supervisor/log-files.js';
import { inert } from '../terminal.js';

interface LogsArgs {
  program: string;
  follow?: boolean;
  lines: number;
  config?: string;
  dir?: string;
}

/**
 * A line as written to `out`: its bytes unchanged for a pipe or a file, made inert for a terminal
 * (a program's output may hold escapes that would act on it; a CR before the newline is dropped).
 */
export function formatLines(lines: Buffer[], terminal: boolean): Buffer {
  if (!terminal) return Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')]));
  return Buffer.from(lines.map((l) => inert(l.toString('utf8').replace(/\r$/, '')) + '\n').join(''));
}

/** The directory: --dir, else program_logs.dir of --config, else the default one. */
function logDir(a: LogsArgs): string {
  if (a.dir !== undefined) return a.dir;
  if (a.config === undefined) return DEFAULTS.program_logs.dir;
  const dir = loadConfig(a.config).program_logs?.dir;
  if (dir === undefined) throw new UsageError(`${a.config} has no program_logs: programs' output goes to the agent's own log`);
  return dir;
}

function write(out: NodeJS.WriteStream, data: Buffer): Promise<void> {
  if (data.length === 0 || out.write(data)) return Promise.resolve();
  return new Promise((resolve) => out.once('drain', resolve));
}

export const logsCommand: CommandModule<object, LogsArgs> = {
  command: 'logs <program>',
  describe: "Show a supervised program's log (program_logs): its last lines, and with -f the new ones as they come",
  builder: (y: Argv) =>
    y
      .positional('program', { type: 'string', describe: 'program name' })
      .option('follow', { alias: 'f', type: 'boolean', describe: 'keep printing new lines, across rotations and agent restarts' })
      .option('lines', { alias: 'n', type: 'number', default: 10, describe: 'how many of the last lines to print first' })
      .option('config', { type: 'string', describe: "the agent's config file, to find program_logs.dir" })
      .option('dir', {
        type: 'string',
        describe: `the log directory (default: program_logs.dir of --config, else ${DEFAULTS.program_logs.dir})`,
      }) as Argv<LogsArgs>,
  handler: async (a) => {
    if (!Number.isInteger(a.lines) || a.lines < 0) throw new UsageError(`-n ${String(a.lines)}: expected a whole number of lines, 0 or more`);
    const file = logPath(logDir(a), a.program);
    const out = process.stdout;
    // `forkwatch logs x | head` closes the pipe: that is the end, not an error.
    out.on('error', (err) => {
      if (errnoCode(err) === 'EPIPE') process.exit(0);
      throw err;
    });
    const terminal = out.isTTY === true;
    let start;
    try {
      start = lastLines(file, a.lines);
    } catch (err) {
      throw new EnvironmentError(
        `cannot read ${file}: ${errnoText(err)}${errnoCode(err) === 'EACCES' ? '; program logs are readable by root only (files 0640 in a directory only root writes)' : ''}`,
      );
    }
    if (start.at.fd === null && !a.follow) {
      throw new EnvironmentError(`no log for program "${a.program}": ${file} is not there (program_logs is off, or the program has not started)`);
    }
    await write(out, formatLines(start.lines, terminal));
    if (!a.follow) return;
    const follower = new LogFollower(
      file,
      start.at,
      (lines) => write(out, formatLines(lines, terminal)),
      (message) => process.stderr.write(`forkwatch: ${inert(message)}\n`),
    );
    await follower.run();
  },
};
