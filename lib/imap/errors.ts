/**
 * Turning what ImapFlow, Node's sockets and TLS throw into `ImapError`s whose
 * message is one short line naming the account and the server's answer, e.g.
 * `account support: authentication failed: [AUTHENTICATIONFAILED] Authentication failed.`
 * Credentials never reach these messages: only the server's text, Node's error
 * code and our own words are used.
 */
import type { ImapLimits } from '../config/schema.ts';
import { ImapError, type ImapFailure } from '../errors.ts';
import { isTransientAnswer, transientHint } from './provider-answers.ts';

/** The fields of ImapFlow and Node errors we read (all optional: anything may be thrown). */
interface ErrorShape {
  message?: unknown;
  code?: unknown;
  response?: unknown;
  responseText?: unknown;
  responseStatus?: unknown;
  serverResponseCode?: unknown;
  authenticationFailed?: unknown;
  tlsFailed?: unknown;
  cause?: unknown;
}

/** Node's TLS verification codes (`err.code`) and a few socket-level TLS failures. */
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_UNSUPPORTED_PROTOCOL',
  'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
  'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
  'EPROTO',
]);

/** Socket errors that mean "could not reach the server". */
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'CONNECT_TIMEOUT',
  'GREETING_TIMEOUT',
  'EADDRNOTAVAIL',
]);

/** ImapFlow's codes for a session that went away. */
const LOST_CODES = new Set([
  'NoConnection',
  'EConnectionClosed',
  'StateLogout',
  'ClosedAfterConnectText',
  'ClosedAfterConnectTLS',
  'ECONNRESET',
  'EPIPE',
  'ETIMEOUT',
]);

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  return undefined;
}

/** One line, bounded: server texts can be long or carry control characters. */
export function oneLine(value: string, max = 300): string {
  const flat = value
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/\s{2,}/g, ' ')
    .trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** The server's answer as `[CODE] text`, when the error carries one. */
export function serverAnswer(error: unknown): string | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const e = error as ErrorShape;
  const responseText = text(e.responseText) ?? text(e.response);
  const code = typeof e.serverResponseCode === 'string' ? e.serverResponseCode : responseCode(e.response);
  if (!responseText && !code) return undefined;
  let answer = responseText ? oneLine(responseText) : '';
  // ImapFlow's `response` is sometimes the whole tagged line ("A2 NO [CODE] text"): keep the text.
  answer = answer.replace(/^[A-Za-z0-9]+ (?:NO|BAD) /, '');
  if (code && !answer.includes(`[${code}]`)) answer = `[${code}] ${answer}`.trim();
  return answer || undefined;
}

/** The response code (`NONEXISTENT`, RFC 5530) of a parsed ImapFlow response, if any. */
function responseCode(response: unknown): string | undefined {
  const section = (response as { attributes?: { section?: { value?: unknown }[] }[] } | undefined)
    ?.attributes?.[0]?.section;
  const value = Array.isArray(section) ? section[0]?.value : undefined;
  return typeof value === 'string' ? value.toUpperCase() : undefined;
}

function errorCode(error: unknown): string | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const code = (error as ErrorShape).code;
  return typeof code === 'string' ? code : undefined;
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error && typeof error === 'object' && typeof (error as ErrorShape).message === 'string')
    return (error as { message: string }).message;
  return String(error);
}

/** Node wraps multi-address connect failures in an AggregateError; the first member says why. */
function innermost(error: unknown): unknown {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors[0];
  return error;
}

