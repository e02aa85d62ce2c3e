/**
 * `postroom validate` (and any command) on configs that must be refused before
 * anything runs: exit 2, each problem as `path: message`, the file named for
 * a YAML resource-exhaustion attempt. Child processes, as a user runs them.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAllPostroom, runPostroom } from '../helpers/cli.ts';

afterEach(killAllPostroom);

function configFile(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'postroom-refusals-')), name);
  writeFileSync(file, text);
  return file;
}

const account = (extra: string) =>
  `accounts:\n  - id: support\n    host: imap.example.com\n    auth: { user: u, password: { env: P } }\n${extra}`;

describe('postroom validate refuses', () => {
  it('a YAML alias bomb with exit 2, naming the file, at once', async () => {
    // Prepare: 10^8 expansions if followed.
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) {
      const [name, previous] = [String.fromCharCode(97 + i), String.fromCharCode(96 + i)];
      levels.push(`${name}: &${name} [${Array.from({ length: 10 }, () => `*${previous}`).join(', ')}]`);
    }
    const file = configFile('bomb.yaml', `${levels.join('\n')}\n`);

    // Act
    const started = Date.now();
    const validate = await runPostroom(['validate', '--config', file]);
    const poll = await runPostroom(['poll', '--config', file]);

    // Assess
    expect(validate.code).toBe(2);
    expect(validate.stdout).toContain(`${file}: Excessive alias count`);
    expect(poll.code).toBe(2);
    expect(poll.stderr).toContain(`${file}: Excessive alias count`);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('schedules faster than once a second, invalid cron fields and unsafe folder names, each with its path', async () => {
    // Prepare
    const file = configFile(
      'postroom.yaml',
      `${account('    schedule: "cron(99 * * * ? *)"\n    mailboxes: ["Lists/*", "a\\r\\nb"]\n')}` +
        '  - id: other\n    host: h\n    auth: { user: u, password: { env: P } }\n    schedule: rate(0 minutes)\n' +
        'rules:\n  - name: r\n    then: [{ move: "../Other" }]\n',
    );

    // Act
    const validate = await runPostroom(['validate', '--config', file]);

    // Assess
    expect(validate.code).toBe(2);
    expect(validate.stdout.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^accounts\[0\]\.mailboxes\[0\]: a folder name may not contain the LIST wildcards/,
      ),
      expect.stringMatching(
        /^accounts\[0\]\.mailboxes\[1\]: a folder name may not contain control characters/,
      ),
      'accounts[0].schedule: invalid cron fields in cron(99 * * * ? *): Constraint error, got value 99 expected range 0-59',
      'accounts[1].schedule: rate(0 minutes) would run without pause: a schedule runs at most once a second (rate(1 second) or more)',
      'rules[0] (r).then[0].move: a folder name may not have a "." or ".." level (in "../Other")',
    ]);
  });
});
