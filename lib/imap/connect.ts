/**
 * Opening an authenticated IMAP session for one account.
 *
 * TLS is on by default, with certificate verification (a private CA comes from
 * `tlsOptions.ca`). `tls: starttls` insists on the upgrade: ImapFlow's
 * `doSTARTTLS: true` makes a server that does not offer STARTTLS a failure,
 * never a silent fallback to plaintext. `tls: false` is real plaintext
 * (`doSTARTTLS: false`), for loopback and tests.
 *
 * ImapFlow logs through pino to stdout unless given a logger; it gets the
 * adapter in `protocol-log.ts`, which turns its protocol entries into `C: ` /
 * `S: ` trace lines (with credentials redacted) and everything else into the
 * caller's logger.
 */
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import { imapLimits } from '../config/imap-limits.ts';
import type { AccountConfig } from '../config/schema.ts';
import { PostroomError } from '../errors.ts';
import type { Logger, SessionOptions } from '../ports.ts';
import { POSTROOM_VERSION } from '../version.ts';
import { connectError } from './errors.ts';
import { missingFlowInternals, pinOAuthMechanism, sendIdOnce, TESTED_IMAPFLOW } from './flow-internals.ts';
import { ImapMailServer } from './imap-mail-server.ts';
import { flowLogger, redactor } from './protocol-log.ts';
import { type FetchTuning, ImapSession } from './session.ts';
import { loadTlsCa } from './tls-ca.ts';
import { Watchdog } from './watchdog.ts';

export { redactor } from './protocol-log.ts';

/** The logger the adapter reports ImapFlow's warnings to (the `Logger` port). */
export type MinimalLogger = Logger;

export interface ConnectMailServerOptions extends Partial<FetchTuning>, SessionOptions {
  /** The resolved password (config holds only a reference to it); for `method: login | plain`. */
  password?: string;
  /** An OAuth2 access token, for `method: xoauth2 | oauthbearer` (AUTHENTICATE XOAUTH2 / OAUTHBEARER, RFC 7628). */
  accessToken?: string;
  /** `tlsOptions.ca` resolved, when it is a secret reference (PEM text). */
  ca?: string;
  /**
   * Receives the IMAP dialog, one line per command or response, as `C: ...` and
   * `S: ...`. Credentials (LOGIN arguments, SASL responses, the password or token
   * anywhere, plain or base64) are replaced by `***`; message bodies appear only as their size.
   */
  trace?: ((line: string) => void) | undefined;
  /** Where ImapFlow's own warnings go. @default nowhere */
  logger?: MinimalLogger | undefined;
  /**
   * Where the session's own warnings go: a server that breaks the rules in a
   * way Postroom works around (a UID answered twice, one not asked for, no
   * UIDPLUS for an expunge). @default `logger`
   */
  warnings?: MinimalLogger | undefined;
  /** TCP + TLS handshake budget. @default 30000 */
  connectionTimeoutMs?: number;
  /** Greeting budget after connecting. @default 16000 */
  greetingTimeoutMs?: number;
}

const FETCH_DEFAULTS: FetchTuning = {
  largeMessageBytes: 4 * 1024 * 1024,
  readAheadBytes: 8 * 1024 * 1024,
  fetchEngine: 'auto',
};

/**
 * Connects, authenticates and reads the capabilities, within the account's
 * `limits` (and `options.deadline`). Rejects with an `ImapError` (AUTH_FAILED,
 * CONNECT_FAILED, TLS_FAILED, STARTTLS_UNAVAILABLE, CONNECTION_LOST,
 * IMAP_DEADLINE, IMAP_STALLED, IMAP_LIMIT) whose message names the account
 * and the server's answer, and never the password.
 *
 * @example
 * const server = await connectMailServer(account, { password, trace: (line) => console.error(line) });
 * try {
 *   const state = await server.examine('INBOX');
 * } finally {
 *   await server.logout();
 * }
 */
export async function connectMailServer(
  account: AccountConfig,
  options: ConnectMailServerOptions,
): Promise<ImapMailServer> {
  const redact = redactor(account.auth.user, credential(options));
  const trace = options.trace ? (line: string) => options.trace!(redact(line)) : undefined;
  const { client, watchdog } = await openImapFlow(
    account,
    { ...options, trace },
    {
      // The poller issues its commands back to back and logs out; an IDLE started
      // between them would only cost two round trips per command (and would keep
      // the socket from being borrowed for fetches).
      disableAutoIdle: true,
    },
  );
  const missing = missingFlowInternals(client);
  if (missing.length > 0) {
    watchdog.stop();
    client.close();
    throw new PostroomError(
      'IMAPFLOW_UNSUPPORTED',
      `account ${account.id}: the installed ImapFlow lacks ${missing.join(', ')}, which Postroom needs (it is tested with imapflow ${TESTED_IMAPFLOW}; npm ci installs that)`,
    );
  }
  const session = new ImapSession(
    client,
    {
      account: account.id,
      host: account.host,
      port: account.port,
      password: credential(options),
      limits: imapLimits(account),
      tuning: {
        largeMessageBytes: options.largeMessageBytes ?? FETCH_DEFAULTS.largeMessageBytes,
        readAheadBytes: options.readAheadBytes ?? FETCH_DEFAULTS.readAheadBytes,
        fetchEngine: options.fetchEngine ?? FETCH_DEFAULTS.fetchEngine,
      },
      trace,
      logger: options.warnings ?? options.logger,
      provider: account.provider,
    },
    watchdog,
  );
  return new ImapMailServer(session);
}

