/**
 * `postroom status` and `postroom dead-letters` with `store: { kind: aws }`,
 * in process (the CLI's `main`), against the S3, SQS and DynamoDB emulators
 * and the private Dovecot: the checkpoint and poll record come from DynamoDB,
 * the queue depth and dead letters from SQS (the DLQ found through the main
 * queue's RedrivePolicy), and a listing leaves the DLQ as it found it.
 */
import { writeFileSync } from 'node:fs';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '#lib/cli/main.ts';
import type { DeadLetterView } from '#lib/core/dead-letters.ts';
import type { StatusReport } from '#lib/core/status.ts';
import { textMessage } from '../fixtures/messages.ts';
import { writeConfigFile } from '../helpers/cli.ts';
import {
  appendMessages,
  dovecotInfo,
  freshUser,
  getFlags,
  testAccount,
  withSetupClient,
} from '../helpers/dovecot.ts';
import {
  createStateTable,
  type DynamoEmulator,
  startDynamoEmulator,
  useDynamoEnv,
} from '../helpers/dynamo-emulator.ts';
import {
  createBucket,
  type Emulator,
  emulatorClientConfig,
  startS3Emulator,
  startSqsEmulator,
  useEmulatorEnv,
} from '../helpers/emulators.ts';
import { queueMessage } from '../helpers/factories.ts';

let s3: Emulator;
let sqs: Emulator;
let dynamo: DynamoEmulator;
let client: SQSClient;
const restore: (() => void)[] = [];

beforeAll(async () => {
  [s3, sqs, dynamo] = await Promise.all([startS3Emulator(), startSqsEmulator(), startDynamoEmulator()]);
  // s3rver knows one access key (dynalite takes any): the S3 emulator's settings go last.
  restore.push(useDynamoEnv(dynamo.endpoint), useEmulatorEnv({ s3: s3.endpoint, sqs: sqs.endpoint }));
  client = new SQSClient(emulatorClientConfig(sqs.endpoint));
});

afterAll(async () => {
  for (const undo of restore.splice(0).reverse()) undo();
  delete process.env.POSTROOM_TEST_PASSWORD;
  client.destroy();
  await Promise.all([s3.stop(), sqs.stop(), dynamo.stop()]);
});

/** A main queue whose RedrivePolicy names a fresh DLQ, a bucket, a table, and a config file using them. */
async function awsStore(name: string, accounts: unknown[], rules: unknown[] = []) {
  const dlq = await client.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  const main = await client.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: Attributes!.QueueArn, maxReceiveCount: 5 }),
      },
    }),
  );
  await createBucket(s3.endpoint, name);
  const table = await createStateTable(dynamo.endpoint, name);
  const config = writeConfigFile({ accounts }, 'postroom-operator-aws-');
  writeFileSync(
    config.file,
    JSON.stringify({ store: { kind: 'aws', bucket: name, queueUrl: main.QueueUrl, table }, accounts, rules }),
  );
  return { file: config.file, queueUrl: main.QueueUrl!, dlqUrl: dlq.QueueUrl! };
}

/** Runs `postroom <args> --json` in process and parses what it printed on stdout. */
async function cli<T>(args: string[]): Promise<{ code: number; out: T }> {
  let stdout = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  let code: number;
  try {
    code = await main([...args, '--json']);
  } finally {
    process.stdout.write = write;
    process.exitCode = undefined;
  }
  return { code, out: JSON.parse(stdout) as T };
}

