/**
 * The local queue: both sides (`Queue` for pollers, `QueueConsumer` for the
 * local processor) over tables in the shared SQLite database, with SQS's
 * semantics where they matter: visibility timeouts, receive counts, a
 * dead-letter store after `maxReceives`, and receipts that name one receive.
 *
 * Tables (all created on first use):
 *
 * | table            | one row per                       | purpose                                         |
 * | ---------------- | --------------------------------- | ----------------------------------------------- |
 * | `queue_messages` | message waiting or in flight      | body, `visible_at`, `receive_count`, `receipt`  |
 * | `queue_sent`     | message ever accepted             | deduplication: a re-send is ignored, also after the message was acked or dead-lettered |
 * | `dead_letter`    | message given up on               | body, reason, receive count, time               |
 *
 * A receive records the receiving process (pid and host). Messages held by a
 * process that is gone from this host are visible again at the next receive,
 * without waiting out their visibility timeout.
 *
 * Every write is one transaction; the database runs WAL with
 * `synchronous = FULL` (see `sqlite.ts`), so `sendBatch` resolving means the
 * messages are on disk, which is what lets the poller move its checkpoint.
 */
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { describeError, PostroomError, QueueSendError } from '../../errors.ts';
import type {
  MessageRef,
  Queue,
  QueueConsumer,
  QueueMessage,
  ReceivedMessage,
  ReleaseOutcome,
} from '../../ports.ts';
import { isHolderGone, type ProcessHolder, thisProcess } from './process-holder.ts';
import { addMissingColumns, openDatabase, type SqliteDatabase } from './sqlite.ts';

/** `ack` or `release` was given a receipt that no longer holds the message. */
export class StaleReceiptError extends PostroomError {
  constructor(receipt: string) {
    super(
      'QUEUE_RECEIPT_STALE',
      'the receipt no longer holds the message: it was acked, released or received again after its visibility timeout',
      { context: { receipt } },
    );
    this.name = 'StaleReceiptError';
  }
}

export interface SqliteQueueOptions {
  /** Receives after which a failed message goes to `dead_letter` instead of back to the queue. @default 5 */
  maxReceives?: number;
  /** Epoch milliseconds; tests inject a controllable clock. @default Date.now */
  clock?: () => number;
  /** The process recorded as holding the messages this queue receives. @default this process */
  process?: ProcessHolder;
}

/** Counts for `postroom status`. */
export interface QueueStats {
  /** Waiting to be received (visible now). */
  queued: number;
  /** Received and not yet acked or released (hidden by a visibility timeout). */
  inFlight: number;
  deadLetter: number;
}

/** A message the queue gave up on. */
export interface DeadLetter extends MessageRef {
  id: number;
  reason: string;
  receiveCount: number;
  /** When it was dead-lettered, ISO 8601. */
  failedAt: string;
  body: QueueMessage;
}

/** The default visibility timeout, as SQS's. */
const DEFAULT_VISIBILITY_MS = 30_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS queue_messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account TEXT NOT NULL,
  mailbox TEXT NOT NULL,
  uid_validity INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  body TEXT NOT NULL,
  visible_at INTEGER NOT NULL,
  receive_count INTEGER NOT NULL DEFAULT 0,
  receipt TEXT,
  sent_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (visible_at, id);
