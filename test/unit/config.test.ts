import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFromEnvironment, loadConfigWithoutRulesFromEnvironment } from '#lib/config/environment.ts';
import { parseConfig } from '#lib/config/load.ts';
import { mailboxSettings } from '#lib/config/mailbox-settings.ts';
import { resolveSecret } from '#lib/config/secrets.ts';
import { validateConfig } from '#lib/config/validate.ts';
import { validatedConfigFile } from '#lib/config/validated-file.ts';
import { ConfigError } from '#lib/errors.ts';

function problemsOf(text: string): string[] {
  try {
    parseConfig(text);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the config to be rejected');
}

const account = (extra: string) =>
  `accounts:\n  - id: support\n    host: imap.example.com\n    auth: { user: u, password: { env: P } }\n${extra}`;

describe('config', () => {
  it('accepts the shape documented in the ingest issue and applies defaults', () => {
    const config = parseConfig(readFileSync('test/fixtures/config/ingest.yaml', 'utf8'));
    const [support] = config.accounts;
    expect(support?.port).toBe(993);
    expect(support?.schedule).toBe('rate(5 minutes)');
    expect(config.store).toEqual({ kind: 'local', dir: '.postroom' });
    expect(mailboxSettings(support!)).toEqual([
      { name: 'INBOX', start: 'new', idle: false },
      { name: 'Archive/2026', start: 'all', idle: false },
    ]);
  });

  it('defaults the port by TLS mode: 993 for implicit TLS, 143 for starttls and plaintext', () => {
    expect(parseConfig(account('')).accounts[0]?.port).toBe(993);
    expect(parseConfig(account('    tls: starttls\n')).accounts[0]?.port).toBe(143);
    expect(parseConfig(account('    tls: false\n')).accounts[0]?.port).toBe(143);
  });

  it('names every problem by path', () => {
    const problems = problemsOf(
      'accounts:\n  - id: Support\n    host: x\n    port: "993"\n    tls: maybe\n    auth: { user: u, password: hunter2 }\n    colour: blue\nstore: { kind: cloud }\n',
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'accounts[0].port: expected a number',
        'accounts[0].colour: unknown key',
        'accounts[0].tls: expected true, false or starttls',
        expect.stringMatching(/^accounts\[0\]\.id: /),
        expect.stringMatching(/^accounts\[0\]\.auth\.password: expected \{ env: VARIABLE \}/),
        expect.stringMatching(/^store\.kind: /),
      ]),
    );
  });

  it('never echoes a password written in place of a reference', () => {
    const problems = problemsOf(account('').replace('{ env: P }', 'correct-horse-battery'));
    expect(problems.join('\n')).not.toContain('correct-horse-battery');
  });

  it('rejects a start that is not new/all/a date, and a bad schedule', () => {
    const problems = problemsOf(account('    start: yesterday\n    schedule: every 5 minutes\n'));
    expect(problems).toEqual([
      'accounts[0].start: expected new, all or an ISO date such as 2026-01-31',
      expect.stringMatching(/^accounts\[0\]\.schedule: expected a schedule expression/),
    ]);
  });

  it('rejects duplicate account ids, naming both', () => {
    const problems = problemsOf(
      `${account('')}  - id: support\n    host: y\n    auth: { user: u, password: { secret: s } }\n`,
    );
    expect(problems).toEqual(['accounts[1].id: duplicate account id "support" (also accounts[0])']);
  });

  it('reports YAML syntax errors instead of throwing them raw', () => {
    expect(problemsOf('accounts: [\n')[0]).toMatch(/^config: /);
  });

  it.each([
    ['rate(0 minutes)', 'rate(0 minutes) would run without pause'],
    ['rate(0 seconds)', 'rate(0 seconds) would run without pause'],
    ['cron(99 * * * ? *)', 'invalid cron fields in cron(99 * * * ? *): Constraint error, got value 99'],
    ['cron(0 25 * * ? *)', 'invalid cron fields in cron(0 25 * * ? *)'],
  ])('refuses the schedule %s with its path', (schedule, message) => {
    const problems = problemsOf(account(`    schedule: "${schedule}"\n`));
    expect(problems).toEqual([expect.stringContaining(`accounts[0].schedule: ${message}`)]);
  });

  it.each([
    'rate(1 second)',
    'rate(10 seconds)',
    'rate(5 minutes)',
    'cron(0/10 * * * ? *)',
    'cron(0 12 ? * MON-FRI *)',
  ])('accepts the schedule %s', (schedule) => {
    expect(parseConfig(account(`    schedule: "${schedule}"\n`)).accounts[0]?.schedule).toBe(schedule);
  });

  it('refuses a YAML alias bomb (billion laughs), naming the file', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [i, name] of ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'].entries()) {
      const previous = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array.from({ length: 10 }, () => `*${previous}`).join(', ')}]`);
    }
    const started = Date.now();
    let error: unknown;
    try {
      parseConfig(`${levels.join('\n')}\n`, 'bomb.yaml');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe('bomb.yaml is not a usable config');
    expect((error as ConfigError).problems).toEqual([
      expect.stringMatching(/^bomb\.yaml: Excessive alias count .*more than 100 alias expansions/),
    ]);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('still accepts a config that uses a few aliases', () => {
    const config = parseConfig(
      'accounts:\n  - id: a\n    host: h\n    auth: &auth { user: u, password: { env: P } }\n' +
        '  - id: b\n    host: h\n    auth: *auth\n',
    );
    expect(config.accounts[1]?.auth.user).toBe('u');
  });

  it.each([
    ['a CR/LF', '"Inbox\\r\\nA1 DELETE INBOX"', 'may not contain control characters (U+000D'],
    ['a NUL', '"Lists\\u0000x"', 'may not contain control characters (U+0000'],
    ['a tab', '"Lists\\tx"', 'may not contain control characters (U+0009'],
    ['a .. level', '"Lists/../Other"', 'may not have a "." or ".." level'],
    ['a * wildcard', '"Lists/*"', 'may not contain the LIST wildcards * and %'],
    ['a % wildcard', '"Lists/%"', 'may not contain the LIST wildcards * and %'],
  ])('refuses a mailbox name with %s, with its path', (_what, name, message) => {
    expect(problemsOf(account(`    mailboxes: [INBOX, ${name}]\n`))).toEqual([
      expect.stringContaining(`accounts[0].mailboxes[1]: a folder name ${message}`),
    ]);
    expect(problemsOf(account(`    mailboxes: [{ name: ${name} }]\n`))).toEqual([
      expect.stringContaining(`accounts[0].mailboxes[0].name: a folder name ${message}`),
    ]);
  });

  it('refuses copy/move targets and rule mailboxes with control characters, .. levels or wildcards', () => {
    const problems = problemsOf(
      account(
        'rules:\n  - name: r\n    mailboxes: ["Lists/%"]\n    then:\n' +
          '      - copy: "Arch\\r\\nive"\n      - move: "../Other"\n',
      ),
    );
    expect(problems).toEqual([
      expect.stringContaining('rules[0] (r).mailboxes[0]: a folder name may not contain the LIST wildcards'),
      expect.stringContaining('rules[0] (r).then[0].copy: a folder name may not contain control characters'),
      expect.stringContaining('rules[0] (r).then[1].move: a folder name may not have a "." or ".." level'),
    ]);
  });

  it('accepts ordinary folder names, dots inside a level included', () => {
    const config = parseConfig(
      account('    mailboxes: [INBOX, "Lists/v1.2", "Ünïcode/Ordner", "a.b"]\n') +
        'rules:\n  - name: r\n    then: [{ move: "Finance/Invoices 2026" }]\n',
    );
    expect(config.accounts[0]?.mailboxes).toHaveLength(4);
  });
});

describe('the config the CDK app bundles', () => {
  // Every config the repo ships, and the rule language's example with an account to run it.
  const loadable = [
    'postroom.yaml',
    'examples/postroom.example.yaml',
    'test/fixtures/config/ingest.yaml',
  ].map((file) => parseConfig(readFileSync(file, 'utf8'), file));
  loadable.push(parseConfig(account(readFileSync('test/fixtures/rules/issue-example.yaml', 'utf8'))));

  it('is a fixed point of validation, so taking it without validating again changes nothing', () => {
    for (const config of loadable) {
      const written = JSON.parse(JSON.stringify(config));
      expect(validateConfig(written)).toEqual(written);
    }
  });

  it('is what the Lambda handlers read, as it is; the poll function gets no rules', async () => {
    const withRules = loadable.find((config) => config.rules.length > 0)!;
    const file = JSON.stringify(validatedConfigFile(withRules));

    const processConfig = await loadConfigFromEnvironment({ POSTROOM_CONFIG: file });
    expect(processConfig).toEqual(withRules);
    expect(Object.isFrozen(processConfig.rules[0]?.when)).toBe(true);
    const pollConfig = await loadConfigWithoutRulesFromEnvironment({ POSTROOM_CONFIG: file });
    expect(pollConfig).toEqual({ ...withRules, rules: [] });
  });

  it('is the only config the Lambda handlers take: anything unmarked is refused, naming where it came from', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'postroom-config-'));
    try {
      const raw = join(dir, 'postroom.config.json');
      writeFileSync(raw, JSON.stringify(loadable[0]));
      for (const load of [loadConfigFromEnvironment, loadConfigWithoutRulesFromEnvironment]) {
        await expect(load({ POSTROOM_CONFIG_FILE: raw })).rejects.toMatchObject({
          message: `${raw} is not a config written by the Postroom CDK app`,
          problems: [
            expect.stringMatching(
              /^\/.*postroom\.config\.json: expected the validated config that cdk synth bundles/,
            ),
          ],
        });
      }
      // A mark of another format is not this one.
      const otherFormat = { $postroom: 'postroom/validated-config@0', config: loadable[0] };
      await expect(
        loadConfigFromEnvironment({ POSTROOM_CONFIG: JSON.stringify(otherFormat) }),
      ).rejects.toMatchObject({ message: 'POSTROOM_CONFIG is not a config written by the Postroom CDK app' });
      await expect(
        loadConfigFromEnvironment({ POSTROOM_CONFIG_FILE: 'missing.json', LAMBDA_TASK_ROOT: dir }),
      ).rejects.toMatchObject({ problems: [`${dir}/missing.json: ENOENT`] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('secret references', () => {
  it('reads an env reference and names only the variable when it is unset', async () => {
    await expect(resolveSecret({ env: 'X_PW' }, { env: { X_PW: 's3cret-value' } })).resolves.toBe(
      's3cret-value',
    );
    await expect(resolveSecret({ env: 'X_PW' }, { env: {} })).rejects.toThrow(
      'environment variable X_PW is not set',
    );
  });

  it('refuses a Secrets Manager reference without an AWS store', async () => {
    await expect(resolveSecret({ secret: 'imap/support' }, {})).rejects.toThrow(/needs AWS Secrets Manager/);
  });
});
