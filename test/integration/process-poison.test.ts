/**
 * Poison isolation, end to end: `postroom poll`, then `postroom process` and
 * `postroom dry-run` as a user runs them (child processes) against the private
 * Dovecot, on a mailbox holding a poison message (1,000 MIME parts, or one the
 * parser fails on) between two innocent ones. The commands finish, the poison
 * message gets the envelope-level rules and a warning saying why, and its
 * batch-mates are processed and acknowledged.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { textMessage } from '../fixtures/messages.ts';
import { manyPartsMessage, parserErrorMessage } from '../fixtures/poison-messages.ts';
import {
  type ConfigFile,
  killAllPostroom,
  readEventsFile,
  runPostroom,
  spawnPostroom,
  writeConfigFile,
} from '../helpers/cli.ts';
import { appendMessages, dovecotInfo, freshUser, testAccount, withSetupClient } from '../helpers/dovecot.ts';

afterEach(killAllPostroom);

/** An envelope rule for every message, and a body rule that makes every message be parsed. */
const RULES = [
  { name: 'every-message', when: { size: { over: '1 B' } }, then: [{ emit: 'mail.received' }] },
  { name: 'body-invoice', when: { body: 'invoice' }, then: [{ emit: 'mail.body' }] },
];

function queued(config: ConfigFile): number {
  const db = new Database(join(config.storeDir, 'postroom.db'), { readonly: true });
  try {
    return db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM queue_messages').get()!.n;
  } finally {
    db.close();
  }
}

describe.each([
  [
    '1,000 MIME parts',
    (ns: string) => manyPartsMessage(1000, { namespace: ns }),
    'more than 1000 MIME parts',
  ],
  [
    'a message the parser fails on',
    (ns: string) => parserErrorMessage({ namespace: ns }),
    'a MIME header block larger than 262144 bytes',
  ],
])('a poison message (%s) between innocent ones', (_name, poison, why) => {
  it('is its own result in dry-run and process; the others are processed and acknowledged', async () => {
    // Prepare
    const info = dovecotInfo();
    const user = freshUser(info, 'poison');
    const [first, bad, last] = await withSetupClient(info, user, (client) =>
      appendMessages(client, 'INBOX', [
        textMessage(1, { namespace: user.user, subject: 'Innocent one' }),
        poison(user.user),
        textMessage(2, { namespace: user.user, subject: 'Innocent two' }),
      ]),
    );
    const config = writeConfigFile(
      { accounts: [testAccount(info, user, { tls: false })], rules: RULES },
      'postroom-poison-',
    );
    const env = { POSTROOM_TEST_PASSWORD: user.password };

    // Act: dry-run of the mailbox
    const dry = await runPostroom(['dry-run', '--config', config.file, '--json'], { env, timeoutMs: 60_000 });

    // Assess: it finishes; the poison message has the envelope rule and says why
    expect(dry.code, dry.stderr).toBe(0);
    const entries = JSON.parse(dry.stdout) as { uid: number; rules: string[]; warnings: string[] }[];
    expect(entries.map((e) => e.uid)).toEqual([first, bad, last]);
    expect(entries[1]!.rules).toEqual(['every-message']);
    expect(entries[1]!.warnings).toContain(`message could not be parsed: ${why}`);
    expect(entries[0]!.warnings).toEqual([]);

    // Act: poll and process (the table output: warnings are logged on stderr)
    const poll = await runPostroom(['poll', '--config', config.file, '--json'], { env });
    expect(poll.code, poll.stderr).toBe(0);
    const started = Date.now();
    const processed = await runPostroom(['process', '--config', config.file], {
      env,
      timeoutMs: 60_000,
    });

    // Assess: it finishes with every message processed and acknowledged
    expect(processed.code, processed.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(processed.stdout).toContain('processed 3, failed 0');
    expect(queued(config)).toBe(0);
    const events = readEventsFile(config.eventsFile).map((e) => [e.detail.uid, e['detail-type']]);
    expect(events).toEqual(
      expect.arrayContaining([
        [first, 'mail.received'],
        [first, 'mail.body'],
        [bad, 'mail.received'],
        [last, 'mail.received'],
        [last, 'mail.body'],
      ]),
    );
    expect(events).toHaveLength(5);
    // The warning names the message and the reason.
    expect(processed.stderr).toContain(why);
    expect(processed.stderr).toMatch(new RegExp(`uid[^\\n]*${bad}`));
  });
});

describe('postroom run with a poison message in the mailbox', () => {
  it('keeps polling and processing: mail appended later is processed too', async () => {
    // Prepare
    const info = dovecotInfo();
    const user = freshUser(info, 'poison-run');
    const [bad] = await withSetupClient(info, user, (client) =>
      appendMessages(client, 'INBOX', [manyPartsMessage(1000, { namespace: user.user })]),
    );
    const config = writeConfigFile(
      { accounts: [testAccount(info, user, { tls: false, schedule: 'rate(1 second)' })], rules: RULES },
      'postroom-poison-run-',
    );
    const cli = spawnPostroom(['run', '--config', config.file], {
      env: { POSTROOM_TEST_PASSWORD: user.password },
    });
    const processed = async (uid: number, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (!readEventsFile(config.eventsFile).some((e) => e.detail.uid === uid)) {
        if (cli.hasExited()) throw new Error(`postroom run exited:\n${cli.stderr().slice(-4000)}`);
        if (Date.now() > deadline) throw new Error(`UID ${uid} not processed:\n${cli.stderr().slice(-4000)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    await processed(bad!, 30_000);

    // Act
    const [later] = await withSetupClient(info, user, (client) =>
      appendMessages(client, 'INBOX', [textMessage(3, { namespace: user.user })]),
    );

    // Assess
    await processed(later!, 30_000);
    expect(cli.stderr()).toContain('more than 1000 MIME parts');
    cli.signal('SIGTERM');
    expect((await cli.exited).code, cli.stderr()).toBe(0);
    expect(queued(config)).toBe(0);
  });
});
