/**
 * BatchWriteItem and BatchGetItem as the state stores use them: 25 puts or
 * 100 gets per call (the service limits), several calls in flight, and what
 * DynamoDB leaves unprocessed (throttling, partition limits) sent again with
 * backoff until it is done or the rounds run out.
 */
import {
  BatchGetCommand,
  type BatchGetCommandInput,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { forEachLimited } from '../../work-pool.ts';
import { chunk, sleep } from './dynamodb-table.ts';

/** Service limits per BatchWriteItem / BatchGetItem request (DynamoDB API reference). */
export const WRITE_BATCH = 25;
const GET_BATCH = 100;

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

/**
 * Reads the items with these keys (strongly consistent, `projection` only),
 * handing each found item to `onItem`; throws `incomplete(left)` once the
 * rounds run out with `left` keys still unprocessed.
 */
export async function getAll(
  client: DynamoDBDocumentClient,
  table: string,
  keys: Record<string, unknown>[],
  projection: string,
  options: BatchWriteOptions,
  incomplete: (left: number) => Error,
  onItem: (item: Record<string, unknown>) => void,
): Promise<void> {
  await forEachLimited(chunk(keys, GET_BATCH), options.concurrency, async (batch) => {
    let request: NonNullable<BatchGetCommandInput['RequestItems']>[string] | undefined = {
      Keys: batch,
      ConsistentRead: true,
      ProjectionExpression: projection,
    };
    for (let attempt = 0; ; attempt++) {
      const { Responses, UnprocessedKeys }: BatchGetCommandOutput = await client.send(
        new BatchGetCommand({ RequestItems: { [table]: request } }),
      );
      for (const item of Responses?.[table] ?? []) onItem(item);
      request = UnprocessedKeys?.[table];
      if (!request?.Keys?.length) return;
      if (attempt >= options.maxRetries) throw incomplete(request.Keys.length);
      await sleep(batchBackoff(attempt));
    }
  });
}

/** Exponential backoff with full jitter, as AWS recommends for unprocessed batch items. */
function batchBackoff(attempt: number): number {
  return Math.random() * Math.min(2_000, 50 * 2 ** attempt);
}
