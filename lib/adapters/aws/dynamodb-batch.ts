/**
 * BatchWriteItem as the state stores use it: 25 puts per call (the service
 * limit), several calls in flight, and what DynamoDB leaves unprocessed
 * (throttling, partition limits) sent again with backoff until it is written
 * or the rounds run out.
 */
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { forEachLimited } from '../../work-pool.ts';
import { chunk, sleep } from './dynamodb-table.ts';

/** Service limit per BatchWriteItem request (DynamoDB API reference). */
export const WRITE_BATCH = 25;

export type PutRequests = NonNullable<BatchWriteCommandInput['RequestItems']>[string];

export interface BatchWriteOptions {
  /** Requests in flight at once. */
  concurrency: number;
  /** Rounds of retrying unprocessed items before giving up. */
  maxRetries: number;
}

/**
 * Writes every item, or throws `incomplete(left)` once the rounds run out with
 * `left` items still unprocessed. Items must have distinct keys: BatchWriteItem
 * rejects a request naming one key twice.
 */
export async function putAll(
  client: DynamoDBDocumentClient,
  table: string,
  items: Record<string, unknown>[],
  options: BatchWriteOptions,
  incomplete: (left: number) => Error,
): Promise<void> {
  await forEachLimited(chunk(items, WRITE_BATCH), options.concurrency, async (batch) => {
    let requests: PutRequests = batch.map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 0; ; attempt++) {
      const { UnprocessedItems } = await client.send(
        new BatchWriteCommand({ RequestItems: { [table]: requests } }),
      );
      requests = UnprocessedItems?.[table] ?? [];
      if (requests.length === 0) return;
      if (attempt >= options.maxRetries) throw incomplete(requests.length);
      await sleep(batchBackoff(attempt));
    }
  });
}

/** Exponential backoff with full jitter, as AWS recommends for unprocessed batch items. */
export function batchBackoff(attempt: number): number {
  return Math.random() * Math.min(2_000, 50 * 2 ** attempt);
}
