/**
 * Delivered-message fingerprints in the state table: one item per fingerprint
 * under the mailbox's partition, written with BatchWriteItem (25 per call) and
 * looked up with BatchGetItem (100 per call), several calls in flight.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PostroomError } from '../../errors.ts';
import type { DeliveryLog } from '../../ports.ts';
import { getAll, putAll } from './dynamodb-batch.ts';
import { type DynamoStoreOptions, documentClient, escapeKey, keyPart } from './dynamodb-table.ts';

/** Tuning for `DynamoDeliveryLog`. */
export interface DynamoDeliveryLogOptions extends Omit<DynamoStoreOptions, 'clock'> {
  /** Batch requests in flight at once. @default 8 */
  concurrency?: number;
  /**
   * Rounds of retrying what DynamoDB left unprocessed (throttling, partition
   * limits) before giving up with a retryable error. @default 8
   */
  maxRetries?: number;
}

/** `DeliveryLog` over DynamoDB (items `pk=dlv#<account>#<mailbox>`, `sk=<fingerprint>`). */
export class DynamoDeliveryLog implements DeliveryLog {
  readonly #client: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #concurrency: number;
  readonly #maxRetries: number;

  constructor(options: DynamoDeliveryLogOptions) {
    this.#client = documentClient(options.client);
    this.#table = options.tableName;
    this.#concurrency = options.concurrency ?? 8;
    this.#maxRetries = options.maxRetries ?? 8;
  }

  async record(account: string, mailbox: string, fingerprints: string[]): Promise<void> {
    const pk = partition(account, mailbox);
    // BatchWriteItem rejects a request naming the same key twice.
    const sortKeys = [...new Set(fingerprints.map((fingerprint) => keyPart(fingerprint)))];
    await putAll(
      this.#client,
      this.#table,
      sortKeys.map((sk) => ({ pk, sk })),
      { concurrency: this.#concurrency, maxRetries: this.#maxRetries },
      (left) => incomplete('record', account, mailbox, left),
    );
  }

  async findDelivered(account: string, mailbox: string, fingerprints: string[]): Promise<Set<string>> {
    const pk = partition(account, mailbox);
    // Several fingerprints could share a (hashed) sort key only by a SHA-256 collision; a map keeps it exact.
    const bySortKey = new Map<string, string[]>();
    for (const fingerprint of fingerprints) {
      const sk = keyPart(fingerprint);
      const list = bySortKey.get(sk);
      if (list) list.push(fingerprint);
      else bySortKey.set(sk, [fingerprint]);
    }
    const found = new Set<string>();
    await getAll(
      this.#client,
      this.#table,
      [...bySortKey.keys()].map((sk) => ({ pk, sk })),
      'sk',
      { concurrency: this.#concurrency, maxRetries: this.#maxRetries },
      (left) => incomplete('look up', account, mailbox, left),
      (item) => {
        for (const fingerprint of bySortKey.get(String(item.sk)) ?? []) found.add(fingerprint);
      },
    );
    return found;
  }
}

function partition(account: string, mailbox: string): string {
  return keyPart(`dlv#${escapeKey(account)}#${escapeKey(mailbox)}`, 2000);
}

function incomplete(action: string, account: string, mailbox: string, left: number): PostroomError {
  return new PostroomError(
    'STATE_STORE_INCOMPLETE',
    `could not ${action} ${left} delivery fingerprints of ${account}/${mailbox}: DynamoDB kept them unprocessed`,
    { retryable: true, context: { account, mailbox, left } },
  );
}
