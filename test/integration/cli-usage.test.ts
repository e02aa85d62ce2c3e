/**
 * A newcomer's first mistakes get a clear answer from the real `postroom`
 * binary: option values that are not whole numbers, an account id that does
 * not exist, `-q`, a YAML indentation mistake, and a regex RE2 cannot run.
 * No server is needed: each is refused (or answered) before any connection.
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAllPostroom, runPostroom, writeConfigFile } from '../helpers/cli.ts';

afterEach(async () => {
  await killAllPostroom();
});

const ACCOUNT = {
  id: 'support',
  host: '127.0.0.1',
  port: 1,
  tls: false,
  auth: { user: 'x', password: { env: 'UNUSED_PASSWORD' } },
};

describe('option values and account ids', () => {
  it.each([
    ['dry-run', '--limit', 'abc'],
    ['dry-run', '--limit', '0'],
    ['process', '--batch-size', 'abc'],
    ['process', '--batch-size', '2.5'],
  ])('%s %s %s exits 2 and says what it expects', async (command, option, value) => {
    // Prepare
    const config = writeConfigFile({ accounts: [ACCOUNT] });

    // Act
    const result = await runPostroom([command, '--config', config.file, option, value]);

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`argument '${value}' is invalid. expected a whole number of at least 1.`);
    expect(result.stdout).toBe('');
  });

  it('dry-run --account with an unknown id lists the ids there are, as poll does', async () => {
    // Prepare
    const config = writeConfigFile({ accounts: [ACCOUNT, { ...ACCOUNT, id: 'billing' }] });

    // Act
    const dryRun = await runPostroom(['dry-run', '--config', config.file, '--account', 'bobby']);
    const poll = await runPostroom(['poll', '--config', config.file, '--account', 'bobby']);

    // Assess
    for (const result of [dryRun, poll]) {
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('no account "bobby"');
      expect(result.stderr).toContain('--account: expected one of support, billing');
    }
  });

  it('-q prints no table or summary; without it the summary is there', async () => {
    // Prepare: an empty local queue.
    const config = writeConfigFile({ accounts: [ACCOUNT] });

    // Act
    const quiet = await runPostroom(['process', '--config', config.file, '-q']);
    const normal = await runPostroom(['process', '--config', config.file]);

    // Assess
    expect(quiet).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(normal.stdout).toContain('processed 0, failed 0');
  });
});

describe('tables list actions in config order', () => {
  it("dry-run: a rule's move before its emit, and a later rule's flag after both", async () => {
    // Prepare: the plan runs the move last (after it the UID is gone); the table follows the config.
    const config = writeConfigFile({
      accounts: [ACCOUNT],
      rules: [
        { name: 'invoices', then: [{ move: 'Finance/Invoices' }, { emit: 'invoice.received' }] },
        { name: 'tag', then: [{ flag: 'seen-by-rules' }] },
      ],
    });

    // Act
    const result = await runPostroom(['dry-run', '--config', config.file, 'test/fixtures/rules/invoice.eml']);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /^invoice\.eml .* invoices, tag +move Finance\/Invoices; emit invoice\.received; flag seen-by-rules$/m,
    );
  });
});

describe('config mistakes', () => {
  it('a YAML indentation mistake gives the first error with its line and a code frame, not a cascade', async () => {
    // Prepare: `port` indented one space too little.
    const { dir } = writeConfigFile({});
    const file = join(dir, 'postroom.yaml');
    writeFileSync(
      file,
      [
        'accounts:',
        '  - id: support',
        '    host: imap.example.com',
        '   port: 993',
        '    auth: { user: x, password: { env: P } }',
        '',
      ].join('\n'),
    );

    // Act
    const result = await runPostroom(['validate', '--config', file]);

    // Assess
    expect(result.code).toBe(2);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`${file}: line 4, column 1: Sequence item without - indicator`);
    expect(lines.slice(1, 5)).toEqual([
      '  3 |     host: imap.example.com',
      '> 4 |    port: 993',
      '    | ^',
      '  5 |     auth: { user: x, password: { env: P } }',
    ]);
    expect(lines.slice(5)).toEqual([expect.stringMatching(/^\(\d+ more YAML error\(s\) after this one/)]);
    expect(result.stdout).not.toMatch(/:\s*$/m);
  });

  it.each([
    ['(?<=build) fail', 'RE2 has no lookbehind'],
    ['fail(?!ure)', 'RE2 has no lookahead'],
    ['(a)\\1', 'RE2 has no backreferences'],
  ])('regex %s: says what RE2 lacks and names the rule', async (regex, lack) => {
    // Prepare
    const config = writeConfigFile({
      accounts: [ACCOUNT],
      rules: [
        { name: 'tag', then: [{ flag: 'x' }] },
        { name: 'build-failures', when: { subject: { regex } }, then: [{ flag: 'build' }] },
      ],
    });

    // Act
    const result = await runPostroom(['validate', '--config', config.file]);

    // Assess
    expect(result.code).toBe(2);
    const line = result.stdout.trim();
    const prefix = `rules[1] (build-failures).when.subject.regex: invalid regular expression: ${lack} (`;
    expect(line.slice(0, prefix.length)).toBe(prefix);
    expect(line.slice(-(regex.length + 7))).toBe(`(in \`${regex}\`)`);
  });
});
