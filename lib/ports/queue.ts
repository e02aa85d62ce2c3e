/**
 * The ingest queue's ports: the queue message contract, the sending and
 * receiving sides, and the dead letters and depth that `postroom` reports.
 */
import type * as z from 'zod';
import type { queueMessageSchema } from '../core/queue-message.ts';

/**
 * The queue message contract (DESIGN.md, "Queue message"), as its zod schema
 * in `core/queue-message.ts` validates it: the schema is the one source, these
 * types are read from it. The raw message never travels in the queue: `blob`
 * points at it. (A type import: nothing here builds the schema.)
 */
export type QueueMessage = z.infer<typeof queueMessageSchema>;

/** The envelope fields carried in every queue message. */
export type Envelope = QueueMessage['envelope'];

/** A mailbox address as it travels in queue messages and events. */
export type Address = Envelope['from'][number];

/** Where a raw message (or an exported attachment) is stored. */
export type BlobLocation = QueueMessage['blob'];

/** Identifies one message on one server for its lifetime (until UIDVALIDITY changes). */
export interface MessageRef {
  account: string;
  mailbox: string;
  uidValidity: number;
  uid: number;
}

/** The sending side of the ingest queue (what pollers need). */
export interface Queue {
  /**
   * Sends every message or throws: a partial failure is an error naming the
   * messages that were not accepted, so the caller does not move its checkpoint.
   * Re-sending the same message is harmless (deduplication id / primary key).
   */
  sendBatch(messages: QueueMessage[]): Promise<void>;
}

/** A message received from a queue that the consumer must ack or release. */
export interface ReceivedMessage {
  /** Opaque handle for `ack`/`release`. */
  receipt: string;
  body: QueueMessage;
  /** How many times this message has been received, this time included. */
  receiveCount: number;
}

/** The receiving side, for the local driver (in AWS, Lambda's event source does this). */
export interface QueueConsumer {
  /** Receives up to `max` visible messages and hides them for `visibilityTimeoutMs`. */
  receive(max: number, visibilityTimeoutMs?: number): Promise<ReceivedMessage[]>;
  /** Deletes a processed message. */
  ack(receipt: string): Promise<void>;
  /**
   * `ack` for many in one write (locally one commit). The ones it can delete
   * are deleted even when another receipt is stale, which it then throws for.
   * Optional: without it callers ack one by one.
   */
  ackAll?(receipts: readonly string[]): Promise<void>;
  /**
   * Makes a failed message visible again, or moves it to the dead-letter store
   * with `reason` once it has been received `maxReceives` times. Says which
   * it did where the queue can tell (undefined: it cannot, counts as released).
   */
  release(receipt: string, reason: string): Promise<ReleaseOutcome | undefined>;
}

/** What {@link QueueConsumer.release} did with a failed message. */
export type ReleaseOutcome = 'released' | 'dead-lettered';

/** The local queue's receiving side, with the counts `postroom` reports. */
export type LocalQueueConsumer = QueueConsumer & {
  stats(): { queued: number; inFlight: number; deadLetter: number };
};

/** One message in a dead-letter store, as `postroom dead-letters` shows it. */
export interface DeadLetterEntry {
  /** The store's id: the local row id, or the SQS message id. */
  id: string;
  /** The queue message, when its body could be read. */
  body?: QueueMessage;
  /** Why it was given up on, where the store records it (SQS does not). */
  reason?: string;
  /** Receives before it was given up on. */
  receiveCount: number;
  /** When it was dead-lettered (locally) or first sent (SQS), ISO 8601. */
  failedAt?: string;
}

/** Where retried and dropped dead letters went. */
export interface DeadLetterMoves {
  /** Ids done. */
  done: string[];
  /** Ids asked for that are not (or no longer) in the store. */
  missing: string[];
}

/** The dead letters of the ingest queue: the local table, or the SQS dead-letter queue. */
export interface DeadLetterStore {
  /** Up to `limit` dead letters, oldest first where the store can tell. */
  list(limit: number): Promise<DeadLetterEntry[]>;
  get(id: string): Promise<DeadLetterEntry | undefined>;
  /** Moves them back to the main queue with a fresh receive count (every one when `ids` is omitted). */
  retry(ids?: string[]): Promise<DeadLetterMoves>;
  /** Deletes them for good. */
  drop(ids: string[]): Promise<DeadLetterMoves>;
}

/** Queue depth for `postroom status`. */
export interface QueueDepth {
  /** Waiting to be received. */
  queued: number;
  /** Received and not yet acked or released. */
  inFlight: number;
  deadLetters: number;
  /** Per `account\0mailbox`, where the queue can count by mailbox (the local one). */
  byMailbox?: Map<string, { queued: number; inFlight: number; deadLetters: number }>;
  /** What the figures are and where they came from, when it needs saying (SQS: approximate). */
  note?: string;
}

/** Reads the queue's depth (`postroom status`). */
export interface QueueInspector {
  depth(): Promise<QueueDepth>;
}
