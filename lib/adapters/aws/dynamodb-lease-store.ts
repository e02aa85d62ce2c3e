/**
 * Leases in the state table. Every transition is one conditional write, so two
 * pollers racing for the same mailbox get exactly one winner. Expiry is the
 * wall-clock time stored in the item (`expiresAt`, epoch ms): pollers in
 * different Lambdas share no other clock.
 */
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { LeaseHolder, LeaseStore } from '../../ports.ts';
import { type HoldItem, releaseHold, renewHold, takeHold } from './dynamodb-expiring-hold.ts';
import { type DynamoStoreOptions, documentClient, escapeKey, keyPart } from './dynamodb-table.ts';

const SK = 'lease';
// OWNER and TTL are DynamoDB reserved words: always go through attribute names.
const NAMES = { '#o': 'owner', '#e': 'expiresAt' } as const;

/** `LeaseStore` over DynamoDB (item `pk=lease#<name>`, `sk=lease`). */
export class DynamoLeaseStore implements LeaseStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #clock: () => number;

  constructor(options: DynamoStoreOptions) {
    this.#client = documentClient(options.client);
    this.#table = options.tableName;
    this.#clock = options.clock ?? Date.now;
  }

  async acquire(name: string, owner: string, ttlMs: number): Promise<boolean> {
    // Re-entrant: acquiring a lease already ours extends it.
    return takeHold(this.#hold(name), owner, this.#clock(), ttlMs, true);
  }

  async renew(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return renewHold(this.#hold(name), owner, this.#clock(), ttlMs);
  }

  async release(name: string, owner: string): Promise<void> {
    await releaseHold(this.#hold(name), owner);
  }

  #hold(name: string): HoldItem {
    return { client: this.#client, table: this.#table, key: key(name), holderAttribute: NAMES['#o'] };
  }

  async holder(name: string): Promise<LeaseHolder | undefined> {
    const { Item } = await this.#client.send(
      new GetCommand({
        TableName: this.#table,
        Key: key(name),
        // Just lost a conditional write to this item: read what won, not a stale copy.
        ConsistentRead: true,
        ProjectionExpression: '#o, #e',
        ExpressionAttributeNames: { '#o': NAMES['#o'], '#e': NAMES['#e'] },
      }),
    );
    const owner = Item?.[NAMES['#o']];
    const expiresAt = Item?.[NAMES['#e']];
    if (typeof owner !== 'string' || typeof expiresAt !== 'number' || expiresAt < this.#clock())
      return undefined;
    return { owner, expiresAt };
  }
}

function key(name: string): { pk: string; sk: string } {
  return { pk: keyPart(`lease#${escapeKey(name)}`, 2000), sk: SK };
}
