/** The agent's logger: text as it always was, json as pino lines with level, time and component. */
import { describe, expect, it } from 'vitest';
import { createLogger, libbpfLog, programOutput } from '../src/log.js';

const HOSTILE = 'a\nforkwatch error: forged\x1b]52;c;x\x07\u009b31m\u202eb';

describe('text logger', () => {
  it('writes forkwatch <level>: <message>, children and components alike; a program prefixed by its name', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    log.info('watching 3 processes\n');
    log.debug('not shown without verbose');
    log.child!({ component: 'supervisor' }).warn('web: exited');
    programOutput(log)('web', 'stdout', 'listening on :80');
    programOutput(log)('web', 'stderr', 'oops');
    libbpfLog(log)('warn', 'map too small');
    expect(lines).toEqual([
      'forkwatch info: watching 3 processes',
      'forkwatch warn: web: exited',
      'forkwatch info: [web] listening on :80',
      'forkwatch info: [web] oops',
      'forkwatch warn: libbpf: map too small',
    ]);
  });
});

describe('json logger', () => {
  const jsonLines = (f: (log: ReturnType<typeof createLogger>) => void, opts: { verbose?: boolean; quiet?: boolean } = {}) => {
    const lines: string[] = [];
    f(createLogger({ ...opts, format: 'json', write: (l) => lines.push(l) }));
    return lines;
  };

  it('one pino object a line: level as a word, ISO time, the component, the message', () => {
    const lines = jsonLines((log) => {
      log.info('serving http://127.0.0.1:10510/metrics');
      log.debug('hidden');
      log.child!({ component: 'beancounters' }).warn('web: tasks 11 above limit 10');
      programOutput(log.child!({ component: 'supervisor' }))('web', 'stderr', 'oops');
      libbpfLog(log)('debug', 'verifier says hi');
    });
    const objs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objs.map(({ time, ...rest }) => (expect(Date.parse(time as string)).toBeGreaterThan(0), rest))).toEqual([
      { level: 'info', component: 'agent', msg: 'serving http://127.0.0.1:10510/metrics' },
      { level: 'warn', component: 'beancounters', msg: 'web: tasks 11 above limit 10' },
      { level: 'info', component: 'program', program: 'web', stream: 'stderr', msg: 'oops' },
    ]);
    // A child of a child names one component, not two.
    expect(lines.every((l) => l.split('"component"').length === 2)).toBe(true);
  });

  it('debug with verbose; only warnings and errors when quiet', () => {
    expect(jsonLines((log) => log.debug('d'), { verbose: true }).map((l) => (JSON.parse(l) as { level: string }).level)).toEqual(['debug']);
    expect(jsonLines((log) => (log.info('i'), log.warn('w')), { quiet: true }).map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['w']);
  });

  it('a hostile message stays one inert line, and JSON gives it back exactly', () => {
    const lines = jsonLines((log) => programOutput(log)(HOSTILE, 'stdout', HOSTILE));
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/[\x00-\x1f\x7f-\x9f\u202e]/);
    expect(JSON.parse(lines[0])).toMatchObject({ program: HOSTILE, msg: HOSTILE });
  });
});
