/**
 * Leases in the local SQLite database. Each transition is one statement (an
 * upsert guarded by a WHERE clause), atomic even across processes sharing the file.
 */
import type { LeaseStore } from '../../ports.ts';
import type { SqliteStoreOptions } from './sqlite-checkpoint-store.ts';

/** `LeaseStore` over SQLite (table `leases`, `expires_at` in epoch ms). */
export class SqliteLeaseStore implements LeaseStore {
  readonly #clock: () => number;
  readonly #acquire;
  readonly #renew;
  readonly #release;
  readonly #purge;

  constructor(options: SqliteStoreOptions) {
    const { db } = options;
    this.#clock = options.clock ?? Date.now;
    db.exec(`CREATE TABLE IF NOT EXISTS leases (
      name TEXT PRIMARY KEY NOT NULL,
      owner TEXT NOT NULL,
      expires_at INTEGER NOT NULL
    ) WITHOUT ROWID`);
    // Free, expired, or already ours (re-entrant: acquiring again extends it).
    this.#acquire = db.prepare<{ name: string; owner: string; expiresAt: number; now: number }>(
      `INSERT INTO leases (name, owner, expires_at) VALUES (@name, @owner, @expiresAt)
       ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
       WHERE leases.owner = excluded.owner OR leases.expires_at < @now`,
    );
    // An expired lease is lost even if nobody took it yet: its holder must stop, not carry on.
    this.#renew = db.prepare<{ name: string; owner: string; expiresAt: number; now: number }>(
      'UPDATE leases SET expires_at = @expiresAt WHERE name = @name AND owner = @owner AND expires_at >= @now',
    );
    this.#release = db.prepare<[string, string]>('DELETE FROM leases WHERE name = ? AND owner = ?');
    this.#purge = db.prepare<[number]>('DELETE FROM leases WHERE expires_at < ?');
  }

  async acquire(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = this.#clock();
    return this.#acquire.run({ name, owner, expiresAt: now + ttlMs, now }).changes === 1;
  }

  async renew(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = this.#clock();
    return this.#renew.run({ name, owner, expiresAt: now + ttlMs, now }).changes === 1;
  }

  async release(name: string, owner: string): Promise<void> {
    this.#release.run(name, owner);
  }

  /** Deletes expired leases; returns how many. Housekeeping only: expired rows never block anyone. */
  purgeExpired(): number {
    return this.#purge.run(this.#clock()).changes;
  }
}
