/**
 * The SQS dead-letter queue as `postroom dead-letters` and `postroom status`
 * use it. The DLQ is the one the main queue's RedrivePolicy names (the CDK
 * construct sets it), so no config names it.
 *
 * SQS has no "peek": a message is only seen by receiving it, which hides it
 * for a visibility timeout and counts as a receive. So every verb scans: it
 * receives the DLQ in rounds of 10 with a short visibility timeout, acts on
 * the messages asked for (retry: SendMessage to the main queue, then
 * DeleteMessage; drop: DeleteMessage), and makes every other message visible
 * again at once (ChangeMessageVisibilityBatch to 0), so a listing leaves the
 * queue as it found it. Short polls answer from a sample of SQS's servers,
 * so a scan ends after three empty answers in a row, not the first.
 *
 * Retry sends by hand rather than StartMessageMoveTask: a move task takes
 * every message, and `retry ID…` takes some. A FIFO retry gets a fresh
 * deduplication id (the original one would be dropped within SQS's 5-minute
 * window) and the mailbox's group id.
 *
 * SQS records no reason for a dead letter (the process function logs it),
 * and `ApproximateReceiveCount` counts every receive, listings included.
 */
import { createHash } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { parseQueueMessage } from '../../core/queue-message.ts';
import { PostroomError } from '../../errors.ts';
import type {
  DeadLetterEntry,
  DeadLetterMoves,
  DeadLetterStore,
  QueueDepth,
  QueueInspector,
} from '../../ports.ts';
import { deduplicationId, groupId } from './sqs-queue.ts';

export interface SqsDeadLetterStoreOptions {
  /** The main queue; its RedrivePolicy names the dead-letter queue. */
  queueUrl: string;
  client: SQSClient;
  /** Seconds a scan hides what it received before making it visible again. @default 30 */
  scanVisibilitySeconds?: number;
  /** Messages a scan looks at, at most (retry --all, show). @default 10000 */
  maxScan?: number;
}

/** What one scan does with a received dead letter. */
type Verdict = 'keep' | 'delete';

export class SqsDeadLetterStore implements DeadLetterStore, QueueInspector {
  readonly #queueUrl: string;
  readonly #client: SQSClient;
  readonly #visibility: number;
  readonly #maxScan: number;
  #dlqUrl?: Promise<string>;

  constructor(options: SqsDeadLetterStoreOptions) {
    this.#queueUrl = options.queueUrl;
    this.#client = options.client;
    this.#visibility = options.scanVisibilitySeconds ?? 30;
    this.#maxScan = options.maxScan ?? 10_000;
  }

