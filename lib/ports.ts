/**
 * The ports: what the use cases in `lib/core/` need from the outside world,
 * shaped around those needs rather than around any SDK. Each port has an AWS
 * adapter (`lib/adapters/aws/`) and a local one (`lib/adapters/local/`), and
 * one contract suite in `test/` runs over both.
 */
import type { Readable } from 'node:stream';
import type * as z from 'zod';
import type { AccountConfig, StoreConfig } from './config/schema.ts';
import type { queueMessageSchema } from './core/queue-message.ts';

/**
 * The queue message contract (DESIGN.md, "Queue message"), as its zod schema
 * in `core/queue-message.ts` validates it: the schema is the one source, these
 * types are read from it. The raw message never travels in the queue: `blob`
 * points at it. (A type import: nothing here builds the schema.)
 */
export type QueueMessage = z.infer<typeof queueMessageSchema>;

/** The envelope fields carried in every queue message. */
export type Envelope = QueueMessage['envelope'];

/** A mailbox address as it travels in queue messages and events. */
export type Address = Envelope['from'][number];

/** Where a raw message (or an exported attachment) is stored. */
export type BlobLocation = QueueMessage['blob'];

/** Identifies one message on one server for its lifetime (until UIDVALIDITY changes). */
export interface MessageRef {
  account: string;
  mailbox: string;
  uidValidity: number;
  uid: number;
}

/**
 * Bytes held in memory: one buffer, or the pieces the bytes arrived in, in
 * order. The IMAP adapter hands a message that spans several socket reads on
 * as those reads' slices rather than copying them into one new buffer: that
 * copy was half of everything a poller allocated (helpers in `held-bytes.ts`).
 */
export type HeldBytes = Uint8Array | readonly Uint8Array[];

export interface PutBlobOptions {
  /** Known length in bytes; lets adapters choose single-part vs multipart. */
  contentLength?: number;
  contentType?: string;
}

/** Object storage for raw messages and exported attachments. Puts are idempotent by key. */
export interface BlobStore {
  /** Stores `body` under `key`, replacing what was there. Resolves once the bytes are durable. */
  put(key: string, body: Readable | HeldBytes, options?: PutBlobOptions): Promise<BlobLocation>;
  /** Streams the blob back; rejects with `BlobNotFoundError` when there is none. */
  get(key: string): Promise<Readable>;
  /**
   * A stored message's header block: its bytes up to and including the blank
   * line that ends the header, read no further than that (and at most
   * `maxBytes`: a longer header comes back cut there; a message without a
   * body, whole). Rejects with `BlobNotFoundError` when there is none.
   * Optional: without it callers read `get` until the blank line.
   */
  getHead?(key: string, maxBytes: number): Promise<Uint8Array>;
  exists(key: string): Promise<boolean>;
  /**
   * The blobs whose keys start with `prefix`, in no promised order (`postroom
   * replay` finds a mailbox's stored mail this way). Optional: a store that
   * cannot list leaves replay unavailable.
   */
  list?(prefix: string): AsyncIterable<BlobEntry>;
  /**
   * Makes every blob put so far durable, where puts alone do not (the local
   * folder defers its fsyncs to one flush per batch). Called before the queue
   * learns of the blobs.
   */
  flush?(): Promise<void>;
}

/** One stored blob, as {@link BlobStore.list} names it. */
export interface BlobEntry {
  key: string;
  size: number;
  /** When it was last written. */
  modifiedAt: Date;
}

/** The sending side of the ingest queue (what pollers need). */
export interface Queue {
  /**
   * Sends every message or throws: a partial failure is an error naming the
   * messages that were not accepted, so the caller does not move its checkpoint.
   * Re-sending the same message is harmless (deduplication id / primary key).
   */
  sendBatch(messages: QueueMessage[]): Promise<void>;
}

/** A message received from a queue that the consumer must ack or release. */
export interface ReceivedMessage {
  /** Opaque handle for `ack`/`release`. */
  receipt: string;
  body: QueueMessage;
  /** How many times this message has been received, this time included. */
  receiveCount: number;
}

