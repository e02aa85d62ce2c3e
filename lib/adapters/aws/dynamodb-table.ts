/**
 * The one DynamoDB table behind every AWS state store, and what the stores share.
 *
 * The schema is a contract with the CDK construct: partition key `pk` (S), sort
 * key `sk` (S), TTL attribute `ttl` (epoch seconds), on-demand billing.
 *
 * Item layouts (every name inside a key is `encodeURIComponent`-escaped, so a
 * `#` in an account or mailbox name can never make two keys collide; a key
 * value over DynamoDB's size limit is stored as `sha256~<hex>`, see `keyPart`):
 *
 * | port             | pk                         | sk              | other attributes                                        |
 * | ---------------- | -------------------------- | --------------- | ------------------------------------------------------- |
 * | CheckpointStore  | `ckpt#<account>#<mailbox>` | `ckpt`          | uidValidity N, lastUid N, uidNext N, highestModSeq S?, updatedAt S |
 * | (poll record)    | `ckpt#<account>#<mailbox>` | `poll`          | lastSuccessAt S?, lastErrorAt S?, lastError S?           |
 * | LeaseStore       | `lease#<name>`             | `lease`         | owner S, expiresAt N (epoch ms), ttl N                   |
 * | DeliveryLog      | `dlv#<account>#<mailbox>`  | `<fingerprint>` | none                                                    |
 * | IdempotencyStore | `idem#<key>`               | `idem`          | doneAt S, expiresAt N? (epoch ms), ttl N?                |
 * | ConnectionSlots  | `slots#<host and user>`    | `slot#<n>`      | holder S, expiresAt N (epoch ms), ttl N                  |
 *
 * DynamoDB's TTL deletes expired items only eventually (typically within days),
 * so every read compares `expiresAt` with the clock itself; `ttl` only keeps
 * the table from growing.
 */
import { createHash } from 'node:crypto';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { awsClientConfig } from './clients.ts';

/** The table's key schema and TTL attribute, as the CDK construct creates them. */
export const TABLE_KEY_SCHEMA = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  timeToLiveAttribute: 'ttl',
  billingMode: 'PAY_PER_REQUEST',
} as const;

/** Options shared by every DynamoDB state store. */
export interface DynamoStoreOptions {
  /** The table name (`POSTROOM_TABLE` in Lambda). */
  tableName: string;
  /**
   * A ready client. A plain `DynamoDBClient` is wrapped in a document client.
   * @default a new `DynamoDBClient` with `awsClientConfig()` (region from `AWS_REGION`; the SDK reads `AWS_ENDPOINT_URL_DYNAMODB` itself)
   */
  client?: DynamoDBClient | DynamoDBDocumentClient;
  /**
   * The wall clock, in epoch milliseconds. Leases and expiring records are
   * compared against it; tests inject a controllable one.
   * @default Date.now
   */
  clock?: () => number;
}

/** Returns a document client for `client` (or for a default client from the environment). */
export function documentClient(client?: DynamoDBClient | DynamoDBDocumentClient): DynamoDBDocumentClient {
  if (client instanceof DynamoDBDocumentClient) return client;
  return DynamoDBDocumentClient.from(client ?? new DynamoDBClient(awsClientConfig()), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

/**
 * Creates the state table with the contract schema and waits until it is
 * active; enables TTL on `ttl` where the service supports it. For tests and
 * local setup: in AWS the CDK construct owns the table.
 */
export async function createTable(
  client: DynamoDBClient | DynamoDBDocumentClient,
  name: string,
): Promise<void> {
  const input: CreateTableCommandInput = {
    TableName: name,
    BillingMode: TABLE_KEY_SCHEMA.billingMode,
    AttributeDefinitions: [
      {
        AttributeName: TABLE_KEY_SCHEMA.partitionKey.name,
        AttributeType: TABLE_KEY_SCHEMA.partitionKey.type,
      },
      { AttributeName: TABLE_KEY_SCHEMA.sortKey.name, AttributeType: TABLE_KEY_SCHEMA.sortKey.type },
    ],
    KeySchema: [
      { AttributeName: TABLE_KEY_SCHEMA.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: TABLE_KEY_SCHEMA.sortKey.name, KeyType: 'RANGE' },
    ],
  };
  // The document client is a thin wrapper: commands of the low-level client go through it unchanged.
  const low = client as DynamoDBClient;
  await low.send(new CreateTableCommand(input));
  await waitUntilTableExists({ client: low, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { TableName: name });
  try {
    await low.send(
      new UpdateTimeToLiveCommand({
        TableName: name,
        TimeToLiveSpecification: { AttributeName: TABLE_KEY_SCHEMA.timeToLiveAttribute, Enabled: true },
      }),
    );
  } catch (error) {
    // dynalite does not implement UpdateTimeToLive; the stores check expiry on read anyway.
    if ((error as { name?: string }).name !== 'UnknownOperationException') throw error;
  }
}

/** True for the SDK's ConditionalCheckFailedException (from any client flavour). */
export function isConditionalCheckFailed(error: unknown): boolean {
  return (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
}

/**
 * DynamoDB caps a sort key at 1024 bytes and a partition key at 2048 bytes, and
 * rejects empty key strings. Longer (or empty) values are replaced by their
 * SHA-256, so any Message-ID, idempotency key or lease name fits.
 */
export function keyPart(value: string, maxBytes = 1000): string {
  if (value.length > 0 && Buffer.byteLength(value, 'utf8') <= maxBytes && !value.startsWith(HASHED_PREFIX)) {
    return value;
  }
  return `${HASHED_PREFIX}${createHash('sha256').update(value, 'utf8').digest('hex')}`;
}

const HASHED_PREFIX = 'sha256~';

/** Escapes one component of a composite key (`#` is the separator). */
export function escapeKey(value: string): string {
  return encodeURIComponent(value);
}

/** Epoch seconds for DynamoDB's TTL attribute. */
export function ttlAttribute(expiresAtMs: number): number {
  return Math.ceil(expiresAtMs / 1000);
}

/** Resolves after `ms`; used to back off before retrying unprocessed batch items. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Splits `items` into arrays of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}
