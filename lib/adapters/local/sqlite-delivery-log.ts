/**
 * Delivered-message fingerprints in the local SQLite database. A batch travels
 * as one JSON array parameter expanded by `json_each`, so 10,000 fingerprints
 * are one statement (and one transaction) instead of 10,000 or a chunked `IN`
 * list bound by SQLite's variable limit.
 */
import type { DeliveryLog } from '../../ports.ts';
import type { SqliteStoreOptions } from './sqlite-checkpoint-store.ts';

/** `DeliveryLog` over SQLite (table `delivered_messages`). */
export class SqliteDeliveryLog implements DeliveryLog {
  readonly #insert;
  readonly #find;

  constructor(options: Pick<SqliteStoreOptions, 'db'>) {
    const { db } = options;
    db.exec(`CREATE TABLE IF NOT EXISTS delivered_messages (
      account TEXT NOT NULL,
      mailbox TEXT NOT NULL,
      fingerprint TEXT NOT NULL,
      PRIMARY KEY (account, mailbox, fingerprint)
    ) WITHOUT ROWID`);
    this.#insert = db.prepare<[string, string, string]>(
      `INSERT OR IGNORE INTO delivered_messages (account, mailbox, fingerprint)
       SELECT ?, ?, value FROM json_each(?)`,
    );
    this.#find = db
      .prepare<[string, string, string], string>(
        `SELECT fingerprint FROM delivered_messages
         WHERE account = ? AND mailbox = ? AND fingerprint IN (SELECT value FROM json_each(?))`,
      )
      .pluck();
  }

  async findDelivered(account: string, mailbox: string, fingerprints: string[]): Promise<Set<string>> {
    if (fingerprints.length === 0) return new Set();
    return new Set(this.#find.all(account, mailbox, JSON.stringify(fingerprints)));
  }

  async record(account: string, mailbox: string, fingerprints: string[]): Promise<void> {
    if (fingerprints.length === 0) return;
    // One statement is one (durable, WAL + synchronous=FULL) transaction: all fingerprints or none.
    this.#insert.run(account, mailbox, JSON.stringify(fingerprints));
  }
}
