/**
 * Checkpoints in the local SQLite database. `advance` reads and writes inside
 * one IMMEDIATE transaction: it takes the write lock before reading, so two
 * processes sharing the file cannot both see the same `previous`.
 */

import { assertCheckpointMovesForward } from '../../core/checkpoint.ts';
import { CheckpointConflictError } from '../../errors.ts';
import type { Checkpoint, CheckpointStore } from '../../ports.ts';
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

/** `CheckpointStore` over SQLite (table `checkpoints`). */
export class SqliteCheckpointStore implements CheckpointStore {
  readonly #select;
  readonly #upsert;
  readonly #advance: (
    account: string,
    mailbox: string,
    next: Checkpoint,
    previous: Checkpoint | undefined,
  ) => void;

  constructor(options: SqliteStoreOptions) {
    const { db } = options;
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
