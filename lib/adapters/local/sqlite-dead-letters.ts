/**
 * The local queue's dead letters and depth as the ports `postroom
 * dead-letters` and `postroom status` use them: a view over `SqliteQueue`'s
 * `dead_letter` and `queue_messages` tables (their layout is described in
 * `sqlite-queue.ts`; the queue creates them). Retry is the queue's own
 * `redrive`, which puts messages back with a fresh receive count.
 */
import type {
  DeadLetterEntry,
  DeadLetterMoves,
  DeadLetterStore,
  QueueDepth,
  QueueInspector,
} from '../../ports.ts';
import { type DeadLetterRow, type SqliteQueue, toDeadLetter } from './sqlite-queue.ts';

interface MailboxCounts {
  account: string;
  mailbox: string;
  queued: number;
  inFlight: number;
  deadLetters: number;
}

/** `DeadLetterStore` and `QueueInspector` over the local queue. Ids are the `dead_letter` row ids. */
export class SqliteDeadLetterStore implements DeadLetterStore, QueueInspector {
  readonly #queue: SqliteQueue;
  readonly #remove;
  readonly #byId;
  readonly #counts;

  constructor(queue: SqliteQueue) {
    this.#queue = queue;
    this.#remove = queue.db.prepare<[number]>('DELETE FROM dead_letter WHERE id = ?');
    this.#byId = queue.db.prepare<[number], DeadLetterRow>('SELECT * FROM dead_letter WHERE id = ?');
    this.#counts = queue.db.prepare<{ now: number }, MailboxCounts>(
      `SELECT account, mailbox, sum(queued) AS queued, sum(inFlight) AS inFlight, sum(dead) AS deadLetters FROM (
         SELECT account, mailbox, visible_at <= @now AS queued, visible_at > @now AS inFlight, 0 AS dead
         FROM queue_messages
         UNION ALL SELECT account, mailbox, 0, 0, 1 FROM dead_letter
       ) GROUP BY account, mailbox`,
    );
  }

  async list(limit: number): Promise<DeadLetterEntry[]> {
    return this.#queue.deadLetters(limit).map(toEntry);
  }

  async get(id: string): Promise<DeadLetterEntry | undefined> {
    const rowId = toRowId(id);
    const row = rowId === undefined ? undefined : this.#byId.get(rowId);
    return row ? toEntry(toDeadLetter(row)) : undefined;
  }

  async retry(ids?: string[]): Promise<DeadLetterMoves> {
    if (!ids) return { done: this.#queue.redriveIds().map(String), missing: [] };
    return moves(ids, (rowIds) => this.#queue.redriveIds(rowIds));
  }

  async drop(ids: string[]): Promise<DeadLetterMoves> {
    const drop = this.#queue.db.transaction((rowIds: number[]) =>
      rowIds.filter((id) => this.#remove.run(id).changes === 1),
    );
    return moves(ids, (rowIds) => drop.immediate(rowIds));
  }

  async depth(): Promise<QueueDepth> {
    const total = this.#queue.stats();
    const byMailbox: NonNullable<QueueDepth['byMailbox']> = new Map();
    for (const { account, mailbox, ...counts } of this.#counts.all({ now: Date.now() })) {
      byMailbox.set(`${account}\0${mailbox}`, counts);
    }
    return { queued: total.queued, inFlight: total.inFlight, deadLetters: total.deadLetter, byMailbox };
  }
}

function toEntry(dead: ReturnType<SqliteQueue['deadLetters']>[number]): DeadLetterEntry {
  return {
    id: String(dead.id),
    body: dead.body,
    reason: dead.reason,
    receiveCount: dead.receiveCount,
    failedAt: dead.failedAt,
  };
}

function toRowId(id: string): number | undefined {
  return /^[1-9]\d{0,15}$/.test(id) ? Number(id) : undefined;
}

function moves(ids: string[], apply: (rowIds: number[]) => number[]): DeadLetterMoves {
  const rowIds = [...new Set(ids.map(toRowId).filter((id) => id !== undefined))];
  const done = new Set(apply(rowIds).map(String));
  return { done: ids.filter((id) => done.has(id)), missing: ids.filter((id) => !done.has(id)) };
}
