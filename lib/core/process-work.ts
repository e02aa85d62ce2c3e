/**
 * The bookkeeping of the process use case: its types, the record key of an
 * action, and how an action's outcome is reported and recorded.
 */
import type { AccountConfig, EventsConfig } from '../config/schema.ts';
import { describeError, PostroomError } from '../errors.ts';
import type { AuthVerdicts } from '../mime/auth-results.ts';
import type { DnsResolver } from '../mime/verify-auth.ts';
import type {
  BlobStore,
  EventSink,
  IdempotencyStore,
  Logger,
  OpenSession,
  QueueMessage,
  WebhookSender,
} from '../ports.ts';
import type { ParsedMessage } from '../rules/message.ts';
import type { PlannedAction } from '../rules/planner.ts';
import type { Rule, RuleSecretRef } from '../rules/schema.ts';
import { rawBlobKey } from './keys.ts';

export interface BatchItem {
  /** The queue's id for this delivery (SQS messageId, local receipt). */
  id: string;
  message: QueueMessage;
  /** How many times this message has been received, this time included. */
  receiveCount: number;
}

export type ActionStatus =
  | 'done'
  | 'already-done'
  | 'gone'
  | 'stale'
  | 'left-deleted'
  | 'failed'
  | 'skipped'
  /** Planned, but its message failed before the action was reached: it is retried with the message. */
  | 'not-done';

export interface ActionReport {
  rule: string;
  kind: PlannedAction['kind'];
  /** Folder path, flags, detail-type, webhook host or prefix: what the action was about. */
  detail?: string;
  status: ActionStatus;
  /** Why it failed, or what happened instead. */
  note?: string;
}

export interface ItemResult {
  id: string;
  account: string;
  mailbox: string;
  uid: number;
  subject?: string;
  matched: string[];
  actions: ActionReport[];
  warnings: string[];
  /**
   * The UID the actions were applied to when it is not `uid`: the mailbox was
   * re-created (new UIDVALIDITY) and the message found again by its fingerprint.
   */
  currentUid?: number;
  /** `failed` items stay queued (retried, then dead-lettered); `done` ones are deleted. */
  status: 'done' | 'failed';
  error?: { code: string; message: string };
}

/**
 * Why one message failed, as `postroom process --json` prints it (a contract):
 * one entry per failed action, or one for the message when it failed before any.
 */
export interface FailureReport {
  account: string;
  mailbox: string;
  uid: number;
  rule?: string;
  action?: string;
  reason: string;
}

export interface ProcessResult {
  items: ItemResult[];
  /** Done, with every server-side action applied (or not needed). */
  processed: number;
  failed: number;
  /**
   * Done, but the message was no longer on the server (deleted, its mailbox
   * gone, or not found again after a UIDVALIDITY change): its server-side
   * actions were not applied. Acknowledged: a retry would not find it either.
   */
  gone: number;
  /** Completed actions by kind. */
  actions: Record<string, number>;
}

export interface ProcessDependencies {
  rules: readonly Rule[];
  accounts: readonly AccountConfig[];
  blobs: BlobStore;
  idempotency: IdempotencyStore;
  events: EventSink;
  /** Opens an authenticated session for the account (LOGIN done, capabilities read). */
  openSession: OpenSession;
  /** Resolves a webhook secret reference to its value. */
  resolveSecret(ref: RuleSecretRef): Promise<string>;
  sendWebhook: WebhookSender;
  logger?: Logger;
  /** What `emit` events carry beyond the queue message (config `events`). @default { detail: [] } */
  eventDetail?: EventsConfig;
  /** DNS for accounts with `verifyAuth` (tests inject one). @default node:dns */
  dnsResolver?: DnsResolver;
  /** Seconds to keep idempotency records. @default 14 days */
  idempotencyTtlSeconds?: number;
  now?: () => Date;
}

export interface ProcessOptions {
  /**
   * Epoch ms after which no new work starts (a Lambda's timeout less a
   * margin), also given to each IMAP session as its deadline. Messages not
   * reached by then fail with `PROCESS_OUT_OF_TIME`, retryable: the queue
   * delivers them again and the actions already recorded are skipped.
   */
  deadline?: number;
  /** Aborted (middy's early timeout): no new work starts, as past the deadline. */
  signal?: AbortSignal;
}

/** Whether the batch may still start work. */
export interface Budget {
  deadline?: number;
  spent(): boolean;
}

