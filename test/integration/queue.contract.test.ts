/**
 * One contract suite for the Queue port (the send side pollers use), run over
 * the SQLite queue and the SQS queue against local-aws-sqs (a standard and a
 * FIFO queue). The SQS queue is built the way the Lambda builds it: no client
 * passed, the endpoint from `AWS_ENDPOINT_URL_SQS`; the test itself reads the
 * messages back through the SDK.
 *
 * Partial failures are something the emulator cannot produce: there, and for
 * the SQS adapter's batching details, the client is mocked
 * (aws-sdk-client-mock).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SendMessageBatchCommandInput,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { deduplicationId, groupId, SqsQueue } from '#lib/adapters/aws/sqs-queue.ts';
import { openDatabase, type SqliteDatabase } from '#lib/adapters/local/sqlite.ts';
import { SqliteQueue } from '#lib/adapters/local/sqlite-queue.ts';
import { QueueSendError } from '#lib/errors.ts';
import type { Queue, QueueMessage } from '#lib/ports.ts';
import {
  createQueue,
  type Emulator,
  emulatorClientConfig,
  startSqsEmulator,
  useEmulatorEnv,
} from '../helpers/emulators.ts';
import { queueMessage } from '../helpers/factories.ts';

const message = queueMessage;

function messages(count: number, overrides: Partial<QueueMessage> = {}): QueueMessage[] {
  return Array.from({ length: count }, (_, i) => message(i + 1, overrides));
}

/** A queue to send to, and a way to read back (and remove) everything in it. */
interface Channel {
  queue: Queue;
  drain(): Promise<QueueMessage[]>;
}

interface Subject {
  name: string;
  /** Whether the same message sent twice arrives once. */
  deduplicates: boolean;
  /** Whether that still holds after the first copy was received and deleted. */
  deduplicatesAfterDelivery: boolean;
  /** Whether messages of one mailbox arrive in the order they were sent. */
  ordered: boolean;
  channel(): Promise<Channel>;
  /** A queue that accepts only part of a batch (or none), and how many of `batch` it refuses. */
  partlyFailing(batch: QueueMessage[]): { queue: Queue; refused: number };
}

let directory: string;
let db: SqliteDatabase;
let sqs: { endpoint: string; own?: Emulator };
let restoreEnv: () => void;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'postroom-queue-'));
  db = openDatabase(join(directory, 'postroom.db'));
  const shared = (inject('servers') as { emulators?: { sqs?: string } } | undefined)?.emulators?.sqs;
  if (shared) sqs = { endpoint: shared };
  else {
    const own = await startSqsEmulator();
    sqs = { endpoint: own.endpoint, own };
  }
  restoreEnv = useEmulatorEnv({ sqs: sqs.endpoint });
});

afterAll(async () => {
  restoreEnv();
  db.close();
  await sqs.own?.stop();
  await rm(directory, { recursive: true, force: true });
});

/** Reads an SQS queue until it is empty, deleting what it read (FIFO groups stay blocked until then). */
async function drainSqs(queueUrl: string): Promise<QueueMessage[]> {
  const client = new SQSClient(emulatorClientConfig(sqs.endpoint));
  const received: QueueMessage[] = [];
  try {
    for (;;) {
      const { Messages = [] } = await client.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      if (Messages.length === 0) return received;
      for (const m of Messages) received.push(JSON.parse(m.Body ?? '') as QueueMessage);
      await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    }
  } finally {
    client.destroy();
  }
}

/** An SQS client that lists `refusedIds` (entry ids of every request) as failed, every time. */
function refusingSqs(queueUrl: string, batch: QueueMessage[], refusedIds: string[]) {
  const client = new SQSClient(emulatorClientConfig(sqs.endpoint));
  mockClient(client)
    .on(SendMessageBatchCommand)
    .callsFake((input: SendMessageBatchCommandInput) => {
      const entries = input.Entries ?? [];
      const failed = entries.filter((e) => refusedIds.includes(e.Id ?? ''));
      return {
        Successful: entries
          .filter((e) => !failed.includes(e))
          .map((e) => ({ Id: e.Id, MessageId: randomUUID(), MD5OfMessageBody: '' })),
        Failed: failed.map((e) => ({ Id: e.Id, Code: 'InternalError', SenderFault: false })),
      };
    });
  return {
    queue: new SqsQueue({ client, queueUrl, retryBaseDelayMs: 1 }),
    // Entry ids restart at 0 in every request of (at most) 10 entries.
    refused: batch.filter((_, i) => refusedIds.includes(String(i % 10))).length,
  };
}