/** The receiving side, for the local driver (in AWS, Lambda's event source does this). */
export interface QueueConsumer {
  /** Receives up to `max` visible messages and hides them for `visibilityTimeoutMs`. */
  receive(max: number, visibilityTimeoutMs?: number): Promise<ReceivedMessage[]>;
  /** Deletes a processed message. */
  ack(receipt: string): Promise<void>;
  /**
   * `ack` for many in one write (locally one commit). The ones it can delete
   * are deleted even when another receipt is stale, which it then throws for.
   * Optional: without it callers ack one by one.
   */
  ackAll?(receipts: readonly string[]): Promise<void>;
  /**
   * Makes a failed message visible again, or moves it to the dead-letter store
   * with `reason` once it has been received `maxReceives` times. Says which
   * it did where the queue can tell (undefined: it cannot, counts as released).
   */
  release(receipt: string, reason: string): Promise<ReleaseOutcome | undefined>;
}

/** What {@link QueueConsumer.release} did with a failed message. */
export type ReleaseOutcome = 'released' | 'dead-lettered';

/** Where a poller stopped in one mailbox (DESIGN.md, "Checkpoint"). */
export interface Checkpoint {
  uidValidity: number;
  lastUid: number;
  uidNext: number;
  highestModSeq?: string;
}

/**
 * How the last polls of one mailbox went, for `postroom status`: written by
 * the poller after each mailbox, kept beside the checkpoint.
 */
export interface PollRecord {
  /** The last poll that finished without an error, ISO 8601. */
  lastSuccessAt?: string;
  /** The last poll that failed, ISO 8601, and its one-line reason. */
  lastErrorAt?: string;
  lastError?: string;
}

/** Per (account, mailbox) progress. Writes are conditional and only move forward. */
export interface CheckpointStore {
  get(account: string, mailbox: string): Promise<Checkpoint | undefined>;
  /**
   * Replaces `previous` (undefined: there was none) with `next`. Throws
   * `CheckpointConflictError` when the stored checkpoint is not `previous` (another
   * poller moved it) or when `next` would move `lastUid` backwards within the same
   * UIDVALIDITY.
   */
  advance(
    account: string,
    mailbox: string,
    next: Checkpoint,
    previous: Checkpoint | undefined,
  ): Promise<void>;
  /**
   * Notes how a poll of the mailbox ended: `error` undefined for a success.
   * Optional (a store without it leaves `postroom status` without poll times).
   */
  recordPoll?(account: string, mailbox: string, at: Date, error?: string): Promise<void>;
  /** What {@link recordPoll} kept for the mailbox. */
  pollRecord?(account: string, mailbox: string): Promise<PollRecord | undefined>;
}

/**
 * A per-mailbox lease, so two pollers of the same mailbox never run at once.
 * A lease expires on its own after `ttlMs` so a crashed poller does not block forever.
 */
