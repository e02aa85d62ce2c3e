/**
 * The AWS stores: S3, SQS, DynamoDB (one table) and EventBridge. The only
 * store module a Lambda bundle imports.
 */

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Stores } from '../../compose.ts';
import type { StoreConfig } from '../../config/schema.ts';
import { PostroomError } from '../../errors.ts';
import type { EventSink } from '../../ports.ts';
import { awsClientConfig } from './clients.ts';
import { DynamoCheckpointStore } from './dynamodb-checkpoint-store.ts';
import { DynamoDeliveryLog } from './dynamodb-delivery-log.ts';
import { DynamoIdempotencyStore } from './dynamodb-idempotency-store.ts';
import { DynamoLeaseStore } from './dynamodb-lease-store.ts';
import { S3BlobStore } from './s3-blob-store.ts';
import { SqsQueue } from './sqs-queue.ts';

export interface AwsStoreOptions {
  /**
   * Where `emit` goes (EventBridge, built by the caller so that the poll
   * Lambda, which never emits, does not bundle the EventBridge client).
   * @default a sink that refuses, naming the missing setting
   */
  events?: EventSink;
}

export function openAwsStores(
  store: Extract<StoreConfig, { kind: 'aws' }>,
  options: AwsStoreOptions = {},
): Stores {
  // One DynamoDB client (one connection pool) for all four state stores.
  const table = { tableName: store.table, client: new DynamoDBClient(awsClientConfig()) };
  return {
    kind: 'aws',
    blobs: new S3BlobStore({ bucket: store.bucket }),
    queue: new SqsQueue({ queueUrl: store.queueUrl }),
    checkpoints: new DynamoCheckpointStore(table),
    leases: new DynamoLeaseStore(table),
    deliveries: new DynamoDeliveryLog(table),
    idempotency: new DynamoIdempotencyStore(table),
    events: options.events ?? {
      emit: async () => {
        throw new PostroomError(
          'EVENTS_UNCONFIGURED',
          'a rule emits events but no event bus is configured (store.eventBus)',
        );
      },
    },
  };
}
