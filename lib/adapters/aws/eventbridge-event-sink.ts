/**
 * `emit` in AWS: EventBridge PutEvents, ten entries per call (the API's limit),
 * failed entries retried, and an error if any is still refused, so the
 * consumer leaves the message queued instead of losing the event.
 */
import { EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { PostroomError } from '../../errors.ts';
import type { EventSink, PostroomEvent } from '../../ports.ts';
import { awsClientConfig } from './clients.ts';

export interface EventBridgeSinkOptions {
  eventBusName: string;
  client?: EventBridgeClient;
  /** @default 3 */
  attempts?: number;
}

export class EventBridgeEventSink implements EventSink {
  readonly #client: EventBridgeClient;
  readonly #bus: string;
  readonly #attempts: number;

  constructor(options: EventBridgeSinkOptions) {
    this.#client = options.client ?? new EventBridgeClient(awsClientConfig());
    this.#bus = options.eventBusName;
    this.#attempts = options.attempts ?? 3;
  }

  async emit(events: PostroomEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += 10) {
      let entries: PutEventsRequestEntry[] = events.slice(i, i + 10).map((event) => ({
        EventBusName: this.#bus,
        Source: event.source,
        DetailType: event['detail-type'],
        Detail: JSON.stringify(event.detail),
      }));
      for (let attempt = 1; entries.length > 0; attempt++) {
        const response = await this.#client.send(new PutEventsCommand({ Entries: entries }));
        if (!response.FailedEntryCount) break;
        const failed = entries.filter((_, index) => response.Entries?.[index]?.ErrorCode);
        if (attempt >= this.#attempts) {
          const codes = [
            ...new Set(response.Entries?.flatMap((e) => (e.ErrorCode ? [e.ErrorCode] : []))),
          ].join(', ');
          throw new PostroomError(
            'EVENTS_FAILED',
            `EventBridge refused ${failed.length} event(s): ${codes}`,
            {
              retryable: true,
            },
          );
        }
        entries = failed;
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }
}
