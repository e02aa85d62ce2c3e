/**
 * The composition root: binds the ports to implementations in one place.
 * The stores come in ready-made (`openLocalStores` / `openAwsStores`), so this
 * module imports neither set: `lib/runtime.ts` picks by `store.kind` for the
 * CLI, and the Lambda handlers pass the AWS stores, keeping SQLite out of
 * their bundles.
 */
import { hostname } from 'node:os';
import { createWebhookSender } from './adapters/webhook-sender.ts';
import type { AccountConfig, PostroomConfig, StoreConfig } from './config/schema.ts';
import { resolveSecret, type SecretFetcher } from './config/secrets.ts';
import type { PollDependencies } from './core/poll.ts';
import type { ProcessDependencies } from './core/process.ts';
import type { MailboxWatch, WatchHandlers } from './core/runner.ts';
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
  OpenSession,
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
  /**
   * The stores, built by `openLocalStores` / `openAwsStores` (or `openStores` in
   * lib/stores.ts, which picks by `store.kind`). Kept out of this module so a
   * Lambda bundle never pulls in the local adapters and a CLI never needs both.
   */
  stores: Stores;
  /** Resolves `{ secret }` references (Secrets Manager in AWS); absent locally. */
  fetchSecret?: SecretFetcher;
  env?: NodeJS.ProcessEnv;
  /** Names this process in leases. @default host:pid */
  ownerId?: string;
}

export interface Runtime {
  config: PostroomConfig;
  stores: Stores;
  logger: Logger;
  /** Resolves the account's password and opens an authenticated IMAP session. */
  openSession: OpenSession;
  pollDependencies(ownerId?: string): PollDependencies;
  processDependencies(): ProcessDependencies;
  /** Watches a mailbox with IMAP IDLE on a connection of its own (`postroom run`). */
  watchMailbox(account: AccountConfig, mailbox: string, handlers: WatchHandlers): Promise<MailboxWatch>;
  close(): Promise<void>;
}

export async function composeRuntime(config: PostroomConfig, options: RuntimeOptions): Promise<Runtime> {
  const { stores, fetchSecret } = options;
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

  // The IMAP library's own chatter (its warnings repeat what the ImapError
  // already says, in its words) is debug detail: visible with --verbose.
  const libraryLogger: Logger = {
    debug: (m, a) => options.logger.debug(m, a),
    info: (m, a) => options.logger.debug(m, a),
    warn: (m, a) => options.logger.debug(m, a),
    error: (m, a) => options.logger.debug(m, a),
  };

  const openSession: OpenSession = async (account, sessionOptions = {}) => {
    return connectMailServer(account, {
      ...sessionOptions,
      password: await passwordOf(account),
      largeMessageBytes: config.ingest.largeMessageBytes,
      logger: libraryLogger,
      warnings: options.logger,
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
        logger: libraryLogger,
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
