/**
 * The composition root's core: binds the ports to implementations and hands
 * each use case its dependencies. The stores come in ready-made, from
 * `aws.ts` or `local.ts` beside this file, so this module imports neither set:
 * a Lambda bundle never pulls in the local adapters (SQLite, a folder), and
 * `open-runtime.ts` loads only the set the config names.
 */
import { hostname } from 'node:os';
import { createOAuth2TokenSource } from '../adapters/oauth2-token-source.ts';
import { createWebhookSender } from '../adapters/webhook-sender.ts';
import type { AccountConfig, PostroomConfig, SecretRef } from '../config/schema.ts';
import { resolveSecret, type SecretFetcher } from '../config/secrets.ts';
import type { DrainDependencies } from '../core/drain.ts';
import type { PollDependencies } from '../core/poll.ts';
import type { ProcessDependencies } from '../core/process.ts';
import { ConfigError, isPostroomError } from '../errors.ts';
import { connectMailServer } from '../imap/connect.ts';
import { watchMailbox } from '../imap/idle-watcher.ts';
import type { Logger, MailboxWatch, OpenSession, Stores, WatchHandlers } from '../ports.ts';

/** What every driver gives the runtime, whichever stores it runs with. */
export interface DriverOptions {
  logger: Logger;
  /** Receives the IMAP dialog as `C:`/`S:` lines, credentials redacted (`--trace`). */
  trace?: { say(line: string): void };
  /** Told every secret value as it is resolved, so output can redact it. */
  onSecret?: (value: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Names this process in leases. @default host:pid */
  ownerId?: string;
}

export interface RuntimeOptions extends DriverOptions {
  stores: Stores;
  /** Resolves `{ secret }` references (Secrets Manager in AWS); absent locally. */
  fetchSecret?: SecretFetcher;
}

export interface Runtime {
  config: PostroomConfig;
  stores: Stores;
  logger: Logger;
  /** Resolves the account's password or OAuth2 access token and opens an authenticated IMAP session. */
  openSession: OpenSession;
  pollDependencies(ownerId?: string): PollDependencies;
  processDependencies(): ProcessDependencies;
  /** {@link processDependencies} plus the local queue's consumer; throws for `store.kind: aws`. */
  drainDependencies(): DrainDependencies;
  /** Watches a mailbox with IMAP IDLE on a connection of its own (`postroom run`). */
  watchMailbox(account: AccountConfig, mailbox: string, handlers: WatchHandlers): Promise<MailboxWatch>;
  close(): Promise<void>;
}

export function composeRuntime(config: PostroomConfig, options: RuntimeOptions): Runtime {
  const { stores, fetchSecret } = options;
  const defaultOwner = options.ownerId ?? `${hostname()}:${process.pid}`;

  const secretOptions = {
    ...(options.env ? { env: options.env } : {}),
    ...(fetchSecret ? { fetchSecret } : {}),
  };
  const sendWebhook = createWebhookSender();

  const secretValue = async (ref: SecretRef): Promise<string> => {
    const value = await resolveSecret(ref, secretOptions);
    options.onSecret?.(value);
    return value;
  };
  const tokens = createOAuth2TokenSource({
    resolveSecret: secretValue,
    refreshTokens: stores.refreshTokens,
    onSecret: options.onSecret,
    logger: options.logger,
  });

  /**
   * Connects with the account's credential: its password, or an OAuth2 access
   * token. A cached token the server refuses (revoked, or expired sooner than
   * it said) is replaced once by a fresh one; a fresh one refused is the answer.
   */
  const withCredential = async <T>(
    account: AccountConfig,
    connect: (credential: { password: string } | { accessToken: string }) => Promise<T>,
  ): Promise<T> => {
    if (account.auth.method !== 'xoauth2' && account.auth.method !== 'oauthbearer') {
      // The schema requires a password for `login` and `plain`.
      if (!account.auth.password)
        throw new ConfigError(`account ${account.id}: no password`, [
          `accounts.${account.id}.auth.password: required with method ${account.auth.method}`,
        ]);
      return connect({ password: await secretValue(account.auth.password) });
    }
    const token = await tokens.accessToken(account);
    try {
      return await connect({ accessToken: token.value });
    } catch (error) {
      if (token.fresh || !isPostroomError(error) || error.code !== 'AUTH_FAILED') throw error;
      options.logger.debug(
        `account ${account.id}: the server refused the cached access token; fetching a new one`,
      );
      const next = await tokens.accessToken(account, { rejected: token.value });
      return connect({ accessToken: next.value });
    }
  };

  // The IMAP library's own chatter (its warnings repeat what the ImapError
  // already says, in its words) is debug detail: visible with --verbose.
  const libraryLogger: Logger = {
    debug: (m, a) => options.logger.debug(m, a),
    info: (m, a) => options.logger.debug(m, a),
    warn: (m, a) => options.logger.debug(m, a),
    error: (m, a) => options.logger.debug(m, a),
  };
  const trace = options.trace ? { trace: (line: string) => options.trace?.say(line) } : {};

  const openSession: OpenSession = async (account, sessionOptions = {}) =>
    withCredential(account, (credential) =>
      connectMailServer(account, {
        ...sessionOptions,
        ...credential,
        largeMessageBytes: config.ingest.largeMessageBytes,
        logger: libraryLogger,
        // The session's own warnings (a server breaking UID rules) are the user's to see.
        warnings: options.logger,
        ...trace,
      }),
    );

  const processDependencies = (): ProcessDependencies => ({
    rules: config.rules,
    accounts: config.accounts,
    blobs: stores.blobs,
    idempotency: stores.idempotency,
    events: stores.events,
    openSession,
    resolveSecret: secretValue,
    sendWebhook,
    logger: options.logger,
    idempotencyTtlSeconds: (config.aws?.idempotencyDays ?? 14) * 86_400,
    ...(config.events ? { eventDetail: config.events } : {}),
  });

  return {
    config,
    stores,
    logger: options.logger,
    openSession,
    watchMailbox: async (account, mailbox, handlers) =>
      withCredential(account, (credential) =>
        watchMailbox(account, mailbox, handlers, { ...credential, logger: libraryLogger, ...trace }),
      ),
    pollDependencies: (ownerId = defaultOwner) => ({
      ...stores,
      openSession,
      logger: options.logger,
      ownerId,
    }),
    processDependencies,
    drainDependencies: () => {
      if (!stores.consumer) {
        throw new ConfigError('no local queue to drain; in AWS the process Lambda consumes SQS', [
          'store.kind: expected local',
        ]);
      }
      return { ...processDependencies(), consumer: stores.consumer };
    },
    close: async () => {
      // SQLite handles stay open for the process (they are shared); nothing else holds resources.
    },
  };
}
