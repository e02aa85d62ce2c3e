/**
 * An empty poll (UIDNEXT not past the checkpoint) writes nothing: no DynamoDB
 * write request (counted by an SDK middleware on every client), nothing
 * committed to the local SQLite file. With new mail the lease is taken, and
 * fleets of accounts are polled together with failures kept apart.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openRuntime } from '#lib/composition/open-runtime.ts';
import { pollAccount } from '#lib/core/poll.ts';
import { pollAccounts } from '#lib/core/poll-fleet.ts';
import { textMessage } from '../fixtures/messages.ts';
import {
  countAwsRequests,
  countsSince,
  dynamoWrites,
  snapshotCounts,
} from '../helpers/aws-request-counter.ts';
import { appendMessages, dovecotInfo, freshUser, testAccount, withSetupClient } from '../helpers/dovecot.ts';
import { createHarness } from '../helpers/ingest-harness.ts';

const info = () => dovecotInfo();
countAwsRequests();

async function setup(kind: 'local' | 'aws', count: number) {
  const user = freshUser(info());
  const account = testAccount(info(), user, { tls: false, variant: 'full' });
  const harness = await createHarness(kind, account, user);
  await withSetupClient(info(), user, (c) =>
    appendMessages(
      c,
      'INBOX',
      Array.from({ length: count }, (_, i) => textMessage(i, { namespace: user.user })),
    ),
  );
  const poll = (owner?: string) =>
    pollAccount(harness.deps(owner), { account: harness.config.accounts[0]!, ingest: harness.config.ingest });
  return { user, harness, poll };
}

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

describe('an empty poll with the AWS adapters', () => {
  it('sends no DynamoDB write, only the checkpoint read, and nothing to S3 or SQS', async () => {
    // Prepare: a first poll delivers what is there.
    const { user, harness, poll } = await setup('aws', 3);
    expect((await poll()).fetched).toBe(3);

    // Act
    const before = snapshotCounts();
    const empty = await poll();
    const sent = countsSince(before);

    // Assess
    expect(empty.fetched).toBe(0);
    expect(empty.mailboxes[0]).toMatchObject({ outcome: 'done', lastUid: 3, lag: 0 });
    expect(dynamoWrites(sent)).toBe(0);
    expect(Object.fromEntries(sent)).toEqual({ 'DynamoDB GetItem': 1 });

    // New mail: the lease is taken (and given back), the checkpoint moves.
    await withSetupClient(info(), user, (c) =>
      appendMessages(c, 'INBOX', [textMessage(9, { namespace: user.user })]),
    );
    const beforeMail = snapshotCounts();
    expect((await poll()).fetched).toBe(1);
    const withMail = countsSince(beforeMail);
    expect(withMail.get('DynamoDB PutItem')).toBeGreaterThanOrEqual(2); // lease, checkpoint
    expect(withMail.get('DynamoDB DeleteItem')).toBe(1); // the lease released
    expect(withMail.get('SQS SendMessageBatch')).toBe(1);
    expect(harness.kind).toBe('aws');
  });
});

describe('an empty poll through the AWS runtime, logging in afresh', () => {
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const emptyPollWrites = async (slots: 'by-concurrency' | undefined) => {
    const { user, harness } = await setup('aws', 2);
    const previous = process.env.POSTROOM_CONNECTION_SLOTS;
    if (slots) process.env.POSTROOM_CONNECTION_SLOTS = slots;
    else delete process.env.POSTROOM_CONNECTION_SLOTS;
    // No pooling: every poll opens a session, as a cold poll function does.
    const runtime = await openRuntime(harness.config, {
      logger: silent,
      sessionIdleMs: 0,
      env: { ...process.env, POSTROOM_TEST_PASSWORD: user.password },
    });
    try {
      const poll = () =>
        pollAccount(runtime.pollDependencies(), {
          account: harness.config.accounts[0]!,
          ingest: harness.config.ingest,
        });
      expect((await poll()).fetched).toBe(2);
      const before = snapshotCounts();
      expect((await poll()).fetched).toBe(0);
      return dynamoWrites(countsSince(before));
    } finally {
      await runtime.close();
      if (previous === undefined) delete process.env.POSTROOM_CONNECTION_SLOTS;
      else process.env.POSTROOM_CONNECTION_SLOTS = previous;
    }
  };

  it('writes nothing when the construct says the concurrency keeps the budget', async () => {
    expect(await emptyPollWrites('by-concurrency')).toBe(0);
  });

  it('takes and gives back a connection slot in the table otherwise', async () => {
    expect(await emptyPollWrites(undefined)).toBe(2);
  });
});

describe('an empty poll with the local stand-ins', () => {
  it('commits nothing to the SQLite file', async () => {
    // Prepare
    const { harness, poll } = await setup('local', 2);
    expect((await poll()).fetched).toBe(2);
    const store = harness.config.store as { dir: string };
    const observer = new Database(join(store.dir, 'postroom.db'), { readonly: true });
    closers.push(() => observer.close());
    // data_version changes whenever another connection commits to the file.
    const version = () => observer.pragma('data_version', { simple: true }) as number;
    const before = version();

    // Act
    const empty = await poll();

    // Assess
    expect(empty.mailboxes[0]).toMatchObject({ outcome: 'done', fetched: 0, lastUid: 2 });
    expect(version()).toBe(before);
  });
});

describe('a fleet poll', () => {
  it('polls accounts together, delivers each account once, and reports a failing account on its own', async () => {
    // Prepare: two accounts with mail on one store, one whose password is wrong
    // (the harness reads passwords from the environment as it is when it opens).
    const other = freshUser(info());
    process.env.POSTROOM_SECOND_PASSWORD = other.password;
    process.env.POSTROOM_BROKEN_PASSWORD = 'not-the-password';
    const a = await setup('local', 2);
    await withSetupClient(info(), other, (c) =>
      appendMessages(c, 'INBOX', [textMessage(1, { namespace: other.user })]),
    );
    const base = testAccount(info(), other, { tls: false, variant: 'full' });
    const b = {
      ...base,
      id: 'second',
      auth: { ...base.auth, password: { env: 'POSTROOM_SECOND_PASSWORD' } },
    };
    const broken = { ...b, id: 'broken', auth: { ...b.auth, password: { env: 'POSTROOM_BROKEN_PASSWORD' } } };
    const accounts = [a.harness.config.accounts[0]!, broken, b];
    const seen: string[] = [];

    // Act
    const result = await pollAccounts(a.harness.deps(), {
      accounts,
      concurrency: 3,
      ingest: a.harness.config.ingest,
      onAccountDone: (outcome) => seen.push(outcome.account),
    });

    // Assess
    expect(result.fetched).toBe(3);
    expect(result.mailboxes.map((m) => [m.account, m.fetched])).toEqual([
      [accounts[0]!.id, 2],
      ['second', 1],
    ]);
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({ account: 'broken', code: 'AUTH_FAILED' });
    expect(result.failures[0]!.message).not.toContain('not-the-password');
    expect(seen.sort()).toEqual([accounts[0]!.id, 'broken', 'second'].sort());
    expect(result.notStarted).toEqual([]);

    // Past its deadline a fleet poll starts no account; the next run polls them.
    const late = await pollAccounts(a.harness.deps(), {
      accounts,
      ingest: a.harness.config.ingest,
      deadline: Date.now() - 1,
    });
    expect(late.notStarted).toEqual(accounts.map((x) => x.id));
    expect(late.mailboxes).toEqual([]);
  });
});