export interface LeaseStore {
  /** True when `owner` now holds the lease (free, expired, or already its own). */
  acquire(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Extends a lease `owner` holds; false when it was lost. */
  renew(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Releases the lease if `owner` holds it; otherwise does nothing. */
  release(name: string, owner: string): Promise<void>;
  /**
   * Who holds the lease now, or undefined when it is free or expired: what a
   * poll that skipped a held mailbox reports. Optional, so a store that cannot
   * tell may leave it out.
   */
  holder?(name: string): Promise<LeaseHolder | undefined>;
}

/** The holder of a lease, as {@link LeaseStore.holder} reads it. */
export interface LeaseHolder {
  owner: string;
  /** When the lease expires unless renewed, epoch ms. */
  expiresAt: number;
}

/**
 * The connection budget: at most `limit` IMAP sessions at once per key (one
 * key per host and user), across processes and Lambdas. A slot is one of
 * `limit` numbered places; it expires on its own after `ttlMs`, so a holder
 * that crashed or froze does not keep it for ever.
 */
export interface ConnectionSlots {
  /** Takes a free (or expired) slot for `holder`; undefined when `limit` are held. */
  tryAcquire(key: string, limit: number, holder: string, ttlMs: number): Promise<number | undefined>;
  /** Extends a slot `holder` holds; false when it was lost (expired and taken, or released). */
  renew(key: string, slot: number, holder: string, ttlMs: number): Promise<boolean>;
  /** Frees the slot if `holder` holds it; otherwise does nothing. */
  release(key: string, slot: number, holder: string): Promise<void>;
  /** How many slots of `key` are held now (not expired): what a refusal reports. */
  held(key: string): Promise<number>;
  /** Says a session waits for a slot of `key`, until `untilMs`: holders of idle pooled sessions that see it give theirs up. */
  want(key: string, untilMs: number): Promise<void>;
  /** Whether a session waits for a slot of `key` now. */
  wanted(key: string): Promise<boolean>;
}

/**
 * Fingerprints (Message-ID + internal date + size) of delivered messages, so a
 * rescan after a UIDVALIDITY change recognises mail that was already delivered.
 */
export interface DeliveryLog {
  /** Returns the subset of `fingerprints` already recorded for this mailbox. */
  findDelivered(account: string, mailbox: string, fingerprints: string[]): Promise<Set<string>>;
  record(account: string, mailbox: string, fingerprints: string[]): Promise<void>;
}

/**
 * Completed effects, so a redelivered message does not act twice (effectively
 * once). Keys name (message, rule, action).
 */
export interface IdempotencyStore {
  isDone(key: string): Promise<boolean>;
  markDone(key: string, ttlSeconds?: number): Promise<void>;
  /**
   * Marks every key done in as few writes as the store allows (locally one
   * commit; DynamoDB BatchWriteItem, 25 a call). Throws when it cannot tell
   * that every key was recorded; some may have been. Optional: without it
   * callers mark keys one by one.
   */
  markAllDone?(keys: readonly string[], ttlSeconds?: number): Promise<void>;
  /**
   * The subset of `keys` that is done, in as few reads as the store allows
   * (DynamoDB BatchGetItem, 100 a call). Optional: without it callers ask `isDone`.
   */
  doneAmong?(keys: readonly string[]): Promise<Set<string>>;
}

/** An event for `emit` actions (DESIGN.md, "Event"). */
export interface PostroomEvent {
  source: 'postroom';
  'detail-type': string;
  detail: Record<string, unknown>;
}

/** An event and the idempotency key of the (message, rule, action) that emits it. */
export interface RecordedEvent {
  key: string;
  event: PostroomEvent;
}

export interface EventSink {
  emit(events: PostroomEvent[]): Promise<void>;
  /**
   * Emits the events and marks each key done in the IdempotencyStore in one
   * commit, so that no crash doubles or drops an event (exactly once). Only a
   * sink that shares a transaction with the store has it (locally: an outbox
   * table in the same SQLite database). Without it, the consumer emits and
   * then marks each key done: at least once, each event with its stable `id`.
   */
  emitRecorded?(events: RecordedEvent[], ttlSeconds?: number): Promise<void>;
}

/** Where a message sits on the server, as returned by the metadata fetch. */
export interface MessageMeta {
  uid: number;
  size: number;
  internalDate: Date;
  flags: string[];
  /** Present when asked for (`envelope` or `messageId` in `MetaFields`) and the message has one. */
  messageId?: string;
  /** Present when asked for (`envelope` in `MetaFields`). */
  envelope?: Envelope;
  /** Gmail's message id, thread id and labels, on a server with X-GM-EXT-1 (`lib/imap/provider.ts`). */
  gmail?: GmailFacts;
}

/** What Gmail says about a message (X-GM-MSGID, X-GM-THRID, X-GM-LABELS), as the queue message carries it. */
export type GmailFacts = NonNullable<QueueMessage['gmail']>;

/**
 * What `fetchMeta` asks for beyond UID, size, internal date and flags. Ingest
 * asks for neither (it reads both from the header of the body it fetches);
 * a rescan needs Message-IDs before any body, `dry-run` the envelope.
 */
export interface MetaFields {
  /** IMAP ENVELOPE: subject, addresses, date and Message-ID as the server parsed them. */
  envelope?: boolean;
  /** Message-ID read from the header (`BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]`) as ingest reads it. */
  messageId?: boolean;
}

/** Receives one message's raw source from `fetchSources`. */
export type SourceSink = (uid: number, source: HeldBytes | Readable) => Promise<void>;

declare const serverPathBrand: unique symbol;

/**
 * A mailbox name as the server spells it: the personal namespace prefix and
 * the server's delimiter applied (`INBOX.Finance.Invoices`), or a special-use
 * folder's name found by LIST. Config and queue messages carry logical names
 * (`Finance/Invoices`); only the IMAP adapter turns one into the other, and
 * the type keeps a server name from being mapped a second time.
 */
export type ServerPath = string & { readonly [serverPathBrand]: true };

/** What EXAMINE/SELECT (or STATUS) told us about a mailbox. */
export interface MailboxState {
  /** The server's name for the mailbox (namespace and delimiter applied). */
  path: ServerPath;
  /** Never 0: a server that answers UIDVALIDITY 0 is refused (RFC 3501 2.3.1.1). */
  uidValidity: number;
  /**
   * The next UID the server will assign. Where the server leaves UIDNEXT out
   * of its answers (or sends 0), the highest UID in use plus one.
   */
  uidNext: number;
  exists: number;
  highestModSeq?: string;
}

/**
 * One authenticated IMAP session (the `MailServer` port). The poll use case
 * drives it; `lib/imap/` implements it over ImapFlow.
 */
export interface MailServer {
  /** The server's capabilities as read after login. */
  readonly capabilities: ReadonlySet<string>;
  /** EXAMINE (read-only) the logical mailbox name (`/`-separated). */
  examine(mailbox: string): Promise<MailboxState>;
  /** UIDs greater than `afterUid` in the open mailbox (`UID SEARCH UID n:*`, filtered). */
  searchNewerThan(afterUid: number): Promise<number[]>;
  /** UIDs of messages with an internal date on or after `since` (`UID SEARCH SINCE`). */
  searchSince(since: Date): Promise<number[]>;
  /** Size, internal date and flags of the given UIDs (no bodies), plus `fields`. */
  fetchMeta(uids: number[], fields?: MetaFields): Promise<MessageMeta[]>;
  /**
   * Hands the raw source of each UID (`BODY.PEEK[]`: never sets `\Seen`) to
   * `sink`, one message at a time, in UID order, awaiting each call (that is the
   * backpressure). Small messages come as bytes held in memory (one buffer or
   * the pieces they arrived in), many per command; large ones (by `sizes`, from
   * RFC822.SIZE) as a stream the sink must consume before it resolves. UIDs the
   * server no longer has are skipped.
   */
  fetchSources(uids: number[], sizes: ReadonlyMap<number, number>, sink: SourceSink): Promise<void>;
  logout(): Promise<void>;

  // --- acting on messages (the process use case) ---

  /** SELECT (read-write) the logical mailbox name. */
  select(mailbox: string): Promise<MailboxState>;
  /**
   * The server path of a folder target: a logical name mapped to the personal
   * namespace and delimiter, or a special-use folder found by LIST (RFC 6154).
   * With `create`, a missing named folder is created. Undefined: no such folder.
   */
  resolveFolder(target: FolderRef, options: { create: boolean }): Promise<ServerPath | undefined>;
  /** Which of `uids` still exist in the selected mailbox (`UID SEARCH UID set`). */
  existingUids(uids: number[]): Promise<number[]>;
  /** `UID STORE +FLAGS` / `-FLAGS` over the set (one command). */
  addFlags(uids: number[], flags: string[]): Promise<void>;
  removeFlags(uids: number[], flags: string[]): Promise<void>;
  /** `UID COPY` to a server path. */
  copy(uids: number[], path: ServerPath): Promise<void>;
  /**
   * `UID MOVE` when offered; else `UID COPY` + `UID STORE +FLAGS (\Deleted)` +
   * `UID EXPUNGE` (UIDPLUS). Never a plain EXPUNGE: it would also remove what
   * the user marked deleted. Without UIDPLUS the originals stay `\Deleted`.
   */
  move(uids: number[], path: ServerPath): Promise<RemovalOutcome>;
  /** `\Deleted` + `UID EXPUNGE` of exactly these UIDs (UIDPLUS); without UIDPLUS, only `\Deleted`. */
  deleteMessages(uids: number[]): Promise<RemovalOutcome>;
  /** UIDs of messages with this Message-ID in a folder (server path). Opens that folder read-only: select the source again afterwards. */
  findByMessageId(path: ServerPath, messageId: string): Promise<number[]>;

  // --- provider quirks (`lib/imap/provider.ts`); absent on servers that have none ---

  /** Whose quirks the session follows. @default generic */
  readonly provider?: 'gmail' | 'microsoft' | 'generic';
  /** Gmail: `UID STORE +X-GM-LABELS` over the set; present only where the server has X-GM-EXT-1. */
  addLabels?(uids: number[], labels: string[]): Promise<void>;
  /** Gmail: `UID STORE -X-GM-LABELS` over the set. */
  removeLabels?(uids: number[], labels: string[]): Promise<void>;
  /** Flags of the messages in the open mailbox changed since `modSeq` (CONDSTORE `CHANGEDSINCE`). */
  fetchFlagChanges?(modSeq: string): Promise<FlagChange[]>;
}

/** One message's flags as a CONDSTORE fetch reported them. */
export interface FlagChange {
  uid: number;
  /** Without `\\Recent`. */
  flags: string[];
  modSeq?: string;
}

/** What the use case that opens a session tells it about its time. */
export interface SessionOptions {
  /**
   * Epoch ms by which the whole session must have ended (a Lambda's timeout
   * less a margin). The account's `limits.sessionSeconds` applies as well;
   * the earlier wins. Past it the session is closed and the command waiting
   * on it fails with `IMAP_DEADLINE`, naming what it was doing.
   */
  deadline?: number;
}

/** Opens an authenticated session for the account (LOGIN done, capabilities read). */
export type OpenSession = (account: AccountConfig, options?: SessionOptions) => Promise<MailServer>;

/** A logical folder name (`/`-separated) or a special-use attribute such as `\\Junk`. */
export type FolderRef = { path: string } | { specialUse: string };

export interface RemovalOutcome {
  /** True when the messages are gone from the source; false when left marked `\Deleted` (no UIDPLUS). */
  expunged: boolean;
  /** Which commands did it, for results and tests: `move`, `copy+expunge`, `copy+deleted`, `expunge`, `deleted`. */
  method: string;
}

/**
 * The logging port: Powertools' Logger in Lambda, a console logger in the CLI.
 * Attributes are structured; never put secrets or message bodies in them.
 */
export interface Logger {
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

/** A running watch on one mailbox (IMAP IDLE, or the server's fallback). */
export interface MailboxWatch {
  close(): Promise<void>;
}

/** What a mailbox watch tells its owner (`postroom run`'s runner). */
export interface WatchHandlers {
  /** New mail arrived (EXISTS grew). */
  onNewMail(): void;
  /** The connection ended unexpectedly; the runner reconnects with backoff. */
  onLost(error: unknown): void;
}

/** One signed webhook delivery (the `webhook` action). */
export interface WebhookRequest {
  url: string;
  secret: string;
  body: unknown;
  /** Stable for one (message, rule, action): the same on every retry and redelivery. */
  deliveryId: string;
  /** @default 10000 */
  timeoutMs?: number;
  /** Retries after the first attempt. @default 3 */
  retries?: number;
}

export interface WebhookResult {
  status: number;
  attempts: number;
}

/** Delivers a webhook or throws once its retries are spent (`lib/adapters/webhook-sender.ts`). */
export type WebhookSender = (request: WebhookRequest) => Promise<WebhookResult>;

/** The local queue's receiving side, with the counts `postroom` reports. */
export type LocalQueueConsumer = QueueConsumer & {
  stats(): { queued: number; inFlight: number; deadLetter: number };
};

/** An OAuth2 access token for an account, and whether it was fetched just now (not from the cache). */
export interface AccessToken {
  value: string;
  fresh: boolean;
}

/** Access tokens for accounts that log in with `method: xoauth2` or `oauthbearer`. */
export interface AccessTokenSource {
  /**
   * A token valid for a while yet: from the cache, or from the token endpoint
   * (one request in flight per account). `rejected`: the server refused this
   * token, so it is not served again.
   */
  accessToken(account: AccountConfig, options?: { rejected?: string }): Promise<AccessToken>;
}

/**
 * Keeps the refresh tokens an endpoint rotated (a new `refresh_token` in a
 * token response): locally the state store, in AWS the secret itself.
 */
export interface RefreshTokenStore {
  /** The refresh token to use: the one kept for `configured` (the value the config's reference gave), or `configured` itself. */
  current(account: AccountConfig, configured: string): Promise<string>;
  /** Keeps `next`, which replaces the token issued from `configured`. */
  rotate(account: AccountConfig, configured: string, next: string): Promise<void>;
}

/** One message in a dead-letter store, as `postroom dead-letters` shows it. */
export interface DeadLetterEntry {
  /** The store's id: the local row id, or the SQS message id. */
  id: string;
  /** The queue message, when its body could be read. */
  body?: QueueMessage;
  /** Why it was given up on, where the store records it (SQS does not). */
  reason?: string;
  /** Receives before it was given up on. */
  receiveCount: number;
  /** When it was dead-lettered (locally) or first sent (SQS), ISO 8601. */
  failedAt?: string;
}

/** Where retried and dropped dead letters went. */
export interface DeadLetterMoves {
  /** Ids done. */
  done: string[];
  /** Ids asked for that are not (or no longer) in the store. */
  missing: string[];
}

/** The dead letters of the ingest queue: the local table, or the SQS dead-letter queue. */
export interface DeadLetterStore {
  /** Up to `limit` dead letters, oldest first where the store can tell. */
  list(limit: number): Promise<DeadLetterEntry[]>;
  get(id: string): Promise<DeadLetterEntry | undefined>;
  /** Moves them back to the main queue with a fresh receive count (every one when `ids` is omitted). */
  retry(ids?: string[]): Promise<DeadLetterMoves>;
  /** Deletes them for good. */
  drop(ids: string[]): Promise<DeadLetterMoves>;
}

/** Queue depth for `postroom status`. */
export interface QueueDepth {
  /** Waiting to be received. */
  queued: number;
  /** Received and not yet acked or released. */
  inFlight: number;
  deadLetters: number;
  /** Per `account\0mailbox`, where the queue can count by mailbox (the local one). */
  byMailbox?: Map<string, { queued: number; inFlight: number; deadLetters: number }>;
  /** What the figures are and where they came from, when it needs saying (SQS: approximate). */
  note?: string;
}

/** Reads the queue's depth (`postroom status`). */
export interface QueueInspector {
  depth(): Promise<QueueDepth>;
}

/** One set of stores, AWS or local, as the composition root binds them (`lib/composition/`). */
export interface Stores {
  kind: StoreConfig['kind'];
  blobs: BlobStore;
  queue: Queue;
  /** Only for the local queue: in AWS, Lambda's SQS event source receives. */
  consumer?: LocalQueueConsumer;
  checkpoints: CheckpointStore;
  leases: LeaseStore;
  /** The connection budget's slots. @default no budget across processes (only this process's own) */
  slots?: ConnectionSlots;
  deliveries: DeliveryLog;
  idempotency: IdempotencyStore;
  events: EventSink;
  /** Local only: where `emit` writes (`<store dir>/events.jsonl`). */
  eventsFile?: string;
  /** Where rotated OAuth2 refresh tokens are kept. @default kept in memory only */
  refreshTokens?: RefreshTokenStore;
  /** The queue's dead letters (`postroom dead-letters`). */
  deadLetters?: DeadLetterStore;
  /** The queue's depth (`postroom status`). */
  queueInspector?: QueueInspector;
}

/** A logger that drops everything (the default where none is injected). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
