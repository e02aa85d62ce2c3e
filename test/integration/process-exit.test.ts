/**
 * `postroom process` as a user runs it (a child process) against the private
 * Dovecot: it exits 1 when any message failed, in every output mode, and says
 * why each one failed — a `reason` column in the table, and
 * `failures: [{ account, mailbox, uid, rule?, action?, reason }]` with --json.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AccountConfig } from '#lib/config/schema.ts';
import type { FailureReport } from '#lib/core/process.ts';
import { textMessage } from '../fixtures/messages.ts';
import { killAllPostroom, runPostroom, writeConfigFile } from '../helpers/cli.ts';
import {
  appendMessages,
  dovecotInfo,
  freshUser,
  type TestUser,
  testAccount,
  withSetupClient,
} from '../helpers/dovecot.ts';

const info = () => dovecotInfo();

afterEach(async () => {
  await killAllPostroom();
});

interface JsonOutput {
  processed: number;
  failed: number;
  gone: number;
  actions: Record<string, number>;
  failures: FailureReport[];
}

/** A user with `count` messages polled into a fresh local queue. */
async function polledUser(rules: unknown[], count: number) {
  const user = freshUser(info(), 'x');
  const account: AccountConfig = testAccount(info(), user, { tls: false, id: 'support' });
  const config = writeConfigFile({ accounts: [account], rules }, 'postroom-exit-');
  const uids = await withSetupClient(info(), user, (client) =>
    appendMessages(
      client,
      'INBOX',
      Array.from({ length: count }, (_, i) => textMessage(i + 1, { namespace: user.user })),
    ),
  );
  const poll = await runPostroom(['poll', '--config', config.file], { env: envFor(user) });
  expect(poll.code, poll.stderr).toBe(0);
  return { user, config, uids };
}

function envFor(user: TestUser, password = user.password): Record<string, string> {
  return { POSTROOM_TEST_PASSWORD: password };
}

describe('postroom process: exit status and the reason for every failure', () => {
  it('wrong password: exit 1 in both modes, and the server answer for every message', async () => {
    // Prepare
    const { user, config, uids } = await polledUser([{ name: 'tag', then: [{ flag: 'tagged' }] }], 2);
    const wrong = 'Wrong-Pa55word-xyz';

    // Act: the first run leaves the messages queued (hidden until the run ends), so run twice.
    const json = await runPostroom(['process', '--config', config.file, '--json'], {
      env: envFor(user, wrong),
    });
    const human = await runPostroom(['process', '--config', config.file], { env: envFor(user, wrong) });

    // Assess
    expect(json.code).toBe(1);
    const out = JSON.parse(json.stdout) as JsonOutput;
    expect(out).toMatchObject({ processed: 0, failed: 2 });
    expect(out.failures.map((f) => [f.account, f.mailbox, f.uid])).toEqual(
      uids.map((uid) => ['support', 'INBOX', uid]),
    );
    for (const failure of out.failures) expect(failure.reason).toMatch(/auth|login|credentials/i);
    expect(human.code).toBe(1);
    const header = human.stdout.split('\n')[0]!;
    expect(header).toMatch(/\breason$/);
    const rows = human.stdout.split('\n').filter((l) => /^\d+\s/.test(l));
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row).toMatch(/auth|login|credentials/i);
    expect(human.stdout).toMatch(/processed 0, failed 2/);
    for (const text of [json.stdout, json.stderr, human.stdout, human.stderr])
      expect(text).not.toContain(wrong);
  });

  it('a missing folder: --json exits 1 and names the message, the rule, the action and the reason', async () => {
    // Prepare: Dovecot knows \Archive, but this user has no such folder.
    const { user, config, uids } = await polledUser(
      [
        { name: 'archive', when: { subject: 'Message 1' }, then: [{ move: { specialUse: '\\Archive' } }] },
        { name: 'tag', then: [{ flag: 'tagged' }] },
      ],
      2,
    );

    // Act
    const result = await runPostroom(['process', '--config', config.file, '--json'], { env: envFor(user) });

    // Assess
    expect(result.code).toBe(1);
    const out = JSON.parse(result.stdout) as JsonOutput;
    expect(out.failed).toBe(1);
    expect(out.processed).toBe(1);
    expect(out.failures).toEqual([
      {
        account: 'support',
        mailbox: 'INBOX',
        uid: uids[0],
        rule: 'archive',
        action: 'move',
        reason: expect.stringContaining('Archive'),
      },
    ]);
  });

  it('exits 0 with an empty failures list when nothing failed', async () => {
    // Prepare
    const { user, config } = await polledUser([{ name: 'tag', then: [{ flag: 'tagged' }] }], 1);

    // Act
    const result = await runPostroom(['process', '--config', config.file, '--json'], { env: envFor(user) });

    // Assess
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      processed: 1,
      failed: 0,
      gone: 0,
      actions: { flag: 1 },
      failures: [],
      deadLettered: 0,
      deadLetters: [],
    });
  });
});
