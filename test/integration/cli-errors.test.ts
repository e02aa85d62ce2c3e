/**
 * Bad input gets a clear answer: the `postroom` command, run as a user runs it,
 * against a real Dovecot. Each failure exits non-zero with one short line
 * naming the account and the server's answer, no stack trace unless
 * --verbose, and never the password — at any log level, with --trace too.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { textMessage } from '../fixtures/messages.ts';
import { appendMessages, dovecotInfo, freshUser, withSetupClient } from '../helpers/dovecot.ts';

const run = promisify(execFile);

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function postroom(args: string[], env: Record<string, string>): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/postroom.js', ...args], {
      env: { ...process.env, ...env, NO_COLOR: '1' },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function writeConfig(account: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'postroom-cli-'));
  const file = join(dir, 'postroom.json');
  writeFileSync(
    file,
    JSON.stringify({
      accounts: [
        {
          id: 'support',
          auth: { user: 'x', password: { env: 'SUPPORT_IMAP_PASSWORD' } },
          start: 'all',
          ...account,
        },
      ],
      store: { kind: 'local', dir: join(dir, 'store') },
    }),
  );
  return file;
}

/** The non-empty lines a person would read. */
function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

describe('postroom poll: bad input gets a clear answer', () => {
  const info = () => dovecotInfo();

  it('wrong password: exit 1, one line with the account and the server answer, password nowhere', async () => {
    const user = freshUser(info());
    const wrong = 'Wrong-Pa55word-xyz';
    const config = writeConfig({
      host: info().host,
      port: info().ports.full.imaps,
      tlsOptions: { ca: info().caFile },
      auth: { user: user.user, password: { env: 'SUPPORT_IMAP_PASSWORD' } },
    });

    const plain = await postroom(['poll', '--config', config], { SUPPORT_IMAP_PASSWORD: wrong });
    const loud = await postroom(['poll', '--config', config, '--verbose', '--trace'], {
      SUPPORT_IMAP_PASSWORD: wrong,
    });

    expect(plain.code).toBe(1);
    expect(lines(plain.stderr)).toHaveLength(1);
    expect(plain.stderr).toMatch(/support.*auth.*fail/i);
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    expect(loud.code).toBe(1);
    for (const output of [plain.stdout, plain.stderr, loud.stdout, loud.stderr])
      expect(output).not.toContain(wrong);
    // --trace shows the dialog, with the LOGIN credentials redacted.
    expect(loud.stderr).toMatch(/C: .*LOGIN/);
  });

  it('a correct password never appears either, with --verbose and --trace, and --json prints the result', async () => {
    const user = freshUser(info());
    await withSetupClient(info(), user, (c) =>
      appendMessages(c, 'INBOX', [textMessage(1, { namespace: user.user })]),
    );
    const config = writeConfig({
      host: info().host,
      port: info().ports.full.imaps,
      tlsOptions: { ca: info().caFile },
      auth: { user: user.user, password: { env: 'SUPPORT_IMAP_PASSWORD' } },
    });

    const result = await postroom(['poll', '--config', config, '--json', '--verbose', '--trace'], {
      SUPPORT_IMAP_PASSWORD: user.password,
    });

    expect(result.code).toBe(0);
    expect(result.stdout + result.stderr).not.toContain(user.password);
    const json = JSON.parse(result.stdout);
    expect(json).toMatchObject({
      fetched: 1,
      mailboxes: [{ account: 'support', mailbox: 'INBOX', fetched: 1, lastUid: 1 }],
    });
    expect(typeof json.mailboxes[0].uidValidity).toBe('number');
  });

  it('unreachable host: exit 1 and one line naming the account and the address', async () => {
    const config = writeConfig({ host: '127.0.0.1', port: 1, tls: false });
    const result = await postroom(['poll', '--config', config], { SUPPORT_IMAP_PASSWORD: 'irrelevant-1' });
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/support.*127\.0\.0\.1:1.*ECONNREFUSED/);
  });

  it('TLS failure (a self-signed certificate without its CA): exit 1, one line, no downgrade', async () => {
    const user = freshUser(info());
    const config = writeConfig({
      host: info().host,
      port: info().ports.full.imaps,
      auth: { user: user.user, password: { env: 'SUPPORT_IMAP_PASSWORD' } },
    });
    const result = await postroom(['poll', '--config', config], { SUPPORT_IMAP_PASSWORD: user.password });
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/support.*(TLS|certificate)/i);
    expect(result.stderr).not.toContain(user.password);
  });

  it('a mailbox that does not exist: exit 1, the server answer, and the other mailboxes still polled', async () => {
    const user = freshUser(info());
    await withSetupClient(info(), user, (c) =>
      appendMessages(c, 'INBOX', [textMessage(2, { namespace: user.user })]),
    );
    const config = writeConfig({
      host: info().host,
      port: info().ports.full.imaps,
      tlsOptions: { ca: info().caFile },
      auth: { user: user.user, password: { env: 'SUPPORT_IMAP_PASSWORD' } },
      mailboxes: ['Nope', 'INBOX'],
    });
    const result = await postroom(['poll', '--config', config, '--json'], {
      SUPPORT_IMAP_PASSWORD: user.password,
    });
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/support.*Nope/);
    expect(JSON.parse(result.stdout)).toMatchObject({ fetched: 1 });
  });

  it('an invalid config: exit 2 with every problem as path: message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'postroom-cli-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'accounts:\n  - id: support\n    host: h\n    port: "993"\n    auth: { user: u, password: { env: P } }\n',
    );
    const validate = await postroom(['validate', '--config', file], {});
    const poll = await postroom(['poll', '--config', file], {});
    expect(validate.code).toBe(2);
    expect(validate.stdout.trim()).toBe('accounts[0].port: expected a number');
    expect(poll.code).toBe(2);
    expect(poll.stderr).toContain('accounts[0].port: expected a number');
  });
});

