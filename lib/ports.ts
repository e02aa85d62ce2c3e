/**
 * The ports: what the use cases in `lib/core/` need from the outside world,
 * shaped around those needs rather than around any SDK. Each port has an AWS
 * adapter (`lib/adapters/aws/`) and a local one (`lib/adapters/local/`), and
 * one contract suite in `test/` runs over both.
 */
import type { StoreConfig } from './config/schema.ts';
import type { BlobStore } from './ports/blobs.ts';
import type { EventSink } from './ports/events.ts';
import type { RefreshTokenStore } from './ports/oauth.ts';
import type { DeadLetterStore, LocalQueueConsumer, Queue, QueueInspector } from './ports/queue.ts';
import type {
  CheckpointStore,
  ConnectionSlots,
  DeliveryLog,
  IdempotencyStore,
  LeaseStore,
} from './ports/state.ts';

export * from './ports/blobs.ts';
export * from './ports/events.ts';
export * from './ports/logger.ts';
export * from './ports/mail-server.ts';
export * from './ports/oauth.ts';
export * from './ports/queue.ts';
export * from './ports/state.ts';

/** One set of stores, AWS or local, as the composition root binds them (`lib/composition/`). */
export interface Stores {
  kind: StoreConfig['kind'];
  blobs: BlobStore;
  queue: Queue;
  /** Only for the local queue: in AWS, Lambda's SQS event source receives. */
  consumer?: LocalQueueConsumer;
  checkpoints: CheckpointStore;
  leases: LeaseStore;
  /** The connection budget's slots. @default no budget across processes (only this process's own) */
  slots?: ConnectionSlots;
  deliveries: DeliveryLog;
  idempotency: IdempotencyStore;
  events: EventSink;
  /** Local only: where `emit` writes (`<store dir>/events.jsonl`). */
  eventsFile?: string;
  /** Where rotated OAuth2 refresh tokens are kept. @default kept in memory only */
  refreshTokens?: RefreshTokenStore;
  /** The queue's dead letters (`postroom dead-letters`). */
  deadLetters?: DeadLetterStore;
  /** The queue's depth (`postroom status`). */
  queueInspector?: QueueInspector;
}
