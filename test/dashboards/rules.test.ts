/**
 * deploy/prometheus through Debian's promtool: the rule files check, their unit tests pass, and
 * every alert has a unit test where it fires and one where it must stay silent.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadRules, RULE_FILES, RULES_DIR } from './dashboards.js';

const TEST_FILES = fs
  .readdirSync(RULES_DIR)
  .filter((f) => f.endsWith('.test.yml'))
  .sort();

function promtool(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd: RULES_DIR, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`promtool ${args.join(' ')}: ${r.error.message} (make test-deps installs Debian's prometheus)`);
  return { code: r.status, out: r.stdout + r.stderr };
}

interface AlertTest {
  eval_time: string;
  alertname: string;
  exp_alerts?: unknown[];
}

describe('deploy/prometheus', () => {
  it('promtool check rules passes for every rule file', () => {
    const r = promtool('check', 'rules', ...RULE_FILES.map((f) => path.basename(f)));
    expect(r.code, r.out).toBe(0);
  });

  it('promtool test rules passes', () => {
    expect(TEST_FILES).toEqual(['forkwatch.alerts.test.yml', 'forkwatch.rules.test.yml']);
    const r = promtool('test', 'rules', ...TEST_FILES);
    expect(r.code, r.out).toBe(0);
  });

  it('every alert has a unit test that fires it and one that does not', () => {
    const alerts = loadRules(RULE_FILES[1]).groups.flatMap((g) => g.rules.map((r) => r.alert!));
    const cases = TEST_FILES.flatMap(
      (f) => (parse(fs.readFileSync(path.join(RULES_DIR, f), 'utf8')) as { tests: { alert_rule_test?: AlertTest[] }[] }).tests,
    ).flatMap((t) => t.alert_rule_test ?? []);
    const missing: string[] = [];
    for (const a of alerts) {
      const mine = cases.filter((c) => c.alertname === a);
      if (!mine.some((c) => (c.exp_alerts ?? []).length > 0)) missing.push(`${a}: no test where it fires`);
      if (!mine.some((c) => (c.exp_alerts ?? []).length === 0)) missing.push(`${a}: no test where it stays silent`);
    }
    expect(missing, missing.join('\n')).toEqual([]);
  });

  it('a broken unit test fails (promtool is really checking)', () => {
    const tmp = fs.mkdtempSync(path.join(RULES_DIR, '.tmp-'));
    try {
      const text = fs
        .readFileSync(path.join(RULES_DIR, 'forkwatch.alerts.test.yml'), 'utf8')
        .replace('forkwatch.alerts.yml', '../forkwatch.alerts.yml')
        .replace(
          'severity: critical, job: forkwatch, instance: "host-a:10510", node: host-a',
          'severity: warning, job: forkwatch, instance: "host-a:10510", node: host-a',
        );
      fs.writeFileSync(path.join(tmp, 'broken.test.yml'), text);
      const r = promtool('test', 'rules', path.join(path.basename(tmp), 'broken.test.yml'));
      expect(r.code, r.out).not.toBe(0);
      expect(r.out).toContain('ForkwatchAgentDown');
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
