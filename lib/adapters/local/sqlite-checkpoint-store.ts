/**
 * Checkpoints in the local SQLite database. `advance` reads and writes inside
 * one IMMEDIATE transaction: it takes the write lock before reading, so two
 * processes sharing the file cannot both see the same `previous`.
 */

import { assertCheckpointMovesForward } from '../../core/checkpoint.ts';
import { CheckpointConflictError } from '../../errors.ts';
import type { Checkpoint, CheckpointStore, PollRecord } from '../../ports.ts';
import type { SqliteDatabase } from './sqlite.ts';

/** Options for the SQLite state stores. */
export interface SqliteStoreOptions {
  /** An open database, usually `openDatabase('<store dir>/postroom.db')`. */
  db: SqliteDatabase;
  /**
   * The wall clock, in epoch milliseconds (leases and expiring records).
   * @default Date.now
   */
  clock?: () => number;
}

interface CheckpointRow {
  uid_validity: number;
  last_uid: number;
  uid_next: number;
  highest_mod_seq: string | null;
}

/** Options of {@link SqliteCheckpointStore}. */
export interface SqliteCheckpointStoreOptions extends SqliteStoreOptions {
  /**
   * Where poll records go (table `poll_records`): a connection that need not
   * fsync (see `sqlite.ts`), since a poll time lost to a power cut costs
   * nothing and every empty poll writes one. @default db
   */
  recordsDb?: SqliteDatabase;
}

interface PollRecordRow {
  last_success_at: string | null;
  last_error_at: string | null;
  last_error: string | null;
}

/** `CheckpointStore` over SQLite (table `checkpoints`, poll records in `poll_records`). */
export class SqliteCheckpointStore implements CheckpointStore {
  readonly #recordSuccess;
  readonly #recordError;
  readonly #selectRecord;
  readonly #select;
  readonly #upsert;
  readonly #advance: (
    account: string,
    mailbox: string,
    next: Checkpoint,
    previous: Checkpoint | undefined,
  ) => void;

  constructor(options: SqliteCheckpointStoreOptions) {
    const { db } = options;
    const records = options.recordsDb ?? db;
    records.exec(`CREATE TABLE IF NOT EXISTS poll_records (
      account TEXT NOT NULL,
      mailbox TEXT NOT NULL,
      last_success_at TEXT,
      last_error_at TEXT,
      last_error TEXT,
      PRIMARY KEY (account, mailbox)
    ) WITHOUT ROWID`);
    this.#recordSuccess = records.prepare<[string, string, string]>(
      `INSERT INTO poll_records (account, mailbox, last_success_at) VALUES (?, ?, ?)
       ON CONFLICT (account, mailbox) DO UPDATE SET last_success_at = excluded.last_success_at`,
    );
    this.#recordError = records.prepare<[string, string, string, string]>(
      `INSERT INTO poll_records (account, mailbox, last_error_at, last_error) VALUES (?, ?, ?, ?)
       ON CONFLICT (account, mailbox) DO UPDATE SET
         last_error_at = excluded.last_error_at, last_error = excluded.last_error`,
    );
    this.#selectRecord = records.prepare<[string, string], PollRecordRow>(
      'SELECT last_success_at, last_error_at, last_error FROM poll_records WHERE account = ? AND mailbox = ?',
    );
    db.exec(`CREATE TABLE IF NOT EXISTS checkpoints (
      account TEXT NOT NULL,
      mailbox TEXT NOT NULL,
      uid_validity INTEGER NOT NULL,
      last_uid INTEGER NOT NULL,
      uid_next INTEGER NOT NULL,
      highest_mod_seq TEXT,
      updated_at TEXT NOT NULL,
      PRIMARY KEY (account, mailbox)
    ) WITHOUT ROWID`);
    const select = db.prepare<[string, string], CheckpointRow>(
      'SELECT uid_validity, last_uid, uid_next, highest_mod_seq FROM checkpoints WHERE account = ? AND mailbox = ?',
    );
    this.#select = select;
    this.#upsert = db.prepare<[string, string, number, number, number, string | null, string]>(
      `INSERT INTO checkpoints (account, mailbox, uid_validity, last_uid, uid_next, highest_mod_seq, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (account, mailbox) DO UPDATE SET
         uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, uid_next = excluded.uid_next,
         highest_mod_seq = excluded.highest_mod_seq, updated_at = excluded.updated_at`,
    );
    const transaction = db.transaction(
      (account: string, mailbox: string, next: Checkpoint, previous: Checkpoint | undefined) => {
        const stored = select.get(account, mailbox);
        if (!sameCheckpoint(stored === undefined ? undefined : fromRow(stored), previous)) {
          throw new CheckpointConflictError(
            `the checkpoint of ${account}/${mailbox} is no longer the one this poller read`,
            {
              account,
              mailbox,
              expectedUidValidity: previous?.uidValidity,
              expectedLastUid: previous?.lastUid,
            },
          );
        }
        this.#upsert.run(
          account,
          mailbox,
          next.uidValidity,
          next.lastUid,
          next.uidNext,
          next.highestModSeq ?? null,
          new Date().toISOString(),
        );
      },
    );
    this.#advance = (...args) => transaction.immediate(...args);
  }

  async get(account: string, mailbox: string): Promise<Checkpoint | undefined> {
    const row = this.#select.get(account, mailbox);
    return row === undefined ? undefined : fromRow(row);
  }

  async advance(
    account: string,
    mailbox: string,
    next: Checkpoint,
    previous: Checkpoint | undefined,
  ): Promise<void> {
    assertCheckpointMovesForward(account, mailbox, next, previous);
    this.#advance(account, mailbox, next, previous);
  }

  async recordPoll(account: string, mailbox: string, at: Date, error?: string): Promise<void> {
    if (error === undefined) this.#recordSuccess.run(account, mailbox, at.toISOString());
    else this.#recordError.run(account, mailbox, at.toISOString(), error.slice(0, 1000));
  }

  async pollRecord(account: string, mailbox: string): Promise<PollRecord | undefined> {
    const row = this.#selectRecord.get(account, mailbox);
    if (!row) return undefined;
    return {
      ...(row.last_success_at ? { lastSuccessAt: row.last_success_at } : {}),
      ...(row.last_error_at ? { lastErrorAt: row.last_error_at } : {}),
      ...(row.last_error ? { lastError: row.last_error } : {}),
    };
  }
}

function fromRow(row: CheckpointRow): Checkpoint {
  const checkpoint: Checkpoint = {
    uidValidity: row.uid_validity,
    lastUid: row.last_uid,
    uidNext: row.uid_next,
  };
  if (row.highest_mod_seq !== null) checkpoint.highestModSeq = row.highest_mod_seq;
  return checkpoint;
}

/** The same comparison the DynamoDB store makes in its ConditionExpression. */
function sameCheckpoint(stored: Checkpoint | undefined, previous: Checkpoint | undefined): boolean {
  if (stored === undefined || previous === undefined) return stored === previous;
  return (
    stored.uidValidity === previous.uidValidity &&
    stored.lastUid === previous.lastUid &&
    stored.uidNext === previous.uidNext &&
    stored.highestModSeq === previous.highestModSeq
  );
}
