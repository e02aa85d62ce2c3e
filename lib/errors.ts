/**
 * One base error with a stable string `code`: `instanceof` does not survive a
 * queue hop or a log line, the code does. Context fields never carry
 * credentials or message bodies.
 */
export class PostroomError extends Error {
  readonly code: string;
  /** True when trying again later may succeed (network, throttling, a held lease). */
  readonly retryable: boolean;
  readonly context: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    options: { cause?: unknown; retryable?: boolean; context?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PostroomError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.context = options.context ?? {};
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...this.context,
    };
  }
}

/** The config file is missing, unreadable or invalid. `problems` are `path: message` lines. */
export class ConfigError extends PostroomError {
  readonly problems: string[];
  constructor(message: string, problems: string[] = [], options: { cause?: unknown } = {}) {
    super('CONFIG_INVALID', message, options);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** A secret reference could not be resolved (unset env var, missing secret). */
export class SecretError extends PostroomError {
  constructor(message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super('SECRET_UNRESOLVED', message, options);
    this.name = 'SecretError';
  }
}

/**
 * Getting an OAuth2 access token failed. `OAUTH_FAILED`: the token endpoint
 * refused (`invalid_grant`, consent required, a wrong tenant): only a person
 * can fix it. `OAUTH_UNAVAILABLE`: it could not be reached or answered 5xx/429:
 * later may work. The message names the account, the endpoint and its answer,
 * never a token or secret.
 */
export class OAuthError extends PostroomError {
  constructor(
    code: 'OAUTH_FAILED' | 'OAUTH_UNAVAILABLE',
    message: string,
    options: { cause?: unknown; context?: Record<string, unknown> } = {},
  ) {
    super(code, message, { ...options, retryable: code === 'OAUTH_UNAVAILABLE' });
    this.name = 'OAuthError';
  }
}

export type ImapFailure =
  | 'AUTH_FAILED'
  | 'CONNECT_FAILED'
  | 'TLS_FAILED'
  | 'STARTTLS_UNAVAILABLE'
  | 'MAILBOX_NOT_FOUND'
  | 'COMMAND_FAILED'
  | 'CONNECTION_LOST'
  /** The server said LIMIT or UNAVAILABLE (RFC 5530), or a provider's throttling answer (`imap/provider-answers.ts`): try later. */
  | 'SERVER_BUSY'
  /** Every slot of the account's connection budget (`maxConnections`) stayed in use until the session's deadline. */
  | 'CONNECTION_BUDGET'
  /** The session's time (`limits.sessionSeconds` or the caller's deadline) ran out. */
  | 'IMAP_DEADLINE'
  /** A command got no byte from the server for `limits.stallSeconds`. */
  | 'IMAP_STALLED'
  /** The server sent more than `limits` allow: a line or literal too long, a body over its size. */
  | 'IMAP_LIMIT'
  /** The server broke the protocol in a way that would lose or mix up mail (UIDVALIDITY 0, a UID that does not answer). */
  | 'IMAP_PROTOCOL';

/** The IMAP server refused or dropped us. The message names the account and the server's answer. */
export class ImapError extends PostroomError {
  constructor(
    code: ImapFailure,
    message: string,
    options: { cause?: unknown; retryable?: boolean; context?: Record<string, unknown> } = {},
  ) {
    super(code, message, options);
    this.name = 'ImapError';
  }
}

/** Another poller moved the checkpoint, or a write would have moved it backwards. */
export class CheckpointConflictError extends PostroomError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('CHECKPOINT_CONFLICT', message, { retryable: true, context });
    this.name = 'CheckpointConflictError';
  }
}

export class BlobNotFoundError extends PostroomError {
  constructor(key: string, options: { cause?: unknown } = {}) {
    super('BLOB_NOT_FOUND', `no blob at ${key}`, { ...options, context: { key } });
    this.name = 'BlobNotFoundError';
  }
}

/** Some messages of a batch were not accepted by the queue; none of the batch counts as sent. */
export class QueueSendError extends PostroomError {
  constructor(message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super('QUEUE_SEND_FAILED', message, { ...options, retryable: true });
    this.name = 'QueueSendError';
  }
}

/**
 * What a Postroom error keeps through a JSON round trip (`toJSON`), a log line
 * or another copy of this module: its string `code` and `message`.
 */
export interface PostroomErrorLike {
  code: string;
  message: string;
  name?: string;
  retryable?: boolean;
}

/**
 * True for any error carrying a Postroom `code`, decided by the code rather
 * than by `instanceof`, so it holds after JSON round trips and across module
 * copies. Node's system errors carry a string code as well (`ENOENT`); callers
 * compare codes, so they are told apart by those.
 */
export function isPostroomError(error: unknown): error is PostroomErrorLike {
  if (error instanceof PostroomError) return true;
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return typeof code === 'string' && code !== '' && typeof message === 'string';
}

/** Any thrown value as a code and one line of text, for results and logs. */
export function describeError(error: unknown): { code: string; message: string } {
  if (isPostroomError(error)) return { code: error.code, message: error.message };
  if (error instanceof Error) return { code: error.name, message: error.message };
  return { code: 'UNKNOWN', message: String(error) };
}
