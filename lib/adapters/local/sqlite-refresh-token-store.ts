/**
 * Rotated OAuth2 refresh tokens in the local SQLite database (table
 * `oauth_refresh_tokens`), one row per account. A row remembers a digest of the
 * configured token it descends from: when the config's variable gets a new
 * token (after a new consent), the kept one no longer applies and is replaced.
 * The database is the state store's (`<store dir>/postroom.db`), as private as
 * the mail it holds.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { AccountConfig } from '../../config/schema.ts';
import type { RefreshTokenStore } from '../../ports.ts';
import type { SqliteStoreOptions } from './sqlite-checkpoint-store.ts';

const digest = (token: string) => createHash('sha256').update(token).digest('base64url');

/** `RefreshTokenStore` over SQLite. */
export class SqliteRefreshTokenStore implements RefreshTokenStore {
  readonly #get;
  readonly #put;

  constructor(options: Pick<SqliteStoreOptions, 'db'>) {
    const { db } = options;
    db.exec(`CREATE TABLE IF NOT EXISTS oauth_refresh_tokens (
      account TEXT PRIMARY KEY,
      configured_digest TEXT NOT NULL,
      token TEXT NOT NULL,
      updated_at INTEGER NOT NULL
    ) WITHOUT ROWID`);
    this.#get = db
      .prepare<[string, string], string>(
        'SELECT token FROM oauth_refresh_tokens WHERE account = ? AND configured_digest = ?',
      )
      .pluck();
    this.#put = db.prepare<[string, string, string, number]>(
      `INSERT INTO oauth_refresh_tokens (account, configured_digest, token, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (account) DO UPDATE SET configured_digest = excluded.configured_digest,
         token = excluded.token, updated_at = excluded.updated_at`,
    );
  }

  async current(account: AccountConfig, configured: string): Promise<string> {
    return this.#get.get(account.id, digest(configured)) ?? configured;
  }

  async rotate(account: AccountConfig, configured: string, next: string): Promise<void> {
    this.#put.run(account.id, digest(configured), next, Date.now());
  }
}

/**
 * True when the database at `file` keeps a refresh token for `accountId` that
 * applies with no token configured (what `postroom oauth login` stores).
 * Read only; false when the file or the table does not exist.
 */
export function keepsUnconfiguredRefreshToken(file: string, accountId: string): boolean {
  if (!existsSync(file)) return false;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const row = db
      .prepare('SELECT 1 FROM oauth_refresh_tokens WHERE account = ? AND configured_digest = ?')
      .get(accountId, digest(''));
    return row !== undefined;
  } catch {
    return false;
  } finally {
    db.close();
  }
}
