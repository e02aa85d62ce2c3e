/**
 * Draining a queue this process receives from itself, batch by batch, until
 * nothing visible is left: the local driver behind `postroom process`,
 * `postroom run` and the demo. (In AWS, Lambda's SQS event source receives and
 * the process function reports failures per message.)
 *
 * Written against the ports only.
 */
import { isPostroomError } from '../errors.ts';
import type { QueueConsumer } from '../ports.ts';
import {
  type BatchItem,
  failureReports,
  type ProcessDependencies,
  type ProcessResult,
  processBatch,
} from './process.ts';

export interface DrainDependencies extends ProcessDependencies {
  consumer: QueueConsumer;
}

export interface DrainOptions {
  /**
   * Messages per batch: the most one receive takes. Each batch is one command
   * per (mailbox, action, target) and one commit of its records and of its acks.
   * @default 500 (config `process.batchMessages`)
   */
  batchSize?: number;
  /** Stops between batches when aborted: the batch in flight is finished and acked. */
  signal?: AbortSignal;
  /** Called with every batch's result, for progress output and reports. */
  onBatch?(result: ProcessResult): void;
  /** Called for each failed message the queue gave up on when the run released it. */
  onDeadLetter?(notice: DeadLetterNotice): void;
  /**
   * How long received messages stay hidden: long enough for a batch of IMAP
   * actions and webhooks; a crashed run's messages reappear after it.
   * @default 300000
   */
  visibilityTimeoutMs?: number;
}

export interface DrainResult {
  processed: number;
  failed: number;
  /** Done, but no longer on the server (`ProcessResult.gone`). */
  gone: number;
  /** Completed actions by kind, over every batch. */
  actions: Record<string, number>;
  /** Failed messages that went to the dead letters when released (counted in `failed` too). */
  deadLettered: number;
  deadLetters: DeadLetterNotice[];
}

/** A message this run's release moved to the dead letters, and why. */
export interface DeadLetterNotice {
  account: string;
  mailbox: string;
  uid: number;
  reason: string;
}

/** Messages per batch when the caller gives none (the config's `process.batchMessages` default). */
export const DEFAULT_BATCH_MESSAGES = 500;

/** Receives, processes, acks or releases until the queue has nothing visible. */
export async function drainQueue(deps: DrainDependencies, options: DrainOptions = {}): Promise<DrainResult> {
  const { consumer } = deps;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_MESSAGES;
  const visibilityMs = options.visibilityTimeoutMs ?? 5 * 60_000;
  const total: DrainResult = {
    processed: 0,
    failed: 0,
    gone: 0,
    actions: {},
    deadLettered: 0,
    deadLetters: [],
  };
  // Failed messages are released only when the run ends: released at once, they
  // would be received again in this run, and every receive counts toward
  // maxReceives, so one real attempt could dead-letter them with a reason that
  // is not theirs. Meanwhile the visibility timeout keeps them hidden.
  const failed: (DeadLetterNotice & { receipt: string })[] = [];
  try {
    while (!options.signal?.aborted) {
      const received = await consumer.receive(batchSize, visibilityMs);
      if (received.length === 0) break;
      const items: BatchItem[] = received.map((r) => ({
        id: r.receipt,
        message: r.body,
        receiveCount: r.receiveCount,
      }));
      const result = await processBatch(deps, items);
      const done: string[] = [];
      for (const item of result.items) {
        if (item.status === 'done') done.push(item.id);
        else
          failed.push({
            receipt: item.id,
            account: item.account,
            mailbox: item.mailbox,
            uid: item.uid,
            reason: failureReports([item])
              .map((f) => f.reason)
              .join('; '),
          });
      }
      if (consumer.ackAll) await consumer.ackAll(done);
      else for (const receipt of done) await consumer.ack(receipt);
      total.processed += result.processed;
      total.failed += result.failed;
      total.gone += result.gone;
      for (const [kind, n] of Object.entries(result.actions))
        total.actions[kind] = (total.actions[kind] ?? 0) + n;
      options.onBatch?.(result);
    }
  } finally {
    for (const { receipt, ...notice } of failed) {
      // A run longer than the visibility timeout lost the receipt: the message is visible again anyway.
      const outcome = await consumer.release(receipt, notice.reason).catch((error: unknown) => {
        if (!(isPostroomError(error) && error.code === 'QUEUE_RECEIPT_STALE')) throw error;
      });
      if (outcome === 'dead-lettered') {
        total.deadLettered += 1;
        total.deadLetters.push(notice);
        options.onDeadLetter?.(notice);
      }
    }
  }
  return total;
}
