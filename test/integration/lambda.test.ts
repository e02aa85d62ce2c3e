/**
 * The Lambda handlers themselves, wired as in AWS (resources from the
 * environment, AWS adapters), against the emulators and a real Dovecot: the
 * poll handler stores and queues, the process handler consumes an SQS event
 * built from what was queued and acts on the server.
 */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent } from 'aws-lambda';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { textMessage } from '../fixtures/messages.ts';
import {
  appendMessages,
  dovecotInfo,
  freshUser,
  getFlags,
  type TestUser,
  withSetupClient,
} from '../helpers/dovecot.ts';
import { createStateTable } from '../helpers/dynamo-emulator.ts';
import { createBucket, createQueue, emulatorClientConfig } from '../helpers/emulators.ts';
import { useAwsEmulatorEnvironment } from '../helpers/ingest-harness.ts';

function context(remainingMs = 60_000): Context {
  const deadline = Date.now() + remainingMs;
  return {
    awsRequestId: `req-${Math.random().toString(36).slice(2)}`,
    functionName: 'postroom-test',
    getRemainingTimeInMillis: () => deadline - Date.now(),
  } as unknown as Context;
}

describe('Lambda handlers against the emulators', () => {
  let user: TestUser;
  let queueUrl: string;
  let sqs: SQSClient;

  beforeAll(async () => {
    useAwsEmulatorEnvironment();
    const { emulators } = inject('servers');
    const name = `lambda-${Date.now().toString(36)}`;
    await createBucket(emulators.s3, name);
    queueUrl = await createQueue(emulators.sqs, name);
    const table = await createStateTable(emulators.dynamodb, name);
    sqs = new SQSClient(emulatorClientConfig(emulators.sqs));
    user = freshUser(dovecotInfo());
    const info = dovecotInfo();
    Object.assign(process.env, {
      POSTROOM_BUCKET: name,
      POSTROOM_QUEUE_URL: queueUrl,
      POSTROOM_TABLE: table,
      LAMBDA_PASSWORD: user.password,
      POWERTOOLS_METRICS_NAMESPACE: 'Postroom',
      POWERTOOLS_DEV: 'true',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      POSTROOM_CONFIG: JSON.stringify({
        accounts: [
          {
            id: 'support',
            host: info.host,
            port: info.ports.full.imaps,
            tlsOptions: { ca: info.caFile },
            auth: { user: user.user, password: { env: 'LAMBDA_PASSWORD' } },
            start: 'all',
          },
        ],
        rules: [{ name: 'alerts', when: { subject: '[alert]' }, then: [{ flag: ['\\Flagged', 'alert'] }] }],
      }),
    });
  });

  it('poll stores and queues new mail; process acts on it and reports no failures', async () => {
    const [alertUid, otherUid] = await withSetupClient(dovecotInfo(), user, (c) =>
      appendMessages(c, 'INBOX', [
        textMessage(1, { namespace: user.user, subject: '[alert] disk full' }),
        textMessage(2, { namespace: user.user, subject: 'lunch?' }),
      ]),
    );
    const { handler: poll } = await import('../../functions/poll.ts');
    const { handler: process_ } = await import('../../functions/process.ts');

    const polled = (await poll({ account: 'support' }, context())) as { fetched: number };
    expect(polled.fetched).toBe(2);

    const received = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, AttributeNames: ['All'] }),
    );
    const records = (received.Messages ?? []).map((m) => ({
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body!,
      attributes: { ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1' },
      messageAttributes: {},
      md5OfBody: m.MD5OfBody!,
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:postroom',
      awsRegion: 'us-east-1',
    }));
    expect(records).toHaveLength(2);
    const event = {
      Records: [...records, { ...records[0]!, messageId: 'garbage', body: '{"not":"a queue message"}' }],
    } as unknown as SQSEvent;

    const response = (await process_(event, context())) as {
      batchItemFailures: { itemIdentifier: string }[];
    };

    // Only the malformed record is left for redrive; the two real messages are done.
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'garbage' }]);
    const flags = await withSetupClient(dovecotInfo(), user, (c) => getFlags(c, 'INBOX'));
    expect(flags.get(alertUid!)).toEqual(expect.arrayContaining(['\\Flagged', 'alert']));
    expect(flags.get(otherUid!)).not.toContain('\\Flagged');
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: records.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
      }),
    );

    // A second invocation finds nothing new: no duplicate in the queue.
    const again = (await poll({ account: 'support' }, context())) as { fetched: number };
    expect(again.fetched).toBe(0);
  });

  it('poll rejects an account that is not in the bundled config, naming the ones that are', async () => {
    const { handler: poll } = await import('../../functions/poll.ts');
    await expect(poll({ account: 'nobody' }, context())).rejects.toThrow(/no account "nobody"/);
  });
});