/**
 * Connects and authenticates an ImapFlow client for `account` (TLS policy,
 * CA file, login method, the account's limits, logger adapter), mapping
 * failures to `ImapError`. Returns it with the watchdog that bounds the
 * session's time (already watching); the caller owns both. `options.trace`
 * must already redact (see `redactor`). Shared by the session adapter and the
 * IDLE watcher.
 */
export async function openImapFlow(
  account: AccountConfig,
  options: ConnectMailServerOptions,
  extra: Partial<ImapFlowOptions> = {},
): Promise<{ client: ImapFlow; watchdog: Watchdog }> {
  const limits = imapLimits(account);
  const ctx = { account: account.id, host: account.host, port: account.port, limits };
  const deadline = Math.min(
    options.deadline ?? Number.POSITIVE_INFINITY,
    Date.now() + limits.sessionSeconds * 1000,
  );
  const secret = credential(options);
  const redact = redactor(account.auth.user, secret);
  const trace = options.trace;
  const oauthMechanism =
    account.auth.method === 'xoauth2'
      ? 'XOAUTH2'
      : account.auth.method === 'oauthbearer'
        ? 'OAUTHBEARER'
        : undefined;

  const ca = await loadTlsCa(account, options.ca);

  const attempt = async (loginMethod: 'LOGIN' | 'AUTH=PLAIN') => {
    const flowOptions: ImapFlowOptions = {
      host: account.host,
      port: account.port,
      secure: account.tls === true,
      // `starttls` must upgrade or fail; `false` must never upgrade (RFC 3501 6.2.1 leaves it to the client).
      doSTARTTLS: account.tls === 'starttls' ? true : account.tls === false ? false : undefined,
      servername: account.tlsOptions?.servername,
      tls: {
        rejectUnauthorized: account.tlsOptions?.rejectUnauthorized ?? true,
        ...(ca ? { ca } : {}),
        ...(account.tlsOptions?.servername ? { servername: account.tlsOptions.servername } : {}),
        minVersion: 'TLSv1.2',
      },
      auth: oauthMechanism
        ? { user: account.auth.user, accessToken: options.accessToken ?? '' }
        : { user: account.auth.user, pass: options.password ?? '', loginMethod },
      logger: flowLogger(trace, options.logger, redact),
      // COMPRESS would put a zlib stream between the socket and the parser; the
      // fast fetch path reads the socket directly and is measured without it.
      disableCompression: true,
      // No ENABLE (CONDSTORE, UTF8=ACCEPT) after login: Postroom uses neither, and the
      // round trip is part of every poll, the empty ones included. HIGHESTMODSEQ still
      // arrives with EXAMINE/SELECT (RFC 7162 3.1.2.1); mailbox names stay modified UTF-7.
      disableAutoEnable: true,
      connectionTimeout: options.connectionTimeoutMs ?? 30_000,
      greetingTimeout: options.greetingTimeoutMs ?? 16_000,
      // No response line and no literal that is not a body may be larger than
      // maxLineBytes; bodies are read by the fast path, bounded by their size.
      maxLineLength: limits.maxLineBytes,
      maxLiteralSize: limits.maxLineBytes,
      maxResponseSize: 2 * limits.maxLineBytes + 64 * 1024,
      // Each token costs about a hundred bytes of heap while a response is parsed.
      maxResponseTokens: 100_000,
      // RFC 2971 ID: who is talking is Postroom, not the library underneath (whose
      // defaults would name its own version and support address).
      clientInfo: {
        name: 'postroom',
        version: POSTROOM_VERSION,
        vendor: 'postroom',
        'support-url': undefined,
      },
      ...extra,
    };
    const client = new ImapFlow(flowOptions);
    sendIdOnce(client);
    if (oauthMechanism) pinOAuthMechanism(client, oauthMechanism, account.id);
    // An 'error' event without a listener would crash the process; failures are
    // reported through the promises (connect() and each command) instead.
    client.on('error', () => undefined);
    const watchdog = new Watchdog(client, {
      account: account.id,
      deadline,
      stallMs: limits.stallSeconds * 1000,
      onTrip: () => client.close(),
    });
    watchdog.busy(`connect and login to ${account.host}:${account.port}`);
    const tripped = watchdog.whenTripped();
    tripped.catch(() => undefined);
    try {
      // A flooded client may go on parsing its backlog after close(): the bound's reason does not wait for it.
      await Promise.race([client.connect(), tripped]);
      watchdog.idle();
      return { client, watchdog };
    } catch (error) {
      watchdog.stop();
      client.close();
      throw watchdog.reason ?? error;
    }
  };

  try {
    return await attempt(account.auth.method === 'plain' ? 'AUTH=PLAIN' : 'LOGIN');
  } catch (error) {
    // `method: login` means LOGIN, or AUTHENTICATE PLAIN where the server disabled LOGIN (RFC 3501 7.2.1 LOGINDISABLED).
    if (account.auth.method === 'login' && /login is disabled/i.test((error as Error)?.message ?? '')) {
      try {
        return await attempt('AUTH=PLAIN');
      } catch (retryError) {
        throw connectError(retryError, ctx, secret);
      }
    }
    throw connectError(error, ctx, secret);
  }
}

/** The secret the session logs in with: the password, or the OAuth2 access token. */
export function credential(options: Pick<ConnectMailServerOptions, 'password' | 'accessToken'>): string {
  return options.accessToken ?? options.password ?? '';
}
