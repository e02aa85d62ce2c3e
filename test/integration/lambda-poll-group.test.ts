/**
 * The poll handler invoked for a group of accounts (`{ group, accounts }`, the
 * input of a group's schedule), from the TypeScript sources, against the
 * emulators and Dovecot: every account is polled, one failing account is
 * reported and does not fail the invocation, an empty second run writes
 * nothing to DynamoDB.
 */
import type { Context } from 'aws-lambda';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { validateConfig } from '#lib/config/validate.ts';
import { validatedConfigFile } from '#lib/config/validated-file.ts';
import { textMessage } from '../fixtures/messages.ts';
import {
  countAwsRequests,
  countsSince,
  dynamoWrites,
  snapshotCounts,
} from '../helpers/aws-request-counter.ts';
import { appendMessages, dovecotInfo, freshUser, withSetupClient } from '../helpers/dovecot.ts';
import { createStateTable } from '../helpers/dynamo-emulator.ts';
import { createBucket, createQueue } from '../helpers/emulators.ts';
import { useAwsEmulatorEnvironment } from '../helpers/ingest-harness.ts';
import { lambdaContext } from '../helpers/lambda-events.ts';

function context(): Context {
  return lambdaContext('postroom-test', 60_000);
}

type GroupResult = {
  fetched: number;
  mailboxes: { account: string; fetched: number }[];
  failures: { account: string; code: string; message: string }[];
};

describe('the poll handler with a group of accounts', () => {
  let poll: (event: unknown) => Promise<unknown>;
  const users = [freshUser(dovecotInfo()), freshUser(dovecotInfo())];

  beforeAll(async () => {
    countAwsRequests();
    useAwsEmulatorEnvironment();
    const { emulators } = inject('servers');
    const name = `group-${Date.now().toString(36)}`;
    await createBucket(emulators.s3, name);
    const queueUrl = await createQueue(emulators.sqs, name);
    const table = await createStateTable(emulators.dynamodb, name);
    const info = dovecotInfo();
    const account = (id: string, user: string, passwordEnv: string) => ({
      id,
      host: info.host,
      port: info.ports.full.imap,
      tls: false,
      auth: { user, password: { env: passwordEnv } },
      start: 'all',
    });
    Object.assign(process.env, {
      POSTROOM_BUCKET: name,
      POSTROOM_QUEUE_URL: queueUrl,
      POSTROOM_TABLE: table,
      GROUP_PASSWORD_A: users[0]!.password,
      GROUP_PASSWORD_B: users[1]!.password,
      GROUP_PASSWORD_WRONG: 'not-the-password',
      POWERTOOLS_METRICS_NAMESPACE: 'Postroom',
      POWERTOOLS_DEV: 'true',
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
      POSTROOM_CONFIG: JSON.stringify(
        validatedConfigFile(
          validateConfig({
            accounts: [
              account('a', users[0]!.user, 'GROUP_PASSWORD_A'),
              account('b', users[1]!.user, 'GROUP_PASSWORD_B'),
              account('wrong', users[1]!.user, 'GROUP_PASSWORD_WRONG'),
            ],
            aws: { poller: { concurrency: 2 } },
          }),
        ),
      ),
    });
    for (const [i, user] of users.entries()) {
      await withSetupClient(info, user, (c) =>
        appendMessages(
          c,
          'INBOX',
          Array.from({ length: i + 1 }, (_, n) => textMessage(n, { namespace: user.user })),
        ),
      );
    }
    const { handler } = await import('../../functions/poll.ts');
    poll = (event) => handler(event as never, context());
  });

  it('polls every account, reports the failing one, and writes nothing when run again with nothing new', async () => {
    // Act
    const result = (await poll({ group: 'poll-group-1', accounts: ['a', 'wrong', 'b'] })) as GroupResult;

    // Assess
    expect(result.fetched).toBe(3);
    expect(result.mailboxes.map((m) => [m.account, m.fetched])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(result.failures).toEqual([expect.objectContaining({ account: 'wrong', code: 'AUTH_FAILED' })]);
    expect(JSON.stringify(result)).not.toContain('not-the-password');

    const before = snapshotCounts();
    const again = (await poll({ group: 'poll-group-1', accounts: ['a', 'b'] })) as GroupResult;
    expect(again.fetched).toBe(0);
    expect(dynamoWrites(countsSince(before))).toBe(0);
  });

  it('refuses a group naming an account that is not in the bundled config', async () => {
    await expect(poll({ group: 'poll-group-1', accounts: ['a', 'nobody'] })).rejects.toThrow(
      /no account "nobody"/,
    );
  });
});