describe('operator commands with store: { kind: aws }', () => {
  it('status reads the checkpoint and last poll from DynamoDB and the queue depth from SQS', async () => {
    // Prepare
    const info = dovecotInfo();
    const user = freshUser(info, 'opa');
    process.env.POSTROOM_TEST_PASSWORD = user.password;
    const account = testAccount(info, user, { tls: false });
    const store = await awsStore(`status-${user.user}`, [account]);
    const append = (from: number, count: number) =>
      withSetupClient(info, user, (c) =>
        appendMessages(
          c,
          'INBOX',
          Array.from({ length: count }, (_, i) => textMessage(from + i, { namespace: user.user })),
        ),
      );
    const uids = await append(1, 2);
    const polled = await cli<{ fetched: number }>(['poll', '--config', store.file]);
    await append(10, 1);

    // Act
    const { code, out } = await cli<StatusReport>(['status', '--config', store.file]);

    // Assess
    expect(polled.out.fetched).toBe(2);
    expect(code).toBe(0);
    expect(out.accounts[0]!.mailboxes[0]).toMatchObject({
      lastPoll: { at: expect.any(String) },
      lastError: null,
      checkpoint: { lastUid: uids[1] },
      lease: null,
      lag: { server: 1, queued: null },
      deadLetters: null,
    });
    expect(out.queue).toEqual({
      queued: 2,
      inFlight: 0,
      deadLetters: 0,
      note: 'SQS approximate counts, not per mailbox',
    });
  });

  it('replay finds the stored mail in S3 and records what it did in DynamoDB', async () => {
    // Prepare
    const info = dovecotInfo();
    const user = freshUser(info, 'opr');
    process.env.POSTROOM_TEST_PASSWORD = user.password;
    const account = testAccount(info, user, { tls: false });
    const store = await awsStore(
      `replay-${user.user}`,
      [account],
      [{ name: 'tag', then: [{ flag: 'replayed' }] }],
    );
    const uids = await withSetupClient(info, user, (c) =>
      appendMessages(
        c,
        'INBOX',
        [1, 2].map((i) => textMessage(i, { namespace: user.user })),
      ),
    );
    await cli(['poll', '--config', store.file]);
    const replay = [
      'replay',
      '--account',
      'test',
      '--mailbox',
      'INBOX',
      '--uids',
      '1:*',
      '--config',
      store.file,
    ];
    type Result = { messages: number; todo: number; alreadyDone: number; failed: number };

    // Act
    const dry = await cli<Result>(replay);
    const applied = await cli<Result>([...replay, '--apply']);
    const second = await cli<Result>([...replay, '--apply']);

    // Assess
    expect(dry.out).toMatchObject({ messages: 2, todo: 2, alreadyDone: 0, failed: 0 });
    expect(applied.out).toMatchObject({ messages: 2, todo: 2, alreadyDone: 0, failed: 0 });
    expect(second.out).toMatchObject({ messages: 2, todo: 0, alreadyDone: 2, failed: 0 });
    const flags = await withSetupClient(info, user, (c) => getFlags(c, 'INBOX'));
    for (const uid of uids) expect(flags.get(uid)).toContain('replayed');
  });

  it('dead-letters lists, shows, retries (back to the main queue) and drops the SQS DLQ', async () => {
    // Prepare: two dead letters, as SQS leaves them after maxReceiveCount.
    const store = await awsStore(`dlq-${Date.now()}`, []);
    for (const uid of [7, 8])
      await client.send(
        new SendMessageCommand({ QueueUrl: store.dlqUrl, MessageBody: JSON.stringify(queueMessage(uid)) }),
      );
    const args = ['--config', store.file];

    // Act
    const listed = await cli<{ deadLetters: DeadLetterView[] }>(['dead-letters', 'list', ...args]);
    const again = await cli<{ deadLetters: DeadLetterView[] }>(['dead-letters', 'list', ...args]);
    const byUid = new Map(listed.out.deadLetters.map((d) => [d.uid, d.id]));
    const shown = await cli<{ deadLetter: DeadLetterView; message: { blob: { key: string } } }>([
      'dead-letters',
      'show',
      byUid.get(7)!,
      ...args,
    ]);
    const retried = await cli<{ retried: string[]; missing: string[] }>([
      'dead-letters',
      'retry',
      byUid.get(7)!,
      ...args,
    ]);
    const dropped = await cli<{ dropped: string[]; missing: string[] }>([
      'dead-letters',
      'drop',
      byUid.get(8)!,
      'nope',
      ...args,
    ]);
    const left = await cli<{ deadLetters: DeadLetterView[] }>(['dead-letters', 'list', ...args]);
    const onMain = await client.send(
      new ReceiveMessageCommand({ QueueUrl: store.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );

    // Assess
    expect(listed.out.deadLetters.map((d) => [d.account, d.mailbox, d.uid, d.subject])).toEqual([
      ['acme', 'INBOX', 7, 'Invoice 7'],
      ['acme', 'INBOX', 8, 'Invoice 8'],
    ]);
    expect(again.out.deadLetters.map((d) => d.uid)).toEqual([7, 8]);
    expect(shown.out.deadLetter).toMatchObject({ uid: 7, reason: expect.stringContaining('not recorded') });
    expect(shown.out.message.blob.key).toBe('raw/acme/INBOX/1700000000/7.eml');
    expect(retried.out).toEqual({ retried: [byUid.get(7)], missing: [] });
    expect(dropped.code).toBe(1);
    expect(dropped.out).toEqual({ dropped: [byUid.get(8)], missing: ['nope'] });
    expect(left.out.deadLetters).toEqual([]);
    expect((onMain.Messages ?? []).map((m) => JSON.parse(m.Body!).uid)).toEqual([7]);
  });
});
