/**
 * The composition root: binds every port to an implementation in one place.
 * `store.kind: local` gives the embedded stand-ins (a folder and SQLite under
 * `store.dir`); `store.kind: aws` gives S3, SQS, DynamoDB, EventBridge and
 * Secrets Manager. The CLI and the Lambda handlers both start here.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DynamoCheckpointStore } from './adapters/aws/dynamodb-checkpoint-store.ts';
import { DynamoDeliveryLog } from './adapters/aws/dynamodb-delivery-log.ts';
import { DynamoIdempotencyStore } from './adapters/aws/dynamodb-idempotency-store.ts';
import { DynamoLeaseStore } from './adapters/aws/dynamodb-lease-store.ts';
import { EventBridgeEventSink } from './adapters/aws/eventbridge-event-sink.ts';
import { S3BlobStore } from './adapters/aws/s3-blob-store.ts';
import { fetchSecretFromSecretsManager } from './adapters/aws/secrets.ts';
import { SqsQueue } from './adapters/aws/sqs-queue.ts';
import { FsBlobStore } from './adapters/local/fs-blob-store.ts';
import { JsonlEventSink } from './adapters/local/jsonl-event-sink.ts';
import { openDatabase } from './adapters/local/sqlite.ts';
import { SqliteCheckpointStore } from './adapters/local/sqlite-checkpoint-store.ts';
import { SqliteDeliveryLog } from './adapters/local/sqlite-delivery-log.ts';
import { SqliteIdempotencyStore } from './adapters/local/sqlite-idempotency-store.ts';
import { SqliteLeaseStore } from './adapters/local/sqlite-lease-store.ts';
import { SqliteQueue } from './adapters/local/sqlite-queue.ts';
import { createWebhookSender } from './adapters/webhook-sender.ts';
import type { AccountConfig, PostroomConfig, StoreConfig } from './config/schema.ts';
import { resolveSecret, type SecretFetcher } from './config/secrets.ts';
import type { PollDependencies } from './core/poll.ts';
import type { ProcessDependencies } from './core/process.ts';
import type { MailboxWatch, WatchHandlers } from './core/runner.ts';
import { PostroomError } from './errors.ts';
import { connectMailServer } from './imap/connect.ts';
import { watchMailbox } from './imap/idle-watcher.ts';
import type {
  BlobStore,
  CheckpointStore,
  DeliveryLog,
  EventSink,
  IdempotencyStore,
  LeaseStore,
  Logger,
  MailServer,
  Queue,
  QueueConsumer,
} from './ports.ts';

export interface Stores {
  kind: StoreConfig['kind'];
  blobs: BlobStore;
  queue: Queue;
  /** Only for the local queue: in AWS, Lambda's SQS event source receives. */
  consumer?: QueueConsumer & { stats(): { queued: number; inFlight: number; deadLetter: number } };
  checkpoints: CheckpointStore;
  leases: LeaseStore;
  deliveries: DeliveryLog;
  idempotency: IdempotencyStore;
  events: EventSink;
  /** Local only: where `emit` writes (`<store dir>/events.jsonl`). */
  eventsFile?: string;
}

export interface RuntimeOptions {
  logger: Logger;
  /** Receives the IMAP dialog as `C:`/`S:` lines, credentials redacted (`--trace`). */
  trace?: { say(line: string): void };
  /** Told every secret value as it is resolved, so output can redact it. */
  onSecret?: (value: string) => void;
  /** Overrides `config.store` (the Lambda takes its resources from the environment). */
  store?: StoreConfig;
  env?: NodeJS.ProcessEnv;
  /** Names this process in leases. @default host:pid */
  ownerId?: string;
}

export interface Runtime {
  config: PostroomConfig;
  stores: Stores;
  logger: Logger;
  /** Resolves the account's password and opens an authenticated IMAP session. */
  openSession(account: AccountConfig): Promise<MailServer>;
  pollDependencies(ownerId?: string): PollDependencies;
  processDependencies(): ProcessDependencies;
  /** Watches a mailbox with IMAP IDLE on a connection of its own (`postroom run`). */
  watchMailbox(account: AccountConfig, mailbox: string, handlers: WatchHandlers): Promise<MailboxWatch>;
  close(): Promise<void>;
}

