/**
 * The conditional writes behind an expiring hold on one item of the state
 * table (a lease, a connection slot): take it when free or expired, renew it
 * while still ours and unexpired, release it only if ours. Each is one
 * conditional write, so racing holders get exactly one winner. The item holds
 * `<holderAttribute>` S, `expiresAt` N (epoch ms) and `ttl` N.
 */
import { DeleteCommand, type DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isConditionalCheckFailed, ttlAttribute } from './dynamodb-table.ts';

/** Where the hold lives and which attribute names its holder. */
export interface HoldItem {
  client: DynamoDBDocumentClient;
  table: string;
  key: { pk: string; sk: string };
  /** `owner` for leases, `holder` for slots (both go through attribute names: OWNER is reserved). */
  holderAttribute: string;
}

/**
 * Takes the hold if the item is absent or expired (or, with `reentrant`, already
 * ours: taking it again extends it). False when someone else holds it.
 */
export async function takeHold(
  item: HoldItem,
  holder: string,
  now: number,
  ttlMs: number,
  reentrant = false,
): Promise<boolean> {
  const expiresAt = now + ttlMs;
  return conditional(() =>
    item.client.send(
      new PutCommand({
        TableName: item.table,
        Item: { ...item.key, [item.holderAttribute]: holder, expiresAt, ttl: ttlAttribute(expiresAt) },
        ConditionExpression: `attribute_not_exists(pk) OR #e < :now${reentrant ? ' OR #h = :holder' : ''}`,
        ExpressionAttributeNames: reentrant
          ? { '#h': item.holderAttribute, '#e': 'expiresAt' }
          : { '#e': 'expiresAt' },
        ExpressionAttributeValues: reentrant ? { ':now': now, ':holder': holder } : { ':now': now },
      }),
    ),
  );
}

/**
 * Extends the hold if it is still ours and unexpired. An expired hold is lost
 * even if nobody took it yet: its holder must stop, not carry on.
 */
export async function renewHold(
  item: HoldItem,
  holder: string,
  now: number,
  ttlMs: number,
): Promise<boolean> {
  const expiresAt = now + ttlMs;
  return conditional(() =>
    item.client.send(
      new UpdateCommand({
        TableName: item.table,
        Key: item.key,
        UpdateExpression: 'SET #e = :expiresAt, #t = :ttl',
        ConditionExpression: '#h = :holder AND #e >= :now',
        ExpressionAttributeNames: { '#h': item.holderAttribute, '#e': 'expiresAt', '#t': 'ttl' },
        ExpressionAttributeValues: {
          ':holder': holder,
          ':now': now,
          ':expiresAt': expiresAt,
          ':ttl': ttlAttribute(expiresAt),
        },
      }),
    ),
  );
}

/** Deletes the item if ours; someone else's (expired and taken over, or gone) is left alone. */
export async function releaseHold(item: HoldItem, holder: string): Promise<void> {
  await conditional(() =>
    item.client.send(
      new DeleteCommand({
        TableName: item.table,
        Key: item.key,
        ConditionExpression: '#h = :holder',
        ExpressionAttributeNames: { '#h': item.holderAttribute },
        ExpressionAttributeValues: { ':holder': holder },
      }),
    ),
  );
}

/** True when the write happened, false when its condition failed; other errors propagate. */
async function conditional(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    if (isConditionalCheckFailed(error)) return false;
    throw error;
  }
}