/** Whether an error is a TLS failure (handshake or certificate verification). */
export function isTlsFailure(error: unknown): boolean {
  const inner = innermost(error);
  const code = errorCode(inner);
  if (code && (TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')))
    return true;
  return Boolean((inner as ErrorShape | undefined)?.tlsFailed) && !/STARTTLS/i.test(errorMessage(inner));
}

/**
 * True for answers that mean "not now" rather than "no": the RFC 5530 codes
 * LIMIT and UNAVAILABLE, Gmail's THROTTLED, and Microsoft 365's words for a
 * throttled or not yet ready mailbox (`provider-answers.ts`).
 */
function busyServer(error: unknown): boolean {
  const code = (error as { serverResponseCode?: unknown } | undefined)?.serverResponseCode;
  if (typeof code === 'string' && /^(LIMIT|UNAVAILABLE|THROTTLED)$/i.test(code)) return true;
  return isTransientAnswer(serverAnswer(error) ?? '');
}

/** ImapFlow's codes for input its parser refused by the limits it was given. */
const LIMIT_CODES: Record<string, string> = {
  LineTooLarge: 'a response line longer',
  LiteralTooLarge: 'a literal larger',
  ResponseTooLarge: 'a response larger',
  TooManyTokens: 'a response with more parts',
};

/**
 * The `IMAP_LIMIT` error for input the parser refused (a line or literal over
 * `limits.maxLineBytes`), or undefined when `error` is something else.
 */
export function limitError(
  error: unknown,
  account: string,
  limits: Pick<Required<ImapLimits>, 'maxLineBytes'>,
): ImapError | undefined {
  if (error instanceof ImapError) return error.code === 'IMAP_LIMIT' ? error : undefined;
  const code = errorCode(innermost(error));
  const what = code ? LIMIT_CODES[code] : undefined;
  if (!what) return undefined;
  return imapError(
    'IMAP_LIMIT',
    account,
    `the server sent ${what} than this account's limits allow (maxLineBytes ${limits.maxLineBytes}); the session was closed (${code})`,
    { cause: error, retryable: false, code },
  );
}

/** Context for error messages; `account` is the account id. */
export interface ErrorContext {
  account: string;
  host: string;
  port: number;
}

/**
 * Classifies an error raised while connecting and logging in. `password` is only
 * used to make sure it never appears in the resulting message.
 */
export function connectError(
  error: unknown,
  ctx: ErrorContext & { limits?: Pick<Required<ImapLimits>, 'maxLineBytes'> },
  password?: string,
): ImapError {
  if (error instanceof ImapError) return error;
  const limit = ctx.limits ? limitError(error, ctx.account, ctx.limits) : undefined;
  if (limit) return limit;
  const inner = innermost(error);
  const code = errorCode(inner);
  const message = errorMessage(inner);
  const where = `${ctx.host}:${ctx.port}`;
  let failure: ImapFailure;
  let line: string;
  let retryable = false;
  if ((inner as ErrorShape | undefined)?.tlsFailed && /STARTTLS/i.test(message)) {
    failure = 'STARTTLS_UNAVAILABLE';
    line = `server ${where} does not offer STARTTLS (refusing to continue in plaintext): ${oneLine(message)}`;
  } else if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(message)) {
    // OpenSSL's words for a TLS handshake answered by a plaintext IMAP greeting.
    failure = 'TLS_FAILED';
    line = `port ${ctx.port} of ${ctx.host} answered in plaintext, not TLS: use tls: starttls for a port that offers STARTTLS (usually 143), or tls: false on loopback (${code ?? 'wrong version number'})`;
  } else if (isTlsFailure(inner)) {
    failure = 'TLS_FAILED';
    line = `TLS failed: ${oneLine(message)}${code && !message.includes(code) ? ` (${code})` : ''}`;
  } else if (busyServer(inner)) {
    // RFC 5530 LIMIT / UNAVAILABLE: the server is refusing for now (too many
    // connections, maintenance), not rejecting the credentials. ImapFlow marks it
    // as an authentication failure; it is a retryable condition.
    failure = 'SERVER_BUSY';
    retryable = true;
    line = `server ${where} refused the login for now (${transientHint(serverAnswer(inner) ?? '')}): ${serverAnswer(inner) ?? oneLine(message)}`;
  } else if (
    (inner as ErrorShape | undefined)?.authenticationFailed ||
    inner?.constructor?.name === 'AuthenticationFailure'
  ) {
    failure = 'AUTH_FAILED';
    line = `authentication failed: ${serverAnswer(inner) ?? oneLine(message)}`;
  } else if (code && CONNECT_CODES.has(code)) {
    failure = 'CONNECT_FAILED';
    retryable = true;
    line = `cannot connect to ${where} (${code})`;
  } else if (code && LOST_CODES.has(code)) {
    failure = 'CONNECTION_LOST';
    retryable = true;
    line = `connection to ${where} lost: ${oneLine(message)}`;
  } else {
    failure = 'CONNECT_FAILED';
    retryable = true;
    line = `cannot connect to ${where}: ${serverAnswer(inner) ?? oneLine(message)}${code && !message.includes(code) ? ` (${code})` : ''}`;
  }
  return imapError(failure, ctx.account, line, { cause: error, retryable, password, code });
}

/**
 * Classifies an error raised by a command (`what` names it, e.g. `EXAMINE "Nope"`).
 * A lost connection becomes CONNECTION_LOST; a tagged NO/BAD COMMAND_FAILED.
 */
export function commandError(error: unknown, account: string, what: string, password?: string): ImapError {
  if (error instanceof ImapError) return error;
  const code = errorCode(error);
  const answer = serverAnswer(error);
  if (answer && busyServer(error)) {
    // Throttled (Microsoft 365's "Request is throttled", "Server Unavailable"): try later, not a refusal.
    return imapError(
      'SERVER_BUSY',
      account,
      `${what} refused for now (${transientHint(answer)}): ${answer}`,
      {
        cause: error,
        retryable: true,
        password,
        code,
      },
    );
  }
  if (code && LOST_CODES.has(code)) {
    return imapError(
      'CONNECTION_LOST',
      account,
      `connection lost during ${what}: ${oneLine(errorMessage(error))}`,
      {
        cause: error,
        retryable: true,
        password,
        code,
      },
    );
  }
  return imapError('COMMAND_FAILED', account, `${what} failed: ${answer ?? oneLine(errorMessage(error))}`, {
    cause: error,
    password,
    code,
  });
}

/** Builds the ImapError, scrubbing `password` from the message should a server echo it. */
export function imapError(
  failure: ImapFailure,
  account: string,
  line: string,
  options: {
    cause?: unknown;
    retryable?: boolean;
    password?: string;
    code?: string;
    context?: Record<string, unknown>;
  } = {},
): ImapError {
  let message = `account ${account}: ${line}`;
  if (options.password && options.password.length > 0) message = message.split(options.password).join('***');
  return new ImapError(failure, message, {
    // The cause may hold the command that failed (with its arguments): keep only safe fields.
    cause: options.cause === undefined ? undefined : safeCause(options.cause, options.password),
    retryable: options.retryable ?? (failure === 'CONNECTION_LOST' || failure === 'CONNECT_FAILED'),
    context: { account, ...(options.code ? { imapCode: options.code } : {}), ...options.context },
  });
}

/** A copy of the cause with message and code only, so nothing a library attached can leak. */
function safeCause(cause: unknown, password?: string): Error {
  const message = errorMessage(cause);
  const scrubbed = password ? message.split(password).join('***') : message;
  const copy = new Error(scrubbed);
  const code = errorCode(cause);
  if (code) (copy as Error & { code?: string }).code = code;
  copy.name = cause instanceof Error ? cause.name : 'Error';
  return copy;
}
