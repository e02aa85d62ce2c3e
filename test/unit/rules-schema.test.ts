import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseConfig } from '#lib/config/load.ts';
import { configSchema } from '#lib/config/schema.ts';
import { ConfigError } from '#lib/errors.ts';
import { CONDITION_KEYS, rulesSchema, STRING_TEST_KEYS } from '#lib/rules/schema.ts';

/** The rule language's example, verbatim (the contract; also in examples/postroom.example.yaml). */
const ISSUE_EXAMPLE = readFileSync(new URL('../fixtures/rules/issue-example.yaml', import.meta.url), 'utf8');

/** The `path: message` lines parseConfig reports for `yaml`. */
function problems(yaml: string): string[] {
  try {
    parseConfig(yaml);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the config to be rejected');
}

function rule(lines: string): string {
  return `rules:\n  - name: r\n${lines
    .trim()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n')}\n`;
}

describe('rule schema', () => {
  it('accepts the rule language example with defaults applied', () => {
    // Prepare / Act
    const config = parseConfig(ISSUE_EXAMPLE);

    // Assess
    expect(config.rules.map((r) => r.name)).toEqual(['invoices', 'alerts', 'newsletters', 'prizes']);
    expect(config.rules[0]!.stop).toBe(true);
    expect(config.rules[1]!.stop).toBe(false);
    expect(config.rules[1]!.enabled).toBe(true);
    expect(config.rules[1]!.then[0]!.flag).toEqual(['\\Flagged', 'alert']);
  });

  it('accepts the example config in examples/, which uses every feature', async () => {
    // Prepare
    const text = await readFile(new URL('../../examples/postroom.example.yaml', import.meta.url), 'utf8');

    // Act
    const config = parseConfig(text, 'examples/postroom.example.yaml');

    // Assess: every condition key and every action key appears somewhere.
    const json = JSON.stringify(config.rules);
    for (const key of [
      ...CONDITION_KEYS,
      ...STRING_TEST_KEYS,
      'domain',
      'exists',
      'caseSensitive',
      'accounts',
      'mailboxes',
      'enabled',
      'specialUse',
      'flag',
      'unflag',
      'copy',
      'move',
      'delete',
      'emit',
      'webhook',
      'saveAttachments',
      'stop',
    ]) {
      expect(json, key).toContain(`"${key}":`);
    }
    expect(config.accounts.map((a) => a.id)).toEqual(['home', 'work']);
  });

  it('reports an invalid regular expression at its path, with the reason', () => {
    // Act
    const lines = problems(
      rule(`
when: { subject: { regex: "a(b" } }
then: [{ emit: x }]`),
    );

    // Assess
    expect(lines).toEqual([
      expect.stringMatching(
        /^rules\[0\] \(r\)\.when\.subject\.regex: invalid regular expression: missing closing \)/,
      ),
    ]);
  });

  it('rejects backtracking-only regex syntax that RE2 cannot run in linear time', () => {
    // Act
    const lines = problems(
      rule(`
when: { body: { regex: ["ok", "(a)\\\\1"] } }
then: [{ emit: x }]`),
    );

    // Assess
    expect(lines).toEqual([
      expect.stringMatching(/^rules\[0\] \(r\)\.when\.body\.regex\[1\]: invalid regular expression: /),
    ]);
  });

  it('reports unknown keys (typos) at every level', () => {
    // Act
    const lines = problems(
      rule(`
when: { subjet: x, all: [{ from: { domian: acme.example } }] }
then: [{ mvoe: Finance }]
stopp: true`),
    );

    // Assess
    expect(lines).toEqual(
      expect.arrayContaining([
        'rules[0] (r).stopp: unknown key',
        'rules[0] (r).when.subjet: unknown key',
        'rules[0] (r).when.all[0].from.domian: unknown key',
        'rules[0] (r).then[0].mvoe: unknown key',
      ]),
    );
  });

  it('rejects empty folder names and empty levels', () => {
    // Act
    const lines = problems(
      rule(`
then: [{ move: "  " }, { copy: "Finance//Invoices" }, { copy: "/Top" }]`),
    );

    // Assess
    expect(lines).toEqual([
      'rules[0] (r).then[0].move: expected a folder name, not an empty one',
      'rules[0] (r).then[1].copy: expected a folder name such as Finance/Invoices (no empty level in "Finance//Invoices")',
      'rules[0] (r).then[2].copy: expected a folder name such as Finance/Invoices (no empty level in "/Top")',
    ]);
  });

  it('rejects a plain-http webhook to a remote host but accepts loopback ones', () => {
    // Act
    const remote = problems(
      rule(`
then: [{ webhook: { url: "http://hooks.example.com/x", secret: { env: HOOK } } }]`),
    );
    const loopback = [
      'http://127.0.0.1:8080/x',
      'http://localhost/x',
      'http://[::1]:9/x',
      'https://h.example/x',
    ].map(
      (url) =>
        parseConfig(rule(`then: [{ webhook: { url: "${url}", secret: { secret: hook } } }]`)).rules[0]!
          .then[0]!.webhook,
    );

    // Assess
    expect(remote).toEqual([
      'rules[0] (r).then[0].webhook.url: expected an https:// URL (http:// only for loopback hosts: 127.0.0.0/8, ::1, localhost)',
    ]);
    expect(loopback.map((w) => [w!.timeoutMs, w!.retries])).toEqual([
      [10_000, 3],
      [10_000, 3],
      [10_000, 3],
      [10_000, 3],
    ]);
  });

  it('rejects a webhook secret written by value', () => {
    // Act
    const lines = problems(rule(`then: [{ webhook: { url: "https://h.example/", secret: "hunter2" } }]`));

    // Assess
    expect(lines).toEqual([
      'rules[0] (r).then[0].webhook.secret: expected { env: VARIABLE } or { secret: NAME-OR-ARN } (secrets are never written in config)',
    ]);
    expect(lines.join('\n')).not.toContain('hunter2');
  });

  it('rejects two actions in one list item, an empty condition and an action-less rule', () => {
    // Act
    const lines = problems(`rules:
  - name: a
    when: {}
    then: [{ move: X, copy: Y }]
  - name: b
    then: []
`);

    // Assess
    expect(lines).toEqual([
      expect.stringMatching(/^rules\[0\] \(a\)\.when: expected a condition \(one of from, to, /),
      'rules[0] (a).then[0]: expected one action per list item, found copy and move',
      'rules[1] (b).then: expected at least one action',
    ]);
  });

  it('rejects a string test with two comparisons, bad sizes, durations, dates and flags', () => {
    // Act
    const lines = problems(
      rule(`
when:
  subject: { is: a, contains: b }
  size: { over: 10 parsecs }
  age: { over: 3 months }
  date: { before: "31.12.2025" }
  flags: { has: ["\\\\Recent", "two words"] }
then: [{ flag: "(x)" }]`),
    );

    // Assess
    expect(lines).toEqual(
      expect.arrayContaining([
        'rules[0] (r).when.subject: expected exactly one of is, contains, matches, regex, exists',
        'rules[0] (r).when.size.over: expected a size such as 10MB or "500 KB"',
        'rules[0] (r).when.age.over: expected a duration such as 30d, 12h or 2w',
        'rules[0] (r).when.date.before: expected an ISO date such as 2026-01-31 or a date-time with offset',
        expect.stringMatching(/^rules\[0\] \(r\)\.when\.flags\.has\[0\]: unknown system flag \\Recent/),
        expect.stringMatching(/^rules\[0\] \(r\)\.when\.flags\.has\[1\]: expected a keyword/),
        expect.stringMatching(/^rules\[0\] \(r\)\.then\[0\]\.flag: expected a keyword/),
      ]),
    );
  });

  it('rejects duplicate rule names and unsafe attachment prefixes', () => {
    // Act
    const lines = problems(`rules:
  - { name: a, then: [{ saveAttachments: { prefix: ../escape/ } }] }
  - { name: a, then: [{ emit: x }] }
`);

    // Assess
    expect(lines).toEqual([
      'rules[0] (a).then[0].saveAttachments.prefix: expected a relative prefix without empty, "." or ".." levels',
      'rules[1] (a).name: duplicate rule name "a" (also rules[0])',
    ]);
  });

  it('exports to JSON Schema with the nested condition as a named definition', () => {
    // Act
    const schema = z.toJSONSchema(configSchema, { io: 'input' }) as { $defs?: Record<string, unknown> };

    // Assess
    expect(Object.keys(schema.$defs ?? {})).toContain('RuleCondition');
    expect(JSON.stringify(schema)).toContain('saveAttachments');
  });

  it('keeps parsed rules as plain JSON data', () => {
    // Act
    const rules = rulesSchema.parse(
      JSON.parse('[{"name":"x","when":{"size":{"over":"1 MB"}},"then":[{"emit":"e"}]}]'),
    );

    // Assess
    expect(JSON.parse(JSON.stringify(rules))).toEqual(rules);
  });
});
