/** The accounting log as the service writes it: reopened when its config changes, never throwing. */
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import type { AccountingSink, CrossingEvent } from './types.js';
import type { ReleaseRecord } from './model/release.js';

type LogOptions = NonNullable<Config['accounting']['log']>;

export class AccountingRecords {
  #sink: AccountingSink | undefined;
  #key = '';

  constructor(
    private readonly openLog: ((opts: LogOptions) => AccountingSink) | undefined,
    private readonly log: Logger,
  ) {}

  /** Opens the log the config names, unless it is the one open already. */
  configure(opts: LogOptions | undefined): void {
    const key = opts === undefined ? '' : JSON.stringify(opts);
    if (key === this.#key) return;
    this.#key = key;
    this.#sink = opts === undefined || this.openLog === undefined ? undefined : this.openLog(opts);
  }

  /** Appends a record; a failing log is a warning, never a throw into the agent. */
  append(record: CrossingEvent | ReleaseRecord): void {
    if (this.#sink === undefined) return;
    try {
      this.#sink.append(record);
    } catch (err) {
      this.log.warn(`accounting log: ${(err as Error).message}`);
    }
  }

  /** Writes what waits for a failing log. */
  flush(): void {
    this.#sink?.flush?.();
  }
}
