/**
 * Checkpoints in the state table: one item per (account, mailbox), replaced by
 * a single conditional PutItem so two pollers can never both move it.
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { assertCheckpointMovesForward } from '../../core/checkpoint.ts';
import { CheckpointConflictError } from '../../errors.ts';
import type { Checkpoint, CheckpointStore, PollRecord } from '../../ports.ts';
import {
  type DynamoStoreOptions,
  documentClient,
  escapeKey,
  isConditionalCheckFailed,
  keyPart,
} from './dynamodb-table.ts';

const SK = 'ckpt';
/** The poll record sits in the checkpoint's partition, as its own item: the conditional PutItem of `advance` replaces whole items. */
const POLL_SK = 'poll';

/**
 * `CheckpointStore` over DynamoDB (item `pk=ckpt#<account>#<mailbox>`,
 * `sk=ckpt`; the poll record `sk=poll`: lastSuccessAt S?, lastErrorAt S?, lastError S?).
 */
export class DynamoCheckpointStore implements CheckpointStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(options: Omit<DynamoStoreOptions, 'clock'>) {
    this.#client = documentClient(options.client);
    this.#table = options.tableName;
  }

  async get(account: string, mailbox: string): Promise<Checkpoint | undefined> {
    const { Item } = await this.#client.send(
      new GetCommand({ TableName: this.#table, Key: key(account, mailbox), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const checkpoint: Checkpoint = {
      uidValidity: Number(Item.uidValidity),
      lastUid: Number(Item.lastUid),
      uidNext: Number(Item.uidNext),
    };
    if (typeof Item.highestModSeq === 'string') checkpoint.highestModSeq = Item.highestModSeq;
    return checkpoint;
  }

  async advance(
    account: string,
    mailbox: string,
    next: Checkpoint,
    previous: Checkpoint | undefined,
  ): Promise<void> {
    assertCheckpointMovesForward(account, mailbox, next, previous);
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    let condition: string;
    if (previous === undefined) {
      condition = 'attribute_not_exists(pk)';
    } else {
      // The stored item must be exactly `previous`: any difference means another poller wrote in between.
      Object.assign(names, { '#v': 'uidValidity', '#l': 'lastUid', '#n': 'uidNext', '#m': 'highestModSeq' });
      Object.assign(values, { ':v': previous.uidValidity, ':l': previous.lastUid, ':n': previous.uidNext });
      condition = '#v = :v AND #l = :l AND #n = :n AND ';
      if (previous.highestModSeq === undefined) {
        condition += 'attribute_not_exists(#m)';
      } else {
        values[':m'] = previous.highestModSeq;
        condition += '#m = :m';
      }
    }
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#table,
          Item: {
            ...key(account, mailbox),
            uidValidity: next.uidValidity,
            lastUid: next.lastUid,
            uidNext: next.uidNext,
            // Absent rather than undefined: an injected document client may not drop undefined values.
            ...(next.highestModSeq === undefined ? {} : { highestModSeq: next.highestModSeq }),
            updatedAt: new Date().toISOString(),
          },
          ConditionExpression: condition,
          ExpressionAttributeNames: Object.keys(names).length > 0 ? names : undefined,
          ExpressionAttributeValues: Object.keys(values).length > 0 ? values : undefined,
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      throw new CheckpointConflictError(
        `the checkpoint of ${account}/${mailbox} is no longer the one this poller read`,
        { account, mailbox, expectedUidValidity: previous?.uidValidity, expectedLastUid: previous?.lastUid },
      );
    }
  }

  async recordPoll(account: string, mailbox: string, at: Date, error?: string): Promise<void> {
    await this.#client.send(
      new UpdateCommand({
        TableName: this.#table,
        Key: key(account, mailbox, POLL_SK),
        ...(error === undefined
          ? {
              UpdateExpression: 'SET lastSuccessAt = :at',
              ExpressionAttributeValues: { ':at': at.toISOString() },
            }
          : {
              UpdateExpression: 'SET lastErrorAt = :at, lastError = :error',
              ExpressionAttributeValues: { ':at': at.toISOString(), ':error': error.slice(0, 1000) },
            }),
      }),
    );
  }

  async pollRecord(account: string, mailbox: string): Promise<PollRecord | undefined> {
    const { Item } = await this.#client.send(
      new GetCommand({ TableName: this.#table, Key: key(account, mailbox, POLL_SK) }),
    );
    if (!Item) return undefined;
    const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
    const record: PollRecord = {};
    if (text(Item.lastSuccessAt)) record.lastSuccessAt = text(Item.lastSuccessAt)!;
    if (text(Item.lastErrorAt)) record.lastErrorAt = text(Item.lastErrorAt)!;
    if (text(Item.lastError)) record.lastError = text(Item.lastError)!;
    return record;
  }
}

function key(account: string, mailbox: string, sk = SK): { pk: string; sk: string } {
  return { pk: keyPart(`ckpt#${escapeKey(account)}#${escapeKey(mailbox)}`, 2000), sk };
}