export function openStores(store: StoreConfig, config: PostroomConfig): Stores {
  if (store.kind === 'aws') {
    const table = { tableName: store.table };
    return {
      kind: 'aws',
      blobs: new S3BlobStore({ bucket: store.bucket }),
      queue: new SqsQueue({ queueUrl: store.queueUrl }),
      checkpoints: new DynamoCheckpointStore(table),
      leases: new DynamoLeaseStore(table),
      deliveries: new DynamoDeliveryLog(table),
      idempotency: new DynamoIdempotencyStore(table),
      events: store.eventBus
        ? new EventBridgeEventSink({ eventBusName: store.eventBus })
        : {
            emit: async () => {
              throw new PostroomError(
                'EVENTS_UNCONFIGURED',
                'a rule emits events but store.eventBus is not set',
              );
            },
          },
    };
  }
  const db = openDatabase(join(store.dir, 'postroom.db'));
  const queue = new SqliteQueue(db, { maxReceives: config.aws?.processor.maxReceives ?? 5 });
  return {
    kind: 'local',
    blobs: new FsBlobStore(store.dir),
    queue,
    consumer: queue,
    checkpoints: new SqliteCheckpointStore({ db }),
    leases: new SqliteLeaseStore({ db }),
    deliveries: new SqliteDeliveryLog({ db }),
    idempotency: new SqliteIdempotencyStore({ db }),
    events: new JsonlEventSink(join(store.dir, 'events.jsonl')),
    eventsFile: join(store.dir, 'events.jsonl'),
  };
}

export async function openRuntime(config: PostroomConfig, options: RuntimeOptions): Promise<Runtime> {
  const store = options.store ?? config.store;
  const stores = openStores(store, config);
  const fetchSecret: SecretFetcher | undefined =
    store.kind === 'aws' ? fetchSecretFromSecretsManager : undefined;
  const defaultOwner = options.ownerId ?? `${hostname()}:${process.pid}`;

  const secretOptions = {
    ...(options.env ? { env: options.env } : {}),
    ...(fetchSecret ? { fetchSecret } : {}),
  };
  const sendWebhook = createWebhookSender();

  const passwordOf = async (account: AccountConfig): Promise<string> => {
    const value = await resolveSecret(account.auth.password, secretOptions);
    options.onSecret?.(value);
    return value;
  };

  const openSession = async (account: AccountConfig): Promise<MailServer> => {
    return connectMailServer(account, {
      password: await passwordOf(account),
      logger: options.logger,
      ...(options.trace ? { trace: (line: string) => options.trace?.say(line) } : {}),
    });
  };

  return {
    config,
    stores,
    logger: options.logger,
    openSession,
    watchMailbox: async (account, mailbox, handlers) =>
      watchMailbox(account, mailbox, handlers, {
        password: await passwordOf(account),
        logger: options.logger,
        ...(options.trace ? { trace: (line: string) => options.trace?.say(line) } : {}),
      }),
    pollDependencies: (ownerId = defaultOwner) => ({
      ...stores,
      openSession,
      logger: options.logger,
      ownerId,
    }),
    processDependencies: () => ({
      rules: config.rules,
      accounts: config.accounts,
      blobs: stores.blobs,
      idempotency: stores.idempotency,
      events: stores.events,
      openSession,
      resolveSecret: async (ref) => {
        const value = await resolveSecret(ref, secretOptions);
        options.onSecret?.(value);
        return value;
      },
      sendWebhook,
      logger: options.logger,
      idempotencyTtlSeconds: (config.aws?.idempotencyDays ?? 14) * 86_400,
    }),
    close: async () => {
      // SQLite handles stay open for the process (they are shared); nothing else holds resources.
    },
  };
}
