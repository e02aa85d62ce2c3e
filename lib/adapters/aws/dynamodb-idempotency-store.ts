/**
 * Completed effects in the state table, one item per key. Records may carry an
 * expiry; DynamoDB's TTL removes them eventually, and reads treat an expired
 * record as absent in the meantime. A batch's records go up together
 * (BatchWriteItem) and its look-ups too (BatchGetItem).
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { PostroomError } from '../../errors.ts';
import type { IdempotencyStore } from '../../ports.ts';
import { getAll, putAll } from './dynamodb-batch.ts';
import {
  type DynamoStoreOptions,
  documentClient,
  escapeKey,
  keyPart,
  ttlAttribute,
} from './dynamodb-table.ts';

const SK = 'idem';

/** Tuning for `DynamoIdempotencyStore`. */
export interface DynamoIdempotencyStoreOptions extends DynamoStoreOptions {
  /** Expiry for `markDone` calls that give none. @default undefined (kept until deleted) */
  defaultTtlSeconds?: number;
  /** Batch requests in flight at once. @default 4 */
  concurrency?: number;
  /** Rounds of retrying what DynamoDB left unprocessed before giving up (retryable). @default 8 */
  maxRetries?: number;
}

/** `IdempotencyStore` over DynamoDB (item `pk=idem#<key>`, `sk=idem`). */
export class DynamoIdempotencyStore implements IdempotencyStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #clock: () => number;
  readonly #defaultTtlSeconds: number | undefined;
  readonly #concurrency: number;
  readonly #maxRetries: number;

  constructor(options: DynamoIdempotencyStoreOptions) {
    this.#client = documentClient(options.client);
    this.#table = options.tableName;
    this.#clock = options.clock ?? Date.now;
    this.#defaultTtlSeconds = options.defaultTtlSeconds;
    this.#concurrency = options.concurrency ?? 4;
    this.#maxRetries = options.maxRetries ?? 8;
  }

  async isDone(key: string): Promise<boolean> {
    const { Item } = await this.#client.send(
      new GetCommand({
        TableName: this.#table,
        Key: itemKey(key),
        ConsistentRead: true,
        ProjectionExpression: 'expiresAt',
      }),
    );
    return Item !== undefined && this.#live(Item);
  }

  async doneAmong(keys: readonly string[]): Promise<Set<string>> {
    // Keys over the size limit are hashed (keyPart): map each pk back to the keys it stands for.
    const byPk = new Map<string, string[]>();
    for (const key of keys) {
      const { pk } = itemKey(key);
      const list = byPk.get(pk);
      if (list) list.push(key);
      else byPk.set(pk, [key]);
    }
    const done = new Set<string>();
    await getAll(
      this.#client,
      this.#table,
      [...byPk.keys()].map((pk) => ({ pk, sk: SK })),
      'pk, expiresAt',
      { concurrency: this.#concurrency, maxRetries: this.#maxRetries },
      (left) => incomplete('look up', left),
      (item) => {
        if (this.#live(item)) for (const key of byPk.get(String(item.pk)) ?? []) done.add(key);
      },
    );
    return done;
  }

  async markDone(key: string, ttlSeconds?: number): Promise<void> {
    await this.#client.send(new PutCommand({ TableName: this.#table, Item: this.#record(key, ttlSeconds) }));
  }

  async markAllDone(keys: readonly string[], ttlSeconds?: number): Promise<void> {
    // BatchWriteItem rejects a request naming one key twice.
    const items = new Map<string, Record<string, unknown>>();
    for (const key of keys) {
      const item = this.#record(key, ttlSeconds);
      items.set(String(item.pk), item);
    }
    await putAll(
      this.#client,
      this.#table,
      [...items.values()],
      { concurrency: this.#concurrency, maxRetries: this.#maxRetries },
      (left) => incomplete('record', left),
    );
  }

  /** The item for a done key. A put replaces the whole item, so marking again also replaces (or drops) its expiry. */
  #record(key: string, ttlSeconds: number | undefined): Record<string, unknown> {
    const now = this.#clock();
    const ttl = ttlSeconds ?? this.#defaultTtlSeconds;
    if (ttl !== undefined && !(ttl > 0)) throw new RangeError(`ttlSeconds must be positive, got ${ttl}`);
    const item: Record<string, unknown> = { ...itemKey(key), doneAt: new Date(now).toISOString() };
    if (ttl !== undefined) {
      const expiresAt = now + ttl * 1000;
      item.expiresAt = expiresAt;
      item.ttl = ttlAttribute(expiresAt);
    }
    return item;
  }

  #live(item: Record<string, unknown>): boolean {
    return typeof item.expiresAt !== 'number' || item.expiresAt > this.#clock();
  }
}

function itemKey(key: string): { pk: string; sk: string } {
  return { pk: keyPart(`idem#${escapeKey(key)}`, 2000), sk: SK };
}

function incomplete(action: string, left: number): PostroomError {
  return new PostroomError(
    'STATE_STORE_INCOMPLETE',
    `could not ${action} ${left} idempotency records: DynamoDB kept them unprocessed`,
    { retryable: true, context: { left } },
  );
}
