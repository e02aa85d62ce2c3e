/**
 * Outward ports: events for `emit` actions and signed webhook deliveries.
 */
/** An event for `emit` actions (DESIGN.md, "Event"). */
export interface PostroomEvent {
  source: 'postroom';
  'detail-type': string;
  detail: Record<string, unknown>;
}

/** An event and the idempotency key of the (message, rule, action) that emits it. */
export interface RecordedEvent {
  key: string;
  event: PostroomEvent;
}

export interface EventSink {
  emit(events: PostroomEvent[]): Promise<void>;
  /**
   * Emits the events and marks each key done in the IdempotencyStore in one
   * commit, so that no crash doubles or drops an event (exactly once). Only a
   * sink that shares a transaction with the store has it (locally: an outbox
   * table in the same SQLite database). Without it, the consumer emits and
   * then marks each key done: at least once, each event with its stable `id`.
   */
  emitRecorded?(events: RecordedEvent[], ttlSeconds?: number): Promise<void>;
}

/** One signed webhook delivery (the `webhook` action). */
export interface WebhookRequest {
  url: string;
  secret: string;
  body: unknown;
  /** Stable for one (message, rule, action): the same on every retry and redelivery. */
  deliveryId: string;
  /** @default 10000 */
  timeoutMs?: number;
  /** Retries after the first attempt. @default 3 */
  retries?: number;
}

export interface WebhookResult {
  status: number;
  attempts: number;
}

/** Delivers a webhook or throws once its retries are spent (`lib/adapters/webhook-sender.ts`). */
export type WebhookSender = (request: WebhookRequest) => Promise<WebhookResult>;
