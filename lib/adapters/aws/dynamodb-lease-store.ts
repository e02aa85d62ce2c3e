/**
 * Leases in the state table. Every transition is one conditional write, so two
 * pollers racing for the same mailbox get exactly one winner. Expiry is the
 * wall-clock time stored in the item (`expiresAt`, epoch ms): pollers in
 * different Lambdas share no other clock.
 */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { LeaseHolder, LeaseStore } from '../../ports.ts';
import {
  type DynamoStoreOptions,
  documentClient,
  escapeKey,
  isConditionalCheckFailed,
  keyPart,
  ttlAttribute,
} from './dynamodb-table.ts';

const SK = 'lease';
// OWNER and TTL are DynamoDB reserved words: always go through attribute names.
const NAMES = { '#o': 'owner', '#e': 'expiresAt', '#t': 'ttl' } as const;

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
    const now = this.#clock();
    const expiresAt = now + ttlMs;
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#table,
          Item: { ...key(name), owner, expiresAt, ttl: ttlAttribute(expiresAt) },
          // Free, expired, or already ours (re-entrant: acquiring again extends it).
          ConditionExpression: 'attribute_not_exists(pk) OR #e < :now OR #o = :owner',
          ExpressionAttributeNames: { '#o': NAMES['#o'], '#e': NAMES['#e'] },
          ExpressionAttributeValues: { ':now': now, ':owner': owner },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async renew(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = this.#clock();
    const expiresAt = now + ttlMs;
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: key(name),
          UpdateExpression: 'SET #e = :expiresAt, #t = :ttl',
          // An expired lease is lost even if nobody took it yet: its holder must stop, not carry on.
          ConditionExpression: '#o = :owner AND #e >= :now',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: {
            ':owner': owner,
            ':now': now,
            ':expiresAt': expiresAt,
            ':ttl': ttlAttribute(expiresAt),
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async release(name: string, owner: string): Promise<void> {
    try {
      await this.#client.send(
        new DeleteCommand({
          TableName: this.#table,
          Key: key(name),
          ConditionExpression: '#o = :owner',
          ExpressionAttributeNames: { '#o': NAMES['#o'] },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (error) {
      // Not ours (or already gone): releasing someone else's lease must do nothing.
      if (!isConditionalCheckFailed(error)) throw error;
    }
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