export interface Work {
  item: BatchItem;
  result: ItemResult;
  /** Planned actions not done yet, in plan order. */
  pending: PlannedAction[];
  /** The UID server-side actions apply to: the queued one, or where a fingerprint found it again. */
  uid: number;
  parsed?: ParsedMessage;
  /** The sender verdicts, once established (for `auth` conditions or event detail). */
  auth?: AuthVerdicts;
}

export const IMAP_KINDS = new Set(['flag', 'unflag', 'label', 'unlabel', 'copy', 'move', 'delete']);

/** The record of one completed (message, rule, action). */
export function idempotencyKey(message: QueueMessage, action: Pick<PlannedAction, 'key' | 'kind'>): string {
  return `${rawBlobKey(message)}#${action.key}#${action.kind}`;
}

export async function complete(
  deps: Pick<ProcessDependencies, 'idempotency' | 'idempotencyTtlSeconds'>,
  work: Work,
  action: PlannedAction,
  status: ActionStatus,
  note?: string,
): Promise<void> {
  await deps.idempotency.markDone(idempotencyKey(work.item.message, action), ttlSeconds(deps));
  settle(work, action, status, note);
}

/** One action of one message, as batches group them. */
export interface Entry {
  work: Work;
  action: PlannedAction;
}

/**
 * `complete` for many actions with one outcome, recorded together
 * (`markAllDone`: one commit, or BatchWriteItem). Call it only once the
 * actions are done. When the batched write fails, each record is tried on its
 * own, so a record that fails fails only its own message (redelivered, it
 * finds the effect: the copy by Message-ID, the moved UID gone).
 */
export async function completeAll(
  deps: Pick<ProcessDependencies, 'idempotency' | 'idempotencyTtlSeconds'>,
  entries: readonly Entry[],
  status: ActionStatus,
  note?: string,
): Promise<void> {
  if (entries.length === 0) return;
  const { idempotency } = deps;
  if (idempotency.markAllDone && entries.length > 1) {
    try {
      await idempotency.markAllDone(
        entries.map((e) => idempotencyKey(e.work.item.message, e.action)),
        ttlSeconds(deps),
      );
      for (const e of entries) settle(e.work, e.action, status, note);
      return;
    } catch {
      // Some may be recorded, some not: one by one below tells which.
    }
  }
  for (const { work, action } of entries) {
    try {
      await complete(deps, work, action, status, note);
    } catch (error) {
      report(work, action, 'failed', `done, but not recorded: ${describeError(error).message}`);
      fail(work, error);
    }
  }
}

/** Reports a recorded action and takes it off the pending list. */
export function settle(work: Work, action: PlannedAction, status: ActionStatus, note?: string): void {
  report(work, action, status, note);
  work.pending = work.pending.filter((a) => a !== action);
}

export function ttlSeconds(deps: Pick<ProcessDependencies, 'idempotencyTtlSeconds'>): number {
  return deps.idempotencyTtlSeconds ?? 14 * 86_400;
}

export function report(work: Work, action: PlannedAction, status: ActionStatus, note?: string): void {
  work.result.actions.push({
    rule: action.rule,
    kind: action.kind,
    ...(actionDetail(action) !== undefined ? { detail: actionDetail(action) } : {}),
    status,
    ...(note ? { note } : {}),
  });
}

export function actionDetail(action: PlannedAction): string | undefined {
  switch (action.kind) {
    case 'flag':
    case 'unflag':
      return action.flags.join(' ');
    case 'label':
    case 'unlabel':
      return action.labels.join(' ');
    case 'copy':
    case 'move':
      return 'path' in action.target ? action.target.path : action.target.specialUse;
    case 'emit':
      return action.detailType;
    case 'webhook':
      return new URL(action.url).host;
    case 'saveAttachments':
      return action.prefix;
    default:
      return undefined;
  }
}

export function groupKey(action: PlannedAction): string {
  return `${action.kind}\u0000${actionDetail(action) ?? ''}`;
}

export function fail(work: Work, error: unknown): void {
  work.result.status = 'failed';
  work.result.error ??= describeError(error);
}

export function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** Read through a function: the status changes inside awaited calls, which narrowing cannot see. */
export function hasFailed(work: Work): boolean {
  return work.result.status === 'failed';
}

/** The error of a message the batch did not reach in time (retryable: it stays queued). */
export function outOfTime(): PostroomError {
  return new PostroomError(
    'PROCESS_OUT_OF_TIME',
    'not processed: the batch ran out of time first; left queued for redelivery',
    { retryable: true },
  );
}
