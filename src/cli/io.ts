/** Terminal plumbing shared by the commands. */

/** Writes to stdout; a closed pipe (`forkwatch tail | head`) ends the process quietly. */
export function stdoutWriter(): (text: string) => boolean {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  // false: stdout's buffer is full (backpressure); its 'drain' event says when to write again.
  return (text) => process.stdout.write(text);
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
