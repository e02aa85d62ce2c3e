/**
 * The dead-letter use cases behind `postroom dead-letters`: list, show, retry
 * (back onto the main queue, a fresh receive count) and drop, over the
 * `DeadLetterStore` port (the local table, or the SQS dead-letter queue).
 *
 * Written against the ports only.
 */
import { PostroomError } from '../errors.ts';
import type { DeadLetterEntry, DeadLetterMoves, DeadLetterStore, QueueMessage } from '../ports.ts';

/** One dead letter as the command prints it (`--json`: a contract, see the command's help). */
export interface DeadLetterView {
  id: string;
  account?: string;
  mailbox?: string;
  uidValidity?: number;
  uid?: number;
  subject?: string;
  messageId?: string;
  receiveCount: number;
  failedAt?: string;
  /** Why it was given up on; SQS keeps no reason (the process function's log has it). */
  reason: string;
}

/** What SQS's dead-letter queue cannot tell: it moves a message as it is, without a reason. */
export const NO_REASON = 'not recorded (the SQS dead-letter queue keeps none; see the process function log)';

export function viewOf(entry: DeadLetterEntry): DeadLetterView {
  const body: Partial<QueueMessage> = entry.body ?? {};
  return {
    id: entry.id,
    ...(body.account !== undefined ? { account: body.account } : {}),
    ...(body.mailbox !== undefined ? { mailbox: body.mailbox } : {}),
    ...(body.uidValidity !== undefined ? { uidValidity: body.uidValidity } : {}),
    ...(body.uid !== undefined ? { uid: body.uid } : {}),
    ...(body.envelope?.subject !== undefined ? { subject: body.envelope.subject } : {}),
    ...(body.messageId !== undefined ? { messageId: body.messageId } : {}),
    receiveCount: entry.receiveCount,
    ...(entry.failedAt !== undefined ? { failedAt: entry.failedAt } : {}),
    reason: entry.reason ?? NO_REASON,
  };
}

/** The store, or a one-line error saying that this store has none. */
export function requireDeadLetters(store: DeadLetterStore | undefined): DeadLetterStore {
  if (!store) {
    throw new PostroomError('DEAD_LETTERS_UNAVAILABLE', 'this store has no dead-letter store to read');
  }
  return store;
}

export async function listDeadLetters(store: DeadLetterStore, limit: number): Promise<DeadLetterView[]> {
  return (await store.list(limit)).map(viewOf);
}

export async function showDeadLetter(
  store: DeadLetterStore,
  id: string,
): Promise<{ view: DeadLetterView; body?: QueueMessage } | undefined> {
  const entry = await store.get(id);
  if (!entry) return undefined;
  return { view: viewOf(entry), ...(entry.body ? { body: entry.body } : {}) };
}

/** Moves the given dead letters (or every one) back to the main queue. */
export function retryDeadLetters(store: DeadLetterStore, ids: string[] | 'all'): Promise<DeadLetterMoves> {
  return ids === 'all' ? store.retry() : store.retry(unique(ids));
}

export function dropDeadLetters(store: DeadLetterStore, ids: string[]): Promise<DeadLetterMoves> {
  return store.drop(unique(ids));
}

function unique(ids: string[]): string[] {
  return [...new Set(ids)];
}