function sqsSubject(fifo: boolean): Subject {
  return {
    name: fifo ? 'SqsQueue (local-aws-sqs, FIFO)' : 'SqsQueue (local-aws-sqs, standard)',
    deduplicates: fifo,
    // SQS FIFO does, for 5 minutes after the first send, but local-aws-sqs forgets
    // a deduplication id once its message is deleted: not checkable here.
    deduplicatesAfterDelivery: false,
    ordered: fifo,
    async channel() {
      const queueUrl = await createQueue(sqs.endpoint, `postroom-${randomUUID()}`, { fifo });
      return { queue: new SqsQueue({ queueUrl }), drain: () => drainSqs(queueUrl) };
    },
    partlyFailing(batch) {
      const queueUrl = `${sqs.endpoint}/123456789012/postroom-mocked${fifo ? '.fifo' : ''}`;
      return refusingSqs(queueUrl, batch, ['3', '7']);
    },
  };
}

const sqliteSubject: Subject = {
  name: 'SqliteQueue',
  deduplicates: true,
  deduplicatesAfterDelivery: true,
  ordered: true,
  async channel() {
    const queue = new SqliteQueue(openDatabase(join(directory, `${randomUUID()}.db`)));
    return {
      queue,
      async drain() {
        const received: QueueMessage[] = [];
        for (;;) {
          const batch = await queue.receive(10, 60_000);
          if (batch.length === 0) return received;
          for (const m of batch) {
            received.push(m.body);
            await queue.ack(m.receipt);
          }
        }
      },
    };
  },
  partlyFailing(batch) {
    // A row the table refuses (NOT NULL) in the middle of the batch: the transaction rolls back whole.
    const broken = batch.map((m, i) => (i === 5 ? { ...m, uid: null as unknown as number } : m));
    const queue = new SqliteQueue(db);
    return {
      queue: { sendBatch: () => queue.sendBatch(broken) },
      refused: batch.length,
    };
  },
};

const subjects: Subject[] = [sqliteSubject, sqsSubject(false), sqsSubject(true)];

describe.each(subjects)('Queue contract: $name', (subject) => {
  it('delivers all 25 messages of one batch, intact', async () => {
    // Prepare
    const { queue, drain } = await subject.channel();
    const sent = messages(25);

    // Act
    await queue.sendBatch(sent);
    const received = await drain();

    // Assess
    expect(received).toHaveLength(25);
    expect([...received].sort((a, b) => a.uid - b.uid)).toEqual(sent);
    if (subject.ordered) expect(received.map((m) => m.uid)).toEqual(sent.map((m) => m.uid));
  });

  it('delivers messages of several mailboxes from one batch', async () => {
    // Prepare
    const { queue, drain } = await subject.channel();
    const sent = [...messages(12), ...messages(12, { mailbox: 'Finance/Invoices' })];

    // Act
    await queue.sendBatch(sent);
    const received = await drain();

    // Assess
    const byMailbox = (mailbox: string) => received.filter((m) => m.mailbox === mailbox).map((m) => m.uid);
    expect(received).toHaveLength(24);
    expect(byMailbox('INBOX').sort((a, b) => a - b)).toEqual(messages(12).map((m) => m.uid));
    if (subject.ordered) expect(byMailbox('Finance/Invoices')).toEqual(messages(12).map((m) => m.uid));
  });

  it('does nothing for an empty batch', async () => {
    // Prepare
    const { queue, drain } = await subject.channel();

    // Act
    await queue.sendBatch([]);

    // Assess
    expect(await drain()).toEqual([]);
  });

  it('rejects a batch it does not fully accept with QueueSendError naming how many failed', async () => {
    // Prepare
    const batch = messages(12);
    const { queue, refused } = subject.partlyFailing(batch);

    // Act
    const send = queue.sendBatch(batch);

    // Assess
    await expect(send).rejects.toBeInstanceOf(QueueSendError);
    await expect(send).rejects.toMatchObject({
      code: 'QUEUE_SEND_FAILED',
      retryable: true,
      context: { failed: refused, total: 12 },
    });
  });
});

