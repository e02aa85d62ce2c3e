/**
 * Completed effects in the state table, one item per key. Records may carry an
 * expiry; DynamoDB's TTL removes them eventually, and reads treat an expired
 * record as absent in the meantime.
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { IdempotencyStore } from '../../ports.ts';
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
}

/** `IdempotencyStore` over DynamoDB (item `pk=idem#<key>`, `sk=idem`). */
export class DynamoIdempotencyStore implements IdempotencyStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #clock: () => number;
  readonly #defaultTtlSeconds: number | undefined;

  constructor(options: DynamoIdempotencyStoreOptions) {
    this.#client = documentClient(options.client);
    this.#table = options.tableName;
    this.#clock = options.clock ?? Date.now;
    this.#defaultTtlSeconds = options.defaultTtlSeconds;
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
    if (!Item) return false;
    return typeof Item.expiresAt !== 'number' || Item.expiresAt > this.#clock();
  }

  async markDone(key: string, ttlSeconds?: number): Promise<void> {
    const now = this.#clock();
    const ttl = ttlSeconds ?? this.#defaultTtlSeconds;
    if (ttl !== undefined && !(ttl > 0)) throw new RangeError(`ttlSeconds must be positive, got ${ttl}`);
    // PutItem replaces the whole item, so marking a key again also replaces (or drops) its earlier expiry.
    const item: Record<string, unknown> = { ...itemKey(key), doneAt: new Date(now).toISOString() };
    if (ttl !== undefined) {
      const expiresAt = now + ttl * 1000;
      item.expiresAt = expiresAt;
      item.ttl = ttlAttribute(expiresAt);
    }
    await this.#client.send(
      new PutCommand({
        TableName: this.#table,
        Item: item,
      }),
    );
  }
}

function itemKey(key: string): { pk: string; sk: string } {
  return { pk: keyPart(`idem#${escapeKey(key)}`, 2000), sk: SK };
}
