/** The `api` section: the unix socket, the TCP tokens, redaction and the event stream's bounds. */
import { DEFAULTS } from './default.js';
import { describe, orDefault, type ConfigReader } from './reader.js';
import type { Config } from './types.js';

const API_KEYS = ['socket', 'token_file', 'control_token_file', 'redact', 'subscriber_queue', 'subscriber_queue_bytes', 'max_subscribers'] as const;

/** Reads `api`; a control token file that is also the read token file is refused. */
export function readApi(r: ConfigReader, value: unknown): Config['api'] {
  const d = DEFAULTS.api;
  const map = r.mapping(value, ['api'], API_KEYS);
  const api: Config['api'] = {
    socket: orDefault(map.socket, d.socket, (v) => r.absolutePath(v, ['api', 'socket'])),
    redact: r.list(map.redact, ['api', 'redact'], 'a list of regular expressions').map((v, i) => r.regex(v, ['api', 'redact', i])),
    subscriber_queue: orDefault(map.subscriber_queue, d.subscriber_queue, (v) => r.integer(v, ['api', 'subscriber_queue'], { min: 1, max: 1_000_000 })),
    subscriber_queue_bytes: orDefault(map.subscriber_queue_bytes, d.subscriber_queue_bytes, (v) =>
      r.size(v, ['api', 'subscriber_queue_bytes'], { min: 64 * 1024, max: 1024 * 2 ** 20 }),
    ),
    max_subscribers: orDefault(map.max_subscribers, d.max_subscribers, (v) => r.integer(v, ['api', 'max_subscribers'], { min: 1, max: 10_000 })),
  };
  if (map.token_file != null) api.token_file = r.absolutePath(map.token_file, ['api', 'token_file']);
  if (map.control_token_file != null) {
    api.control_token_file = r.absolutePath(map.control_token_file, ['api', 'control_token_file']);
    if (api.control_token_file === api.token_file) {
      r.fail(['api', 'control_token_file'], `${describe(api.control_token_file)} is also api.token_file, so a reader could control`, 'a file of its own');
    }
  }
  return api;
}