describe.each(subjects.filter((s) => s.deduplicates))('Queue deduplication: $name', (subject) => {
  it('delivers a re-sent message once', async () => {
    // Prepare: a poller crashed after sending, before moving its checkpoint, and sends again.
    const { queue, drain } = await subject.channel();
    await queue.sendBatch(messages(3));

    // Act
    await queue.sendBatch(messages(4));
    const received = await drain();

    // Assess
    expect(received.map((m) => m.uid).sort((a, b) => a - b)).toEqual([1, 2, 3, 4]);
  });
});

describe.each(subjects.filter((s) => s.deduplicatesAfterDelivery))(
  'Queue deduplication after delivery: $name',
  (subject) => {
    it('delivers a message re-sent after it was processed only the first time', async () => {
      // Prepare
      const { queue, drain } = await subject.channel();
      await queue.sendBatch(messages(2));
      const first = await drain();

      // Act
      await queue.sendBatch(messages(2));
      const second = await drain();

      // Assess
      expect(first).toHaveLength(2);
      expect(second).toEqual([]);
    });
  },
);

describe('SqliteQueue sendBatch', () => {
  it('queues none of a batch that fails, so the whole batch can be sent again', async () => {
    // Prepare
    const { queue: failing } = sqliteSubject.partlyFailing(messages(12));
    await expect(failing.sendBatch(messages(12))).rejects.toBeInstanceOf(QueueSendError);
    const queue = new SqliteQueue(db);

    // Act
    await queue.sendBatch(messages(12));
    const received = await queue.receive(20);

    // Assess: nothing of the failed batch was marked as sent, so nothing is deduplicated away.
    expect(received.map((m) => m.body.uid)).toEqual(messages(12).map((m) => m.uid));
  });
});