CREATE UNIQUE INDEX IF NOT EXISTS queue_messages_receipt ON queue_messages (receipt);
CREATE TABLE IF NOT EXISTS queue_sent (
  account TEXT NOT NULL,
  mailbox TEXT NOT NULL,
  uid_validity INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  sent_at INTEGER NOT NULL,
  PRIMARY KEY (account, mailbox, uid_validity, uid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letter (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account TEXT NOT NULL,
  mailbox TEXT NOT NULL,
  uid_validity INTEGER NOT NULL,
  uid INTEGER NOT NULL,
  body TEXT NOT NULL,
  reason TEXT NOT NULL,
  receive_count INTEGER NOT NULL,
  failed_at INTEGER NOT NULL
);
`;

interface MessageRow {
  id: number;
  account: string;
  mailbox: string;
  uid_validity: number;
  uid: number;
  body: string;
  receive_count: number;
  receipt: string;
}

export interface DeadLetterRow {
  id: number;
  account: string;
  mailbox: string;
  uid_validity: number;
  uid: number;
  body: string;
  reason: string;
  receive_count: number;
  failed_at: number;
}

/**
 * The local queue over SQLite.
 *
 * @example
 * const queue = new SqliteQueue('.postroom/postroom.db', { maxReceives: 5 });
 * await queue.sendBatch(messages);
 * for (const m of await queue.receive(10, 60_000)) {
 *   try { await handle(m.body); await queue.ack(m.receipt); }
 *   catch (error) { await queue.release(m.receipt, String(error)); }
 * }
 */
export class SqliteQueue implements Queue, QueueConsumer {
  readonly db: SqliteDatabase;
  private readonly maxReceives: number;
  private readonly clock: () => number;
  private readonly holder: ProcessHolder;
  private readonly statements;
  private readonly sendTx: Database.Transaction<(messages: QueueMessage[], now: number) => void>;
  private readonly receiveTx: Database.Transaction<
    (max: number, visibilityMs: number, now: number) => MessageRow[]
  >;
  private readonly releaseTx: Database.Transaction<
    (receipt: string, reason: string, now: number) => ReleaseOutcome | undefined
  >;
  private readonly ackTx: Database.Transaction<(receipts: readonly string[]) => string[]>;

  constructor(db: string | SqliteDatabase, options: SqliteQueueOptions = {}) {
    this.db = typeof db === 'string' ? openDatabase(db) : db;
    this.maxReceives = Math.max(options.maxReceives ?? 5, 1);
    this.clock = options.clock ?? Date.now;
    this.holder = options.process ?? thisProcess();
    this.db.exec(SCHEMA);
    addMissingColumns(this.db, 'queue_messages', { holder_pid: 'INTEGER', holder_host: 'TEXT' });

    const s = {
      markSent: this.db.prepare(
        `INSERT INTO queue_sent (account, mailbox, uid_validity, uid, sent_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      ),
      insert: this.db.prepare(
        `INSERT INTO queue_messages (account, mailbox, uid_validity, uid, body, visible_at, sent_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      // Messages past maxReceives whose visibility ran out: their consumer died
      // without releasing them. SQS moves those to the DLQ on the next receive; so do we.
      expired: this.db.prepare(
        `SELECT id, account, mailbox, uid_validity, uid, body, receive_count FROM queue_messages
         WHERE visible_at <= ? AND receive_count >= ?`,
      ),
      // In flight (hidden) and received on this host: the index on visible_at keeps it to those rows.
      holders: this.db.prepare(
        'SELECT DISTINCT holder_pid FROM queue_messages WHERE visible_at > ? AND holder_host = ?',
      ),
      heldBy: this.db.prepare(
        `SELECT id, account, mailbox, uid_validity, uid, body, receive_count, receipt FROM queue_messages
         WHERE visible_at > ? AND holder_host = ? AND holder_pid = ?`,
      ),
      take: this.db.prepare(
        `UPDATE queue_messages
         SET visible_at = ?, receive_count = receive_count + 1, receipt = id || '.' || ?,
           holder_pid = ?, holder_host = ?
         WHERE id IN (SELECT id FROM queue_messages WHERE visible_at <= ? ORDER BY id LIMIT ?)
         RETURNING id, account, mailbox, uid_validity, uid, body, receive_count, receipt`,
      ),
      ack: this.db.prepare('DELETE FROM queue_messages WHERE receipt = ?'),
      byReceipt: this.db.prepare(
        `SELECT id, account, mailbox, uid_validity, uid, body, receive_count, receipt
         FROM queue_messages WHERE receipt = ?`,
      ),
      makeVisible: this.db.prepare('UPDATE queue_messages SET visible_at = ?, receipt = NULL WHERE id = ?'),
      deadLetter: this.db.prepare(
        `INSERT INTO dead_letter (account, mailbox, uid_validity, uid, body, reason, receive_count, failed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      remove: this.db.prepare('DELETE FROM queue_messages WHERE id = ?'),
      counts: this.db.prepare(
        `SELECT
           (SELECT count(*) FROM queue_messages WHERE visible_at <= @now) AS queued,
           (SELECT count(*) FROM queue_messages WHERE visible_at > @now) AS inFlight,
           (SELECT count(*) FROM dead_letter) AS deadLetter`,
      ),
      listDead: this.db.prepare('SELECT * FROM dead_letter ORDER BY id LIMIT ?'),
      deadById: this.db.prepare('SELECT * FROM dead_letter WHERE id = ?'),
      removeDead: this.db.prepare('DELETE FROM dead_letter WHERE id = ?'),
    };
    this.statements = s;

    this.sendTx = this.db.transaction((messages: QueueMessage[], now: number) => {
      for (const m of messages) {
        const ref = [m.account, m.mailbox, m.uidValidity, m.uid] as const;
        // Accepted once, ever: a poller re-sending after a crash must not make the message run twice.
        if (s.markSent.run(...ref, now).changes === 0) continue;
        s.insert.run(...ref, JSON.stringify(m), now, now);
      }
    });

    this.receiveTx = this.db.transaction((max: number, visibilityMs: number, now: number) => {
      this.reclaimFromGoneHolders(now);
      for (const row of s.expired.all(now, this.maxReceives) as MessageRow[]) {
        this.moveToDeadLetter(row, `visibility timeout expired after ${row.receive_count} receives`, now);
      }
      const { pid, host } = this.holder;
      const rows = s.take.all(now + visibilityMs, randomUUID(), pid, host, now, max) as MessageRow[];
      // RETURNING does not promise an order.
      return rows.sort((a, b) => a.id - b.id);
    });

    // A batch's acks in one commit (one fsync), not one per message; returns the stale receipts.
    this.ackTx = this.db.transaction((receipts: readonly string[]) =>
      receipts.filter((receipt) => s.ack.run(receipt).changes === 0),
    );

    this.releaseTx = this.db.transaction((receipt: string, reason: string, now: number) => {
      const row = s.byReceipt.get(receipt) as MessageRow | undefined;
      if (!row) return undefined;
      // A stack trace can be long; the start says what went wrong.
      if (row.receive_count >= this.maxReceives) {
        this.moveToDeadLetter(row, reason.slice(0, 4000), now);
        return 'dead-lettered';
      }
      s.makeVisible.run(now, row.id);
      return 'released';
    });
  }

  /**
   * Adds the messages in one transaction, skipping any (account, mailbox,
   * uidValidity, uid) sent before. All or nothing: on failure it throws
   * `QueueSendError` and none of the batch is queued.
   */
  async sendBatch(messages: QueueMessage[]): Promise<void> {
    if (messages.length === 0) return;
    try {
      this.sendTx.immediate(messages, this.clock());
    } catch (error) {
      // The transaction rolled back: none of the batch was queued, which is what the port promises.
      throw new QueueSendError(
        `none of ${messages.length} messages were queued: ${describeError(error).message}`,
        {
          cause: error,
          context: { failed: messages.length, total: messages.length },
        },
      );
    }
  }

  /**
   * Receives up to `max` visible messages, oldest first, hiding them for
   * `visibilityTimeoutMs`. Each receive issues new receipts, so a consumer whose
   * visibility ran out cannot ack or release a message someone else now holds.
   */
  async receive(max: number, visibilityTimeoutMs = DEFAULT_VISIBILITY_MS): Promise<ReceivedMessage[]> {
    if (max < 1) return [];
    // IMMEDIATE takes the write lock up front, so two processes can never take the same rows.
    const rows = this.receiveTx.immediate(Math.floor(max), Math.max(0, visibilityTimeoutMs), this.clock());
    return rows.map((row) => ({
      receipt: row.receipt,
      body: JSON.parse(row.body) as QueueMessage,
      receiveCount: row.receive_count,
    }));
  }

  /** Deletes the message; throws `StaleReceiptError` when the receipt no longer holds it. */
  async ack(receipt: string): Promise<void> {
    if (this.statements.ack.run(receipt).changes === 0) throw new StaleReceiptError(receipt);
  }

  /** Deletes every message in one commit; throws `StaleReceiptError` for the first receipt that held none. */
  async ackAll(receipts: readonly string[]): Promise<void> {
    if (receipts.length === 0) return;
    const stale = this.ackTx.immediate(receipts);
    if (stale.length > 0) throw new StaleReceiptError(stale[0]!);
  }

  /**
   * Makes the message visible again, or moves it to `dead_letter` with `reason`
   * once it has been received `maxReceives` times, and says which. Throws
   * `StaleReceiptError` when the receipt no longer holds the message.
   */
  async release(receipt: string, reason: string): Promise<ReleaseOutcome> {
    const outcome = this.releaseTx.immediate(receipt, reason, this.clock());
    if (!outcome) throw new StaleReceiptError(receipt);
    return outcome;
  }

  /** Messages waiting, in flight and dead-lettered. */
  stats(): QueueStats {
    return this.statements.counts.get({ now: this.clock() }) as QueueStats;
  }

  /** Dead-lettered messages, oldest first (for `postroom dead-letters`). */
  deadLetters(limit = 100): DeadLetter[] {
    return (this.statements.listDead.all(limit) as DeadLetterRow[]).map(toDeadLetter);
  }

  /**
   * Puts dead-lettered messages back on the queue with a fresh receive count
   * (after the cause was fixed), and returns how many moved.
   * @default every dead letter when `ids` is omitted
   */
  redrive(ids?: number[]): number {
    return this.redriveIds(ids).length;
  }

  /** {@link redrive}, returning the ids that moved. */
  redriveIds(ids?: number[]): number[] {
    const s = this.statements;
    const move = this.db.transaction((now: number) => {
      const rows = ids
        ? ids.map((id) => s.deadById.get(id) as DeadLetterRow | undefined).filter((r) => r !== undefined)
        : (s.listDead.all(-1) as DeadLetterRow[]);
      for (const row of rows) {
        s.insert.run(row.account, row.mailbox, row.uid_validity, row.uid, row.body, now, now);
        s.removeDead.run(row.id);
      }
      return rows.map((row) => row.id);
    });
    return move.immediate(this.clock());
  }

  /**
   * Makes the messages of consumers that died on this host visible now (or
   * dead-letters them, when that was their last receive): a crash does not
   * hide them for a whole visibility timeout.
   */
  private reclaimFromGoneHolders(now: number): void {
    const s = this.statements;
    const { host } = this.holder;
    for (const { holder_pid: pid } of s.holders.all(now, host) as { holder_pid: number | null }[]) {
      if (!isHolderGone({ pid, host })) continue;
      for (const row of s.heldBy.all(now, host, pid) as MessageRow[]) {
        if (row.receive_count >= this.maxReceives) {
          this.moveToDeadLetter(
            row,
            `its consumer (pid ${pid}) died after ${row.receive_count} receives`,
            now,
          );
        } else {
          s.makeVisible.run(now, row.id);
        }
      }
    }
  }

  private moveToDeadLetter(row: MessageRow, reason: string, now: number): void {
    this.statements.deadLetter.run(
      row.account,
      row.mailbox,
      row.uid_validity,
      row.uid,
      row.body,
      reason,
      row.receive_count,
      now,
    );
    this.statements.remove.run(row.id);
  }
}

/** A `dead_letter` row as the queue reports it (also for `sqlite-dead-letters.ts`). */
export function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: row.id,
    account: row.account,
    mailbox: row.mailbox,
    uidValidity: row.uid_validity,
    uid: row.uid,
    reason: row.reason,
    receiveCount: row.receive_count,
    failedAt: new Date(row.failed_at).toISOString(),
    body: JSON.parse(row.body) as QueueMessage,
  };
}
