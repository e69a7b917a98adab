// Where a bench run keeps its files: $BENCH_OUT, or bench/results/pipeline-<UTC time>/ (gitignored).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSync } from './proc.mjs';

const BENCH = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export function outDir() {
  // Absolute: the tools a bench starts (the agent's api.socket) refuse relative paths.
  const dir = process.env.BENCH_OUT ? resolve(process.env.BENCH_OUT) : join(BENCH, 'results', `pipeline-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(join(dir, 'raw'), { recursive: true });
  process.env.BENCH_OUT = dir;
  return dir;
}

export function save(name, data) {
  const path = join(outDir(), `${name}.json`);
  writeFileSync(path, JSON.stringify(data, null, 2) + '\n');
  return path;
}

export function load(dir, name) {
  try {
    return JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
  } catch {
    return null;
  }
}

/** What the numbers were taken on, and how busy the machine was with other work. */
export function machine() {
  const tryRun = (argv) => {
    try {
      return runSync(argv).trim();
    } catch {
      return null;
    }
  };
  return {
    date: new Date().toISOString(),
    kernel: tryRun(['uname', '-r']),
    cpu: cpus()[0]?.model ?? null,
    cores: cpus().length,
    node: process.version,
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
    forkwatchCommit: tryRun(['git', '-C', resolve(BENCH, '..'), 'rev-parse', '--short', 'HEAD']),
    otherTracers: otherTracers(),
  };
}

/**
 * Processes other than this bench that hold BPF programs on the process tracepoints right now:
 * they run on every fork of every workload, "nothing attached" included.
 */
export function otherTracers() {
  try {
    const all = JSON.parse(runSync(['bpftool', 'perf', 'show', '-j']) || '[]');
    const pids = new Set(all.filter((e) => /^sched_process_/.test(e.tracepoint ?? '')).map((e) => e.pid));
    return [...pids].map((pid) => {
      let cmd = '?';
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(0, 3).join(' ');
      } catch {
        /* gone */
      }
      return { pid, cmd };
    });
  } catch {
    return null;
  }
}

/** The checkout's short commit, marked when it has uncommitted changes to tracked files. */
export function commitOf(root) {
  try {
    const id = runSync(['git', '-C', root, 'rev-parse', '--short', 'HEAD']).trim();
    return runSync(['git', '-C', root, 'status', '--porcelain', '--untracked-files=no']).trim() ? `${id} (with uncommitted changes)` : id;
  } catch {
    return 'unknown';
  }
}

/** Load averages (1, 5, 15 min) as the tables print them. */
export const loadText = (l) => l.map((x) => x.toFixed(2)).join(' ');

/** The command line as typed, paths inside the checkout shortened. */
export function commandText(root) {
  return ['node', ...process.argv.slice(1).map((a) => a.replace(root + '/', ''))].join(' ');
}

/** Logs a progress line to stderr (stdout is kept for the Markdown result). */
export const log = (...a) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${a.join(' ')}\n`);
