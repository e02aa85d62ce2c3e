/** Completed effects in the local SQLite database, with optional expiry. */
import type Database from 'better-sqlite3';
import type { IdempotencyStore } from '../../ports.ts';
import type { SqliteStoreOptions } from './sqlite-checkpoint-store.ts';

/** Tuning for `SqliteIdempotencyStore`. */
export interface SqliteIdempotencyStoreOptions extends SqliteStoreOptions {
  /** Expiry for `markDone` calls that give none. @default undefined (kept until purged) */
  defaultTtlSeconds?: number;
}

/** `IdempotencyStore` over SQLite (table `idempotency_records`, `expires_at` in epoch ms or NULL). */
export class SqliteIdempotencyStore implements IdempotencyStore {
  readonly #clock: () => number;
  readonly #defaultTtlSeconds: number | undefined;
  readonly #isDone;
  readonly #markDone;
  readonly #purge;
  readonly #markAll: Database.Transaction<(keys: readonly string[], ttlSeconds: number | undefined) => void>;

  constructor(options: SqliteIdempotencyStoreOptions) {
    const { db } = options;
    this.#clock = options.clock ?? Date.now;
    this.#defaultTtlSeconds = options.defaultTtlSeconds;
    db.exec(`CREATE TABLE IF NOT EXISTS idempotency_records (
      key TEXT PRIMARY KEY NOT NULL,
      done_at INTEGER NOT NULL,
      expires_at INTEGER
    ) WITHOUT ROWID`);
    this.#isDone = db
      .prepare<[string, number], number>(
        'SELECT 1 FROM idempotency_records WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)',
      )
      .pluck();
    this.#markDone = db.prepare<[string, number, number | null]>(
      `INSERT INTO idempotency_records (key, done_at, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET done_at = excluded.done_at, expires_at = excluded.expires_at`,
    );
    this.#purge = db.prepare<[number]>('DELETE FROM idempotency_records WHERE expires_at <= ?');
    // One commit (one fsync of the WAL) for a whole batch's records, not one per record.
    this.#markAll = db.transaction((keys: readonly string[], ttlSeconds: number | undefined) => {
      for (const key of keys) this.markDoneSync(key, ttlSeconds);
    });
  }

  async isDone(key: string): Promise<boolean> {
    return this.#isDone.get(key, this.#clock()) !== undefined;
  }

  async doneAmong(keys: readonly string[]): Promise<Set<string>> {
    const now = this.#clock();
    return new Set(keys.filter((key) => this.#isDone.get(key, now) !== undefined));
  }

  async markDone(key: string, ttlSeconds?: number): Promise<void> {
    this.markDoneSync(key, ttlSeconds);
  }

  async markAllDone(keys: readonly string[], ttlSeconds?: number): Promise<void> {
    if (keys.length > 0) this.#markAll.immediate(keys, ttlSeconds);
  }

  /** `markDone` inside a caller's transaction on the same database (the event outbox). */
  markDoneSync(key: string, ttlSeconds?: number): void {
    const now = this.#clock();
    const ttl = ttlSeconds ?? this.#defaultTtlSeconds;
    if (ttl !== undefined && !(ttl > 0)) throw new RangeError(`ttlSeconds must be positive, got ${ttl}`);
    this.#markDone.run(key, now, ttl === undefined ? null : now + ttl * 1000);
  }

  /** Deletes expired records; returns how many. Housekeeping only: expired records already count as not done. */
  purgeExpired(): number {
    return this.#purge.run(this.#clock()).changes;
  }
}
