/**
 * The AWS `Queue` (send side): SendMessageBatch into one SQS queue.
 *
 * SQS takes at most 10 entries and 256 KiB per SendMessageBatch, and answers
 * per entry: a 200 response can still list `Failed` entries. Those are retried
 * with backoff; whatever still fails makes `sendBatch` throw, so the poller
 * never moves its checkpoint past a message the queue does not have.
 *
 * For a FIFO queue (URL ending in `.fifo`) every message gets a deduplication
 * id derived from (account, mailbox, uidValidity, uid), so a poller re-sending
 * after a crash is dropped by SQS (within its 5-minute deduplication window;
 * consumers' idempotency records cover later repeats), and a group id per
 * mailbox, so messages of one mailbox are delivered in UID order. Standard
 * queues accept neither attribute.
 */
import { createHash } from 'node:crypto';
import {
  type BatchResultErrorEntry,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { QueueSendError } from '../../errors.ts';
import type { Queue, QueueMessage } from '../../ports.ts';
import { forEachLimited } from '../../work-pool.ts';
import { sqsClientConfig } from './clients.ts';

/** SQS limits per SendMessageBatch request. */
const MAX_ENTRIES = 10;
const MAX_BATCH_BYTES = 256 * 1024;

export interface SqsQueueOptions {
  /** The queue URL (`POSTROOM_QUEUE_URL` in Lambda). A `.fifo` suffix selects FIFO behaviour. */
  queueUrl: string;
  /**
   * A ready client.
   * @default a new `SQSClient(sqsClientConfig())`: region from `AWS_REGION`, endpoint from `AWS_ENDPOINT_URL_SQS`
   */
  client?: SQSClient;
  /** SendMessageBatch requests in flight at once. @default 4 */
  concurrency?: number;
  /** Tries per entry, the first included, when SQS lists it as `Failed`. @default 3 */
  maxAttempts?: number;
  /** Backoff before the first retry of failed entries; doubles each time, with jitter. @default 100 */
  retryBaseDelayMs?: number;
}

/** One message ready to send, serialised once. */
interface Outgoing {
  ref: string;
  entry: Omit<SendMessageBatchRequestEntry, 'Id'>;
  bytes: number;
}

/** What one failed message looked like, for the error's context (no bodies). */
interface FailedEntry {
  ref: string;
  code?: string;
}

/**
 * Sends queue messages to SQS in batches.
 *
 * @example
 * const queue = new SqsQueue({ queueUrl: process.env.POSTROOM_QUEUE_URL! });
 * await queue.sendBatch(messages); // throws QueueSendError unless every message was accepted
 */
export class SqsQueue implements Queue {
  readonly queueUrl: string;
  readonly client: SQSClient;
  readonly fifo: boolean;
  private readonly concurrency: number;
  private readonly maxAttempts: number;
  private readonly retryBaseDelayMs: number;

  constructor(options: SqsQueueOptions) {
    this.queueUrl = options.queueUrl;
    this.client = options.client ?? new SQSClient(sqsClientConfig());
    this.fifo = options.queueUrl.endsWith('.fifo');
    this.concurrency = Math.max(options.concurrency ?? 4, 1);
    this.maxAttempts = Math.max(options.maxAttempts ?? 3, 1);
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 100;
  }

  async sendBatch(messages: QueueMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const failed: FailedEntry[] = [];
    const errors: unknown[] = [];
    const tasks: Array<() => Promise<void>> = [];
    if (this.fifo) {
      // The chunks of one mailbox go one after another, or concurrent requests
      // would interleave them and break the per-group order.
      for (const lane of groupBy(messages, groupId)) {
        const chunks = chunk(lane.map((m) => this.outgoing(m)));
        tasks.push(async () => {
          for (const batch of chunks) await this.sendChunk(batch, failed, errors);
        });
      }
    } else {
      for (const batch of chunk(messages.map((m) => this.outgoing(m)))) {
        tasks.push(() => this.sendChunk(batch, failed, errors));
      }
    }
    await forEachLimited(tasks, this.concurrency, (task) => task());
    if (failed.length > 0) {
      const codes = [...new Set(failed.map((f) => f.code).filter((c): c is string => c !== undefined))];
      throw new QueueSendError(
        `${failed.length} of ${messages.length} messages were not accepted by the queue` +
          (codes.length > 0 ? ` (${codes.join(', ')})` : ''),
        {
          cause: errors[0],
          context: {
            failed: failed.length,
            total: messages.length,
            codes,
            // A sample is enough to find them; a full list could be thousands of entries.
            messages: failed.slice(0, 20).map((f) => f.ref),
          },
        },
      );
    }
  }

  /** Sends one chunk (≤ 10 entries, ≤ 256 KiB), retrying the entries SQS lists as failed. */
  private async sendChunk(batch: Outgoing[], failed: FailedEntry[], errors: unknown[]): Promise<void> {
    let pending = batch.map((item, index) => ({ id: String(index), item }));
    let failures = new Map<string, BatchResultErrorEntry>();
    for (let attempt = 1; attempt <= this.maxAttempts && pending.length > 0; attempt++) {
      if (attempt > 1) await sleep(backoff(this.retryBaseDelayMs, attempt - 1));
      let result: { Failed?: BatchResultErrorEntry[] };
      try {
        result = await this.client.send(
          new SendMessageBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: pending.map(({ id, item }) => ({ ...item.entry, Id: id })),
          }),
        );
      } catch (error) {
        // The SDK has already retried throttling and network errors: the whole request failed.
        errors.push(error);
        failures = new Map(
          pending.map(({ id }) => [id, { Id: id, Code: errorName(error), SenderFault: false }]),
        );
        break;
      }
      failures = new Map((result.Failed ?? []).map((f) => [f.Id ?? '', f]));
      const stillFailing = pending.filter(({ id }) => failures.has(id));
      // A sender fault (invalid attribute, too large) fails the same way every time: not worth retrying.
      for (const { id, item } of stillFailing) {
        const failure = failures.get(id)!;
        if (failure.SenderFault) failed.push({ ref: item.ref, code: failure.Code });
      }
      pending = stillFailing.filter(({ id }) => !failures.get(id)!.SenderFault);
    }
    for (const { id, item } of pending) failed.push({ ref: item.ref, code: failures.get(id)?.Code });
  }

  private outgoing(message: QueueMessage): Outgoing {
    const body = JSON.stringify(message);
    const entry: Outgoing['entry'] = { MessageBody: body };
    if (this.fifo) {
      entry.MessageDeduplicationId = deduplicationId(message);
      entry.MessageGroupId = groupId(message);
    }
    return {
      ref: `${message.account}/${message.mailbox}/${message.uidValidity}/${message.uid}`,
      entry,
      bytes: Buffer.byteLength(body),
    };
  }
}

