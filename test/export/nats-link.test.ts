/**
 * What the NATS exporter reads from outside: the chain headers of stream messages (anyone who may
 * publish to the stream can write them) and the error of a JetStream publish ack.
 */
import { describe, expect, it } from 'vitest';
import { exportLink, permanentError } from '../../src/export/nats-wire.js';

describe('exportLink', () => {
  it.each([
    ['run-1', '0', { source: 'run', seq: 1, prev: 0 }],
    ['run-12', '5', { source: 'run', seq: 12, prev: 5 }],
    // As the agent makes them: 16 characters of the boot id, the pid, the start time.
    ['4a5b6c7d-1e2f-4a-4242-1733400000000-9', '3', { source: '4a5b6c7d-1e2f-4a-4242-1733400000000', seq: 9, prev: 3 }],
    ['a.b_c-9007199254740991', '9007199254740990', { source: 'a.b_c', seq: 9007199254740991, prev: 9007199254740990 }],
  ])('%j, prev %j: a link', (id, prev, want) => expect(exportLink(id, prev)).toEqual(want));

  it.each([
    ['no id', undefined, '0'],
    ['no prev', 'run-1', undefined],
    ['no run', '-5', '0'],
    ['no seq', 'run-', '0'],
    ['no dash', 'run5', '0'],
    ['a self-link', 'run-5', '5'],
    ['prev after seq', 'run-3', '9'],
    ['seq 0', 'run-0', '0'],
    ['a leading zero in seq', 'run-07', '0'],
    ['a leading zero in prev', 'run-7', '03'],
    ['a sign', 'run-7', '+3'],
    ['a negative prev', 'run-7', '-3'],
    ['a fraction', 'run-7', '3.0'],
    ['an exponent', 'run-7', '3e0'],
    ['spaces', 'run-7', ' 3'],
    ['seq past the safe integers', 'run-9007199254740993', '1'],
    ['seq of 17 digits', 'run-10000000000000000', '1'],
    ['prev of 17 digits', 'run-5', '00000000000000001'],
    ['a run id of 65 characters', `${'r'.repeat(65)}-2`, '1'],
    ['a run id with a space', 'my run-2', '1'],
    ['a run id with a control character', 'run\u0007-2', '1'],
    ['a run id with a slash', 'a/b-2', '1'],
    ['a run id of non-ASCII', 'rün-2', '1'],
    ['a run id starting with a dot', '.run-2', '1'],
    ['a huge id', `${'9'.repeat(100_000)}-2`, '1'],
  ])('%s: no link', (_name, id, prev) => expect(exportLink(id, prev)).toBeUndefined());
});

describe('permanentError', () => {
  it.each([
    [10054, 'message size exceeds maximum allowed', true],
    [10097, 'header size exceeds maximum allowed of 64k', true],
    [10109, 'invalid operation on sealed stream', true],
    [10077, 'maximum messages per subject exceeded', true],
    [10077, 'message too large', true],
    // Full streams and accounts clear (age, a consumer's acks, a bigger limit), as do 5xx.
    [10077, 'maximum messages exceeded', false],
    [10077, 'maximum bytes exceeded', false],
    [10077, 'store is closed', false],
    [10047, 'insufficient storage resources available', false],
    [10023, 'insufficient resources', false],
    [10002, 'resource limits exceeded for account', false],
    [10008, 'JetStream system temporarily unavailable', false],
    [10158, 'duplicate message id is in process', false],
    [undefined, 'no responders', false],
    [99999, 'message size exceeds maximum allowed', false],
  ])('%s %j: %s', (code, description, want) => expect(permanentError(code, description)).toBe(want));
});
