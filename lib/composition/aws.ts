/**
 * The AWS side of the composition root: S3, SQS, DynamoDB (one table),
 * EventBridge and Secrets Manager. What the Lambda handlers import, and what
 * `open-runtime.ts` loads for `store.kind: aws`; nothing local is reachable
 * from here.
 */

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { awsClientConfig } from '../adapters/aws/clients.ts';
import { DynamoCheckpointStore } from '../adapters/aws/dynamodb-checkpoint-store.ts';
import { DynamoConnectionSlots } from '../adapters/aws/dynamodb-connection-slots.ts';
import { DynamoDeliveryLog } from '../adapters/aws/dynamodb-delivery-log.ts';
import { DynamoIdempotencyStore } from '../adapters/aws/dynamodb-idempotency-store.ts';
import { DynamoLeaseStore } from '../adapters/aws/dynamodb-lease-store.ts';
import { EventBridgeEventSink } from '../adapters/aws/eventbridge-event-sink.ts';
import { S3BlobStore } from '../adapters/aws/s3-blob-store.ts';
import { fetchSecretFromSecretsManager } from '../adapters/aws/secrets.ts';
import { SecretsManagerRefreshTokenStore } from '../adapters/aws/secrets-manager-refresh-token-store.ts';
import { SqsDeadLetterStore } from '../adapters/aws/sqs-dead-letters.ts';
import { SqsQueue } from '../adapters/aws/sqs-queue.ts';
import type { PostroomConfig, StoreConfig } from '../config/schema.ts';
import { PostroomError } from '../errors.ts';
import type { EventSink, Stores } from '../ports.ts';
import { composeRuntime, type DriverOptions, type Runtime } from './runtime.ts';

export type AwsStoreConfig = Extract<StoreConfig, { kind: 'aws' }>;

export interface AwsRuntimeOptions extends DriverOptions {
  store: AwsStoreConfig;
}

/**
 * Every AWS adapter, events to EventBridge when `store.eventBus` names a bus:
 * for the process Lambda and for the CLI with `store.kind: aws`.
 */
export function openAwsRuntime(config: PostroomConfig, options: AwsRuntimeOptions): Runtime {
  const { eventBus } = options.store;
  const events = eventBus ? new EventBridgeEventSink({ eventBusName: eventBus }) : undefined;
  return composeAws(config, options, events);
}

/**
 * {@link openAwsRuntime} without an event sink, for the poll Lambda: polling
 * never emits, so its bundle leaves the EventBridge client out.
 */
export function openAwsPollRuntime(config: PostroomConfig, options: AwsRuntimeOptions): Runtime {
  return composeAws(config, options, undefined);
}

function composeAws(config: PostroomConfig, options: AwsRuntimeOptions, events: EventSink | undefined) {
  return composeRuntime(config, {
    ...options,
    stores: openAwsStores(options.store, events),
    fetchSecret: fetchSecretFromSecretsManager,
  });
}

function openAwsStores(store: AwsStoreConfig, events: EventSink | undefined): Stores {
  // One DynamoDB client (one connection pool) for all the state stores.
  const table = { tableName: store.table, client: new DynamoDBClient(awsClientConfig()) };
  const queue = new SqsQueue({ queueUrl: store.queueUrl });
  // For `postroom status` and `postroom dead-letters`; nothing is sent until one of them asks.
  const deadLetters = new SqsDeadLetterStore({ queueUrl: store.queueUrl, client: queue.client });
  return {
    kind: 'aws',
    blobs: new S3BlobStore({ bucket: store.bucket }),
    queue,
    deadLetters,
    queueInspector: deadLetters,
    checkpoints: new DynamoCheckpointStore(table),
    leases: new DynamoLeaseStore(table),
    // The construct says when the functions' concurrency alone keeps every
    // connection budget: then no session is counted in the table (an empty poll
    // writes nothing) and each container counts its own (`MemoryConnectionSlots`).
    ...(process.env.POSTROOM_CONNECTION_SLOTS === 'by-concurrency'
      ? {}
      : { slots: new DynamoConnectionSlots(table) }),
    deliveries: new DynamoDeliveryLog(table),
    idempotency: new DynamoIdempotencyStore(table),
    refreshTokens: new SecretsManagerRefreshTokenStore(),
    events: events ?? {
      emit: async () => {
        throw new PostroomError(
          'EVENTS_UNCONFIGURED',
          'a rule emits events but no event bus is configured (store.eventBus)',
        );
      },
    },
  };
}
