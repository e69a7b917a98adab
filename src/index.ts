/**
 * forkwatch as a library: subscribe to a running agent's events.
 * The agent itself is the `forkwatch` command (bin/forkwatch.js).
 */
export { watch, type WatchEvent, type WatchOptions, type Notice, type ProcessEvent, type AgentEvent } from './client/watch.js';