  async list(limit: number): Promise<DeadLetterEntry[]> {
    const entries: DeadLetterEntry[] = [];
    await this.#scan(limit, async (message) => {
      entries.push(toEntry(message));
      return 'keep';
    });
    return entries.sort((a, b) => (a.failedAt ?? '').localeCompare(b.failedAt ?? ''));
  }

  async get(id: string): Promise<DeadLetterEntry | undefined> {
    let found: DeadLetterEntry | undefined;
    await this.#scan(
      this.#maxScan,
      async (message) => {
        if (message.MessageId === id) found = toEntry(message);
        return 'keep';
      },
      () => found !== undefined,
    );
    return found;
  }

  async retry(ids?: string[]): Promise<DeadLetterMoves> {
    const wanted = ids ? new Set(ids) : undefined;
    const done: string[] = [];
    await this.#scan(
      this.#maxScan,
      async (message) => {
        if (wanted && !wanted.has(message.MessageId ?? '')) return 'keep';
        await this.#client.send(new SendMessageCommand(this.#resend(message)));
        done.push(message.MessageId ?? '');
        return 'delete';
      },
      () => wanted !== undefined && done.length === wanted.size,
    );
    return { done, missing: ids ? ids.filter((id) => !done.includes(id)) : [] };
  }

  async drop(ids: string[]): Promise<DeadLetterMoves> {
    const wanted = new Set(ids);
    const done: string[] = [];
    await this.#scan(
      this.#maxScan,
      async (message) => {
        if (!wanted.has(message.MessageId ?? '')) return 'keep';
        done.push(message.MessageId ?? '');
        return 'delete';
      },
      () => done.length === wanted.size,
    );
    return { done, missing: ids.filter((id) => !done.includes(id)) };
  }

  async depth(): Promise<QueueDepth> {
    const [main, dlq] = await Promise.all([
      this.#attributes(this.#queueUrl, [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ]),
      this.#dlq().then((url) => this.#attributes(url, ['ApproximateNumberOfMessages'])),
    ]);
    const count = (attributes: Record<string, string>, name: string) => Number(attributes[name] ?? 0);
    return {
      queued: count(main, 'ApproximateNumberOfMessages') + count(main, 'ApproximateNumberOfMessagesDelayed'),
      inFlight: count(main, 'ApproximateNumberOfMessagesNotVisible'),
      deadLetters: count(dlq, 'ApproximateNumberOfMessages'),
      note: 'SQS approximate counts, not per mailbox',
    };
  }

  /** Receives the DLQ round by round, applies `decide`, deletes or makes visible again. */
  async #scan(limit: number, decide: (message: Message) => Promise<Verdict>, enough?: () => boolean) {
    const url = await this.#dlq();
    const hidden: Message[] = [];
    let seen = 0;
    let empty = 0;
    try {
      while (seen < limit && empty < 3 && !enough?.()) {
        const { Messages = [] } = await this.#client.send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            MaxNumberOfMessages: Math.min(10, limit - seen),
            VisibilityTimeout: this.#visibility,
            WaitTimeSeconds: 0,
            MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
          }),
        );
        empty = Messages.length === 0 ? empty + 1 : 0;
        for (const message of Messages) {
          seen += 1;
          if ((await decide(message)) === 'delete') {
            await this.#client.send(
              new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message.ReceiptHandle }),
            );
          } else {
            hidden.push(message);
          }
        }
      }
    } finally {
      for (let i = 0; i < hidden.length; i += 10) {
        await this.#client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: url,
            Entries: hidden.slice(i, i + 10).map((m, index) => ({
              Id: String(index),
              ReceiptHandle: m.ReceiptHandle,
              VisibilityTimeout: 0,
            })),
          }),
        );
      }
    }
  }

  #resend(message: Message) {
    const input = { QueueUrl: this.#queueUrl, MessageBody: message.Body ?? '' };
    if (!this.#queueUrl.endsWith('.fifo')) return input;
    const parsed = parseQueueMessage(message.Body ?? '');
    const ref = parsed.ok ? parsed.message : { account: '', mailbox: '', uidValidity: 0, uid: 0 };
    const fresh = createHash('sha256')
      .update(`${deduplicationId(ref)}\0retry\0${message.MessageId}\0${Date.now()}`)
      .digest('hex');
    return { ...input, MessageGroupId: groupId(ref), MessageDeduplicationId: fresh };
  }

  #dlq(): Promise<string> {
    this.#dlqUrl ??= (async () => {
      const attributes = await this.#attributes(this.#queueUrl, ['RedrivePolicy']);
      const arn = attributes.RedrivePolicy
        ? (JSON.parse(attributes.RedrivePolicy) as { deadLetterTargetArn?: string }).deadLetterTargetArn
        : undefined;
      // arn:aws:sqs:<region>:<account>:<name>
      const [, , , , owner, name] = arn?.split(':') ?? [];
      if (!name) {
        throw new PostroomError(
          'DEAD_LETTER_QUEUE_UNKNOWN',
          `the queue ${this.#queueUrl} has no RedrivePolicy naming a dead-letter queue`,
        );
      }
      const { QueueUrl } = await this.#client.send(
        new GetQueueUrlCommand({ QueueName: name, ...(owner ? { QueueOwnerAWSAccountId: owner } : {}) }),
      );
      if (!QueueUrl) throw new PostroomError('DEAD_LETTER_QUEUE_UNKNOWN', `no URL for the queue ${name}`);
      return QueueUrl;
    })();
    this.#dlqUrl.catch(() => {
      this.#dlqUrl = undefined;
    });
    return this.#dlqUrl;
  }

  async #attributes(url: string, names: string[]): Promise<Record<string, string>> {
    const { Attributes = {} } = await this.#client.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names as never }),
    );
    return Attributes;
  }
}

function toEntry(message: Message): DeadLetterEntry {
  const parsed = parseQueueMessage(message.Body ?? '');
  const attributes = message.Attributes ?? {};
  const sent = Number(attributes.SentTimestamp);
  return {
    id: message.MessageId ?? '',
    ...(parsed.ok
      ? { body: parsed.message }
      : { reason: `not a queue message: ${parsed.problems.join('; ')}` }),
    // This scan's own receive is not one of the failed attempts.
    receiveCount: Math.max(0, Number(attributes.ApproximateReceiveCount ?? 1) - 1),
    ...(Number.isFinite(sent) && sent > 0 ? { failedAt: new Date(sent).toISOString() } : {}),
  };
}
