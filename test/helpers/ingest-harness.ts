/**
 * One harness, two sets of stand-ins: the ingest suite runs once against the
 * local adapters (a folder and SQLite) and once against the AWS adapters on
 * the S3/SQS/DynamoDB emulators, through the real composition root
 * (`openRuntime`), so what is tested is what `postroom poll` and the Lambda run.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { inject } from 'vitest';
import { openRuntime, type Runtime } from '#lib/composition/open-runtime.ts';
import { type AccountConfig, configSchema, type PostroomConfig } from '#lib/config/schema.ts';
import type { PollDependencies } from '#lib/core/poll.ts';
import type { QueueMessage } from '#lib/ports.ts';
import type { TestUser } from './dovecot.ts';
import { createStateTable } from './dynamo-emulator.ts';
import { createBucket, createQueue, emulatorClientConfig, emulatorEnvironment } from './emulators.ts';

export type StoreKind = 'local' | 'aws';

export interface IngestHarness {
  kind: StoreKind;
  runtime: Runtime;
  config: PostroomConfig;
  /** Poll dependencies with the real adapters; `ownerId` separates concurrent pollers. */
  deps(ownerId?: string): PollDependencies;
  /** Receives and deletes everything queued so far; returns it, and remembers it in `delivered`. */
  drainQueue(): Promise<QueueMessage[]>;
  /** Every queue message drained so far, in order. */
  delivered: QueueMessage[];
}

/**
 * Points the AWS SDK at the emulators through the standard variables, as the
 * Lambda bundles are pointed in tests: no endpoint is hard-coded in product code.
 */
export function useAwsEmulatorEnvironment(): void {
  const { emulators } = inject('servers');
  Object.assign(process.env, emulatorEnvironment(emulators));
}

export async function createHarness(
  kind: StoreKind,
  account: AccountConfig,
  user: TestUser,
  overrides: Partial<Pick<PostroomConfig, 'ingest'>> = {},
): Promise<IngestHarness> {
  let store: PostroomConfig['store'];
  let sqs: SQSClient | undefined;
  if (kind === 'aws') {
    useAwsEmulatorEnvironment();
    const { emulators } = inject('servers');
    const name = `postroom-${randomUUID().slice(0, 8)}`;
    await createBucket(emulators.s3, name);
    // FIFO, so a re-sent batch is dropped by its deduplication id, as in production.
    const queueUrl = await createQueue(emulators.sqs, `${name}.fifo`, { fifo: true });
    const table = await createStateTable(emulators.dynamodb, name);
    store = { kind: 'aws', bucket: name, queueUrl, table };
    sqs = new SQSClient(emulatorClientConfig(emulators.sqs));
  } else {
    store = { kind: 'local', dir: mkdtempSync(join(tmpdir(), 'postroom-ingest-')) };
  }
  const config = configSchema.parse({
    accounts: [],
    store,
    ...(overrides.ingest ? { ingest: overrides.ingest } : {}),
  });
  config.accounts.push(account);
  const runtime = await openRuntime(config, {
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    env: { ...process.env, POSTROOM_TEST_PASSWORD: user.password },
  });
  const delivered: QueueMessage[] = [];

  const drainQueue = async (): Promise<QueueMessage[]> => {
    const out: QueueMessage[] = [];
    if (store.kind === 'local') {
      const consumer = runtime.stores.consumer!;
      for (;;) {
        const batch = await consumer.receive(500, 60_000);
        if (batch.length === 0) break;
        for (const m of batch) {
          out.push(m.body);
          await consumer.ack(m.receipt);
        }
      }
    } else {
      // An empty short-poll receive does not prove SQS empty (it samples; the
      // emulator, under load, answers before a delete of the batch before has
      // settled): only a few empty answers in a row do.
      for (let empty = 0; empty < 3; ) {
        const response = await sqs!.send(
          new ReceiveMessageCommand({
            QueueUrl: store.queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 0,
          }),
        );
        const messages = response.Messages ?? [];
        if (messages.length === 0) {
          empty++;
          await new Promise((resolve) => setTimeout(resolve, 100));
          continue;
        }
        empty = 0;
        for (const m of messages) out.push(JSON.parse(m.Body!) as QueueMessage);
        await sqs!.send(
          new DeleteMessageBatchCommand({
            QueueUrl: store.queueUrl,
            Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
          }),
        );
      }
    }
    delivered.push(...out);
    return out;
  };

  return {
    kind,
    runtime,
    config,
    deps: (ownerId = `test-${randomUUID().slice(0, 6)}`) => runtime.pollDependencies(ownerId),
    drainQueue,
    delivered,
  };
}