describe('SqsQueue batching (mocked client)', () => {
  const standardUrl = 'http://127.0.0.1:1/123456789012/postroom';
  const fifoUrl = 'http://127.0.0.1:1/123456789012/postroom.fifo';
  let client: SQSClient;
  let mock: ReturnType<typeof mockClient>;

  beforeEach(() => {
    client = new SQSClient(emulatorClientConfig('http://127.0.0.1:1'));
    mock = mockClient(client);
  });

  const sentEntries = () =>
    mock.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input.Entries ?? []);

  function acceptAll() {
    mock.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => ({
      Successful: (input.Entries ?? []).map((e) => ({
        Id: e.Id,
        MessageId: randomUUID(),
        MD5OfMessageBody: '',
      })),
      Failed: [],
    }));
  }

  it('sends 25 messages as requests of 10, 10 and 5', async () => {
    // Prepare
    acceptAll();
    const queue = new SqsQueue({ client, queueUrl: standardUrl });

    // Act
    await queue.sendBatch(messages(25));

    // Assess
    expect(sentEntries().map((entries) => entries.length)).toEqual([10, 10, 5]);
  });

  it('keeps each request under 256 KiB of message bodies', async () => {
    // Prepare: ten 60 KB messages would make a 600 KB request.
    acceptAll();
    const queue = new SqsQueue({ client, queueUrl: standardUrl });
    const large = messages(10).map((m) => ({
      ...m,
      envelope: { ...m.envelope, subject: 'x'.repeat(60_000) },
    }));

    // Act
    await queue.sendBatch(large);

    // Assess
    const sizes = sentEntries().map((entries) =>
      entries.reduce((sum, e) => sum + Buffer.byteLength(e.MessageBody ?? ''), 0),
    );
    expect(sizes.length).toBeGreaterThan(1);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(256 * 1024);
    expect(sentEntries().flat()).toHaveLength(10);
  });

  it('gives FIFO messages a deduplication id per message and a group id per mailbox', async () => {
    // Prepare
    acceptAll();
    const queue = new SqsQueue({ client, queueUrl: fifoUrl });
    const batch = [message(1), message(2), message(1, { mailbox: 'Archive' })];

    // Act
    await queue.sendBatch(batch);

    // Assess
    const entries = sentEntries().flat();
    const byBody = (m: QueueMessage) => entries.find((e) => e.MessageBody === JSON.stringify(m))!;
    expect(byBody(batch[0]!).MessageDeduplicationId).toBe(deduplicationId(batch[0]!));
    expect(byBody(batch[0]!).MessageGroupId).toBe(byBody(batch[1]!).MessageGroupId);
    expect(byBody(batch[2]!).MessageGroupId).not.toBe(byBody(batch[0]!).MessageGroupId);
    expect(new Set(entries.map((e) => e.MessageDeduplicationId)).size).toBe(3);
    expect(groupId(batch[2]!)).toBe(byBody(batch[2]!).MessageGroupId);
  });

  it('gives standard-queue messages neither deduplication nor group ids', async () => {
    // Prepare
    acceptAll();
    const queue = new SqsQueue({ client, queueUrl: standardUrl });

    // Act
    await queue.sendBatch(messages(2));

    // Assess
    for (const entry of sentEntries().flat()) {
      expect(entry.MessageDeduplicationId).toBeUndefined();
      expect(entry.MessageGroupId).toBeUndefined();
    }
  });

  it('sends the requests of one FIFO mailbox one after another, in UID order', async () => {
    // Prepare
    let inFlight = 0;
    let maxInFlight = 0;
    mock.on(SendMessageBatchCommand).callsFake(async (input: SendMessageBatchCommandInput) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return { Successful: (input.Entries ?? []).map((e) => ({ Id: e.Id })), Failed: [] };
    });
    const queue = new SqsQueue({ client, queueUrl: fifoUrl, concurrency: 4 });

    // Act
    await queue.sendBatch(messages(35));

    // Assess
    expect(maxInFlight).toBe(1);
    const uids = sentEntries()
      .flat()
      .map((e) => (JSON.parse(e.MessageBody ?? '') as QueueMessage).uid);
    expect(uids).toEqual(messages(35).map((m) => m.uid));
  });

  it('retries the entries SQS lists as failed and succeeds once they are accepted', async () => {
    // Prepare
    mock
      .on(SendMessageBatchCommand)
      .resolvesOnce({
        Successful: ['0', '1', '2', '4', '5', '6', '7', '8', '9'].map((Id) => ({
          Id,
          MessageId: Id,
          MD5OfMessageBody: '',
        })),
        Failed: [{ Id: '3', Code: 'ServiceUnavailable', SenderFault: false }],
      })
      .resolves({ Successful: [{ Id: '0', MessageId: '0', MD5OfMessageBody: '' }], Failed: [] });
    const queue = new SqsQueue({ client, queueUrl: standardUrl, retryBaseDelayMs: 1 });
    const batch = messages(10);

    // Act
    await queue.sendBatch(batch);

    // Assess
    const calls = sentEntries();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.map((e) => e.MessageBody)).toEqual([JSON.stringify(batch[3])]);
  });

  it('does not retry an entry refused as the sender’s fault', async () => {
    // Prepare
    mock.on(SendMessageBatchCommand).resolves({
      Successful: [{ Id: '0', MessageId: '0', MD5OfMessageBody: '' }],
      Failed: [{ Id: '1', Code: 'InvalidParameterValue', SenderFault: true }],
    });
    const queue = new SqsQueue({ client, queueUrl: standardUrl, retryBaseDelayMs: 1 });

    // Act
    const send = queue.sendBatch(messages(2));

    // Assess
    await expect(send).rejects.toMatchObject({
      code: 'QUEUE_SEND_FAILED',
      context: {
        failed: 1,
        total: 2,
        codes: ['InvalidParameterValue'],
        messages: ['acme/INBOX/1700000000/2'],
      },
    });
    expect(sentEntries()).toHaveLength(1);
  });

  it('reports a request that failed as a whole as QueueSendError with its cause', async () => {
    // Prepare
    const outage = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { name: 'ECONNREFUSED' });
    mock.on(SendMessageBatchCommand).rejects(outage);
    const queue = new SqsQueue({ client, queueUrl: standardUrl });

    // Act
    const send = queue.sendBatch(messages(15));

    // Assess
    await expect(send).rejects.toMatchObject({
      code: 'QUEUE_SEND_FAILED',
      cause: outage,
      context: { failed: 15, total: 15 },
    });
  });
});
