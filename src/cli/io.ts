/** Terminal plumbing shared by the commands. */
import fs from 'node:fs';
import tty from 'node:tty';

/**
 * Writes to stdout; a closed pipe (`forkwatch tail | head`) ends the process quietly.
 *
 * When stdout is a file or a character device that is no terminal (`> out.json`, `> /dev/null`),
 * Node's stdout is a synchronous stream already: the text goes to the descriptor in one
 * fs.writeSync instead, which encodes it straight into the write (the stream made a Buffer of
 * every batch and queued a callback for it: a third of tail's CPU per record on a fork loop).
 * A failed write there (a full disk) is one line on stderr and exit 1.
 */
export function stdoutWriter(): (text: string) => boolean {
  const fd = 1;
  if (directFd(fd)) {
    return (text) => {
      try {
        fs.writeSync(fd, text);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'EPIPE') process.exit(0);
        process.stderr.write(`forkwatch: writing to stdout: ${e.message}\n`);
        process.exit(1);
      }
      return true;
    };
  }
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  // false: stdout's buffer is full (backpressure); its 'drain' event says when to write again.
  return (text) => process.stdout.write(text);
}

/** fd is a regular file or a character device that is not a terminal (as Node decides a FILE). */
function directFd(fd: number): boolean {
  try {
    const st = fs.fstatSync(fd);
    return st.isFile() || (st.isCharacterDevice() && !tty.isatty(fd));
  } catch {
    return false;
  }
}

/** Calls stop on SIGINT or SIGTERM; returns an unsubscribe. */
export function onInterrupt(stop: () => void): () => void {
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  };
}
