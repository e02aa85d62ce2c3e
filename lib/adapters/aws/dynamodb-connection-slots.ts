/**
 * Connection slots in the state table: item `pk=slots#<key>`, `sk=slot#<n>`
 * for n in 0..limit-1, with holder S, expiresAt N (epoch ms) and ttl N. A
 * slot is taken by one conditional put (free or expired), so however many
 * Lambdas race, each numbered slot has one holder and at most `limit` hold
 * one. One strongly consistent Query of the key's items first says which
 * slots look free, and whether any are (slots numbered past a lowered limit
 * count until they end). A waiter's "wanted" marker is one more item of the
 * key (`sk=wanted`, expiresAt N).
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ConnectionSlots } from '../../ports.ts';
import { type HoldItem, releaseHold, renewHold, takeHold } from './dynamodb-expiring-hold.ts';
import {
  type DynamoStoreOptions,
  documentClient,
  escapeKey,
  keyPart,
  ttlAttribute,
} from './dynamodb-table.ts';

const NAMES = { '#e': 'expiresAt' } as const;

/** `ConnectionSlots` over DynamoDB. */
export class DynamoConnectionSlots implements ConnectionSlots {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #clock: () => number;

  constructor(options: DynamoStoreOptions) {
    this.#client = documentClient(options.client);
    this.#table = options.tableName;
    this.#clock = options.clock ?? Date.now;
  }

  async tryAcquire(key: string, limit: number, holder: string, ttlMs: number): Promise<number | undefined> {
    const taken = await this.#liveSlots(key);
    if (taken.size >= limit) return undefined;
    // From a random place, so that racing holders mostly try different slots.
    const start = Math.floor(Math.random() * limit);
    for (let i = 0; i < limit; i++) {
      const slot = (start + i) % limit;
      if (taken.has(slot)) continue;
      if (await takeHold(this.#hold(key, slot), holder, this.#clock(), ttlMs)) return slot;
      // Taken meanwhile by another holder: try the next one.
    }
    return undefined;
  }

  async renew(key: string, slot: number, holder: string, ttlMs: number): Promise<boolean> {
    return renewHold(this.#hold(key, slot), holder, this.#clock(), ttlMs);
  }

  async release(key: string, slot: number, holder: string): Promise<void> {
    await releaseHold(this.#hold(key, slot), holder);
  }

  async want(key: string, untilMs: number): Promise<void> {
    await this.#client.send(
      new PutCommand({
        TableName: this.#table,
        Item: { pk: partitionKey(key), sk: 'wanted', expiresAt: untilMs, ttl: ttlAttribute(untilMs) },
      }),
    );
  }

  async wanted(key: string): Promise<boolean> {
    const { Item } = await this.#client.send(
      new GetCommand({
        TableName: this.#table,
        Key: { pk: partitionKey(key), sk: 'wanted' },
        ProjectionExpression: '#e',
        ExpressionAttributeNames: { '#e': NAMES['#e'] },
      }),
    );
    return typeof Item?.expiresAt === 'number' && Item.expiresAt >= this.#clock();
  }

  async held(key: string): Promise<number> {
    return (await this.#liveSlots(key)).size;
  }

  #hold(key: string, slot: number): HoldItem {
    return { client: this.#client, table: this.#table, key: itemKey(key, slot), holderAttribute: 'holder' };
  }

  async #liveSlots(key: string): Promise<Set<number>> {
    const now = this.#clock();
    const live = new Set<number>();
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.#client.send(
        new QueryCommand({
          TableName: this.#table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': partitionKey(key) },
          ProjectionExpression: 'sk, #e',
          ExpressionAttributeNames: { '#e': NAMES['#e'] },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const sk = String(item.sk);
        const slot = sk.startsWith('slot#') ? Number(sk.slice(5)) : Number.NaN;
        if (Number.isInteger(slot) && typeof item.expiresAt === 'number' && item.expiresAt >= now)
          live.add(slot);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return live;
  }
}

function partitionKey(key: string): string {
  return keyPart(`slots#${escapeKey(key)}`, 2000);
}

function itemKey(key: string, slot: number): { pk: string; sk: string } {
  return { pk: partitionKey(key), sk: `slot#${slot}` };
}
