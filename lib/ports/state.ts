/**
 * The state stores: checkpoints, leases, connection slots, the delivery log
 * and idempotency keys, which keep polling and processing exactly-once-ish.
 */
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