describe('postroom: bad usage', () => {
  it('exits 2 for an unknown option of a command, as for an unknown command', async () => {
    // Act
    const option = await postroom(['poll', '--bogus'], {});
    const command = await postroom(['bogus'], {});
    // Assess
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("unknown option '--bogus'");
    expect(command.code).toBe(2);
  });

  it('says once that the config file is missing', async () => {
    // Act
    const result = await postroom(['poll', '--config', '/nonexistent/postroom.yaml'], {});
    // Assess
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      'error: cannot read config /nonexistent/postroom.yaml: no such file',
    ]);
  });
});

describe('postroom validate: a valid config that cannot work here', () => {
  it('says config OK, then warns by path about an unset variable, a secret with a local store and a missing CA file', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'postroom-cli-warn-'));
    const file = join(dir, 'postroom.yaml');
    writeFileSync(
      file,
      [
        'accounts:',
        '  - id: support',
        '    host: imap.fastmail.com',
        '    tlsOptions: { ca: /nonexistent/ca.pem }',
        '    auth: { user: u, password: { env: POSTROOM_TEST_UNSET_VARIABLE } }',
        '  - id: sales',
        '    host: imap.fastmail.com',
        '    auth: { user: u, password: { secret: postroom/sales } }',
        '',
      ].join('\n'),
    );
    // Act
    const text = await postroom(['validate', '--config', file], {});
    const json = await postroom(['validate', '--config', file, '--json'], {});
    // Assess
    const warnings = [
      'accounts[0].auth.password: environment variable POSTROOM_TEST_UNSET_VARIABLE is not set here',
      'accounts[1].auth.password: { secret: postroom/sales } is read from AWS Secrets Manager, which a local store does not use; use { env: VARIABLE } on one machine',
      'accounts[0].tlsOptions.ca: no file /nonexistent/ca.pem',
    ];
    expect(text.code).toBe(0);
    expect(text.stdout.trim()).toBe('config OK: 2 accounts (2 mailboxes), 0 rules, store local (.postroom)');
    expect(lines(text.stderr)).toEqual(warnings.map((warning) => `warning: ${warning}`));
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, warnings });
  });
});

describe('postroom with the AWS stores under Node 20', () => {
  it("prints nothing of the AWS SDK's Node-version warning", async () => {
    // Prepare: an AWS store (clients are built, no request is sent) and no accounts
    const dir = mkdtempSync(join(tmpdir(), 'postroom-cli-aws-'));
    const file = join(dir, 'postroom.json');
    writeFileSync(
      file,
      JSON.stringify({
        accounts: [],
        store: {
          kind: 'aws',
          bucket: 'bucket',
          queueUrl: 'http://127.0.0.1:9/000000000000/queue',
          table: 'table',
          region: 'eu-west-1',
        },
      }),
    );
    const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
    // Act
    const quiet = await postroom(['poll', '--config', file], env);
    // Assess
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toContain('NodeVersionSupportWarning');
  });
});
