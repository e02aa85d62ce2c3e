/**
 * The composition root's core: binds the ports to implementations and hands
 * each use case its dependencies. The stores come in ready-made, from
 * `aws.ts` or `local.ts` beside this file, so this module imports neither set:
 * a Lambda bundle never pulls in the local adapters (SQLite, a folder), and
 * `open-runtime.ts` loads only the set the config names.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { MemoryConnectionSlots } from '../adapters/memory-connection-slots.ts';
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
import { SessionPool } from '../imap/session-pool.ts';
import { withTransientRetry } from '../imap/transient-retry.ts';
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
  /** Pooled IMAP sessions idle this long are logged out. @default 300000 (5 minutes) */
  sessionIdleMs?: number;
}

/** How long an IDLE watch waits for a slot of its account's connection budget. */
const WATCH_SLOT_WAIT_MS = 30_000;

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

  const secretValue = async (ref: SecretRef, fresh = false): Promise<string> => {
    const value = await resolveSecret(ref, { ...secretOptions, ...(fresh ? { fresh } : {}) });
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
    connectWith: (
      credential: ({ password: string } | { accessToken: string }) & { ca?: string },
    ) => Promise<T>,
  ): Promise<T> => {
    // A CA given by reference (`tlsOptions.ca: { secret }`) is read here, as a password is.
    const caRef = account.tlsOptions?.ca;
    const ca = typeof caRef === 'object' && !('pem' in caRef) ? { ca: await secretValue(caRef) } : {};
    const connect = (credential: { password: string } | { accessToken: string }) =>
      connectWith({ ...credential, ...ca });
    if (account.auth.method !== 'xoauth2' && account.auth.method !== 'oauthbearer') {
      // The schema requires a password for `login` and `plain`.
      if (!account.auth.password)
        throw new ConfigError(`account ${account.id}: no password`, [
          `accounts.${account.id}.auth.password: required with method ${account.auth.method}`,
        ]);
      const passwordRef = account.auth.password;
      const password = await secretValue(passwordRef);
      try {
        return await connect({ password });
      } catch (error) {
        // A cached secret may be older than a password changed since: read it
        // once more past the cache, and retry only if it changed.
        if (!('secret' in passwordRef) || !refusedLogin(error)) throw error;
        const current = await secretValue(passwordRef, true);
        if (current === password) throw error;
        options.logger.debug(
          `account ${account.id}: the password secret changed; logging in with the new one`,
        );
        return connect({ password: current });
      }
    }
    const token = await tokens.accessToken(account);
    try {
      return await connect({ accessToken: token.value });
    } catch (error) {
      if (token.fresh || !refusedLogin(error)) throw error;
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

  // A throttled or busy server (SERVER_BUSY) is connected to again while the session's deadline allows.
  const connectRetrying: typeof connectMailServer = (account, connectOptions) =>
    withTransientRetry(account, () => connectMailServer(account, connectOptions), {
      deadline: connectOptions.deadline,
      onRetry: ({ delayMs, reason }) => options.logger.info(`${reason}; trying again in ${delayMs} ms`),
    });

  // One session per account, reused across batches, polls and warm invocations,
  // each holding a slot of its account's connection budget (session-pool.ts).
  const pool = new SessionPool({
    slots: stores.slots ?? new MemoryConnectionSlots(),
    // Unique per process: Lambdas share host names and pids.
    holder: `${defaultOwner}:${randomUUID().slice(0, 8)}`,
    logger: options.logger,
    ...(options.sessionIdleMs !== undefined ? { idleMs: options.sessionIdleMs } : {}),
    // Locally, an idle pooled session gives its slot up as soon as another process waits for one.
    // A Lambda runs no timer between invocations: its idle sessions' slots expire with their idle bound.
    ...(stores.kind === 'local' ? { yieldCheckMs: 500 } : {}),
    connect: (account, sessionOptions) =>
      withCredential(account, (credential) =>
        connectRetrying(account, {
          ...sessionOptions,
          ...credential,
          largeMessageBytes: config.ingest.largeMessageBytes,
          logger: libraryLogger,
          // The session's own warnings (a server breaking UID rules) are the user's to see.
          warnings: options.logger,
          ...trace,
        }),
      ),
  });
  const openSession: OpenSession = (account, sessionOptions = {}) => pool.open(account, sessionOptions);

  /** An IDLE watch on a connection of its own, holding a slot of the budget while it lasts. */
  const watch = async (account: AccountConfig, mailbox: string, handlers: WatchHandlers) => {
    const slot = await pool.reserve(account, Date.now() + WATCH_SLOT_WAIT_MS);
    try {
      const watching = await withCredential(account, (credential) =>
        watchMailbox(
          account,
          mailbox,
          {
            onNewMail: () => handlers.onNewMail(),
            onLost: (error) => {
              void slot.release();
              handlers.onLost(error);
            },
          },
          { ...credential, logger: libraryLogger, ...trace },
        ),
      );
      return {
        close: async () => {
          await watching.close();
          await slot.release();
        },
      };
    } catch (error) {
      await slot.release();
      throw error;
    }
  };

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
    watchMailbox: watch,
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
      // Pooled IMAP sessions log out. SQLite handles stay open for the process (they are shared).
      await pool.close();
    },
  };
}

/** The server said no to the credential itself (not a network or protocol failure). */
function refusedLogin(error: unknown): boolean {
  return isPostroomError(error) && error.code === 'AUTH_FAILED';
}
