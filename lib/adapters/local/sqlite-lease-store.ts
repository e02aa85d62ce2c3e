/**
 * Leases in the local SQLite database. Each transition is one statement (an
 * upsert guarded by a WHERE clause), atomic even across processes sharing the file.
 *
 * Every lease also records the process that took it (pid and host): a lease
 * whose process is gone from this host is taken over at once, not when it expires.
 */
import type { LeaseHolder, LeaseStore } from '../../ports.ts';
import { isHolderGone, type ProcessHolder, thisProcess } from './process-holder.ts';
import { addMissingColumns } from './sqlite.ts';
import type { SqliteStoreOptions } from './sqlite-checkpoint-store.ts';

export interface SqliteLeaseStoreOptions extends SqliteStoreOptions {
  /** The process recorded as holding the leases this store takes. @default this process */
  process?: ProcessHolder;
}

interface LeaseRow {
  owner: string;
  expires_at: number;
  holder_pid: number | null;
  holder_host: string | null;
}

/** `LeaseStore` over SQLite (table `leases`, `expires_at` in epoch ms). */
export class SqliteLeaseStore implements LeaseStore {
  readonly #clock: () => number;
  readonly #process: ProcessHolder;
  readonly #acquire;
  readonly #takeOver;
  readonly #read;
  readonly #renew;
  readonly #release;
  readonly #purge;

  constructor(options: SqliteLeaseStoreOptions) {
    const { db } = options;
    this.#clock = options.clock ?? Date.now;
    this.#process = options.process ?? thisProcess();
    db.exec(`CREATE TABLE IF NOT EXISTS leases (
      name TEXT PRIMARY KEY NOT NULL,
      owner TEXT NOT NULL,
      expires_at INTEGER NOT NULL
    ) WITHOUT ROWID`);
    addMissingColumns(db, 'leases', { holder_pid: 'INTEGER', holder_host: 'TEXT' });
    // Free, expired, or already ours (re-entrant: acquiring again extends it).
    this.#acquire = db.prepare<{
      name: string;
      owner: string;
      expiresAt: number;
      now: number;
      pid: number;
      host: string;
    }>(
      `INSERT INTO leases (name, owner, expires_at, holder_pid, holder_host)
       VALUES (@name, @owner, @expiresAt, @pid, @host)
       ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
         holder_pid = excluded.holder_pid, holder_host = excluded.holder_host
       WHERE leases.owner = excluded.owner OR leases.expires_at < @now`,
    );
    // Compare and swap: only the row as read (its holder found gone) is replaced.
    this.#takeOver = db.prepare<{
      name: string;
      owner: string;
      expiresAt: number;
      pid: number;
      host: string;
      was: string;
      wasExpiresAt: number;
    }>(
      `UPDATE leases SET owner = @owner, expires_at = @expiresAt, holder_pid = @pid, holder_host = @host
       WHERE name = @name AND owner = @was AND expires_at = @wasExpiresAt`,
    );
    this.#read = db.prepare<[string]>(
      'SELECT owner, expires_at, holder_pid, holder_host FROM leases WHERE name = ?',
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
    const expiresAt = now + ttlMs;
    const { pid, host } = this.#process;
    if (this.#acquire.run({ name, owner, expiresAt, now, pid, host }).changes === 1) return true;
    // Held: by a process that crashed on this host, it is ours now rather than in minutes.
    const row = this.#read.get(name) as LeaseRow | undefined;
    if (!row || !isHolderGone({ pid: row.holder_pid, host: row.holder_host })) return false;
    const was = { was: row.owner, wasExpiresAt: row.expires_at };
    return this.#takeOver.run({ name, owner, expiresAt, pid, host, ...was }).changes === 1;
  }

  async renew(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = this.#clock();
    return this.#renew.run({ name, owner, expiresAt: now + ttlMs, now }).changes === 1;
  }

  async release(name: string, owner: string): Promise<void> {
    this.#release.run(name, owner);
  }

  async holder(name: string): Promise<LeaseHolder | undefined> {
    const row = this.#read.get(name) as LeaseRow | undefined;
    if (!row || row.expires_at < this.#clock()) return undefined;
    return { owner: row.owner, expiresAt: row.expires_at };
  }

  /** Deletes expired leases; returns how many. Housekeeping only: expired rows never block anyone. */
  purgeExpired(): number {
    return this.#purge.run(this.#clock()).changes;
  }
}