/**
 * The FIFO deduplication id: the same message on the server always maps to the
 * same id. Hashed because SQS allows 128 characters from a limited set, and
 * account or mailbox names may be longer or use others.
 */
export function deduplicationId(
  message: Pick<QueueMessage, 'account' | 'mailbox' | 'uidValidity' | 'uid'>,
): string {
  return sha256(`${message.account}\0${message.mailbox}\0${message.uidValidity}\0${message.uid}`);
}

/** The FIFO group id: one group per mailbox, so order is kept per mailbox and mailboxes proceed in parallel. */
export function groupId(message: Pick<QueueMessage, 'account' | 'mailbox'>): string {
  return sha256(`${message.account}\0${message.mailbox}`);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Splits into SendMessageBatch-sized chunks: ≤ 10 entries and ≤ 256 KiB of bodies each. */
function chunk(items: Outgoing[]): Outgoing[][] {
  const chunks: Outgoing[][] = [];
  let current: Outgoing[] = [];
  let bytes = 0;
  for (const item of items) {
    if (current.length > 0 && (current.length === MAX_ENTRIES || bytes + item.bytes > MAX_BATCH_BYTES)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function groupBy<T>(items: T[], keyOf: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return [...groups.values()];
}

function backoff(baseMs: number, retry: number): number {
  const ceiling = baseMs * 2 ** (retry - 1);
  // "Equal jitter": at least half the ceiling, so retries never bunch up at zero.
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'Error';
}
