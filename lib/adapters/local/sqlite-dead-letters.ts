/**
 * The local queue's dead letters and depth as the ports `postroom
 * dead-letters` and `postroom status` use: a view over `SqliteQueue`'s
 * `dead_letter` and `queue_messages` tables (see `sqlite-queue.ts`).
 */
import type {
  DeadLetterEntry,
  DeadLetterMoves,
  DeadLetterStore,
  QueueDepth,
  QueueInspector,
} from '../../ports.ts';
import type { DeadLetter, SqliteQueue } from './sqlite-queue.ts';

/** `DeadLetterStore` and `QueueInspector` over the local queue. Ids are the `dead_letter` row ids. */
export class SqliteDeadLetterStore implements DeadLetterStore, QueueInspector {
  readonly #queue: SqliteQueue;

  constructor(queue: SqliteQueue) {
    this.#queue = queue;
  }

  async list(limit: number): Promise<DeadLetterEntry[]> {
    return this.#queue.deadLetters(limit).map(toEntry);
  }

  async get(id: string): Promise<DeadLetterEntry | undefined> {
    const rowId = toRowId(id);
    const dead = rowId === undefined ? undefined : this.#queue.deadLetter(rowId);
    return dead ? toEntry(dead) : undefined;
  }

  async retry(ids?: string[]): Promise<DeadLetterMoves> {
    if (!ids) return { done: this.#queue.redriveIds().map(String), missing: [] };
    return moves(ids, (rowIds) => this.#queue.redriveIds(rowIds));
  }

  async drop(ids: string[]): Promise<DeadLetterMoves> {
    return moves(ids, (rowIds) => this.#queue.dropDeadLetters(rowIds));
  }

  async depth(): Promise<QueueDepth> {
    const total = this.#queue.stats();
    const byMailbox: NonNullable<QueueDepth['byMailbox']> = new Map();
    for (const row of this.#queue.statsByMailbox()) {
      byMailbox.set(`${row.account}\0${row.mailbox}`, {
        queued: row.queued,
        inFlight: row.inFlight,
        deadLetters: row.deadLetter,
      });
    }
    return { queued: total.queued, inFlight: total.inFlight, deadLetters: total.deadLetter, byMailbox };
  }
}

function toEntry(dead: DeadLetter): DeadLetterEntry {
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
  const rowIds = ids.map(toRowId).filter((id) => id !== undefined);
  const done = new Set(apply(rowIds).map(String));
  return { done: ids.filter((id) => done.has(id)), missing: ids.filter((id) => !done.has(id)) };
}
