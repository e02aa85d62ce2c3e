/**
 * The process use case: take a batch of queue messages, decide with the
 * user's rules, and act — on the IMAP server (one session per account per
 * batch, one command per (mailbox, action, target) over a UID set) and outward
 * (events, webhooks, attachment exports).
 *
 * Effectively once: every completed (message, rule, action) is recorded in the
 * IdempotencyStore and skipped on redelivery. For the crash between doing an
 * action and recording it, COPY (and the UID COPY of a MOVE fallback) looks for
 * the Message-ID in the target before copying again; MOVE and delete find the
 * message gone and say so.
 *
 * Written against the ports and the pure rule engine only.
 */
import type { AccountConfig } from '../config/schema.ts';
import { describeError, isPostroomError, PostroomError } from '../errors.ts';
import type {
  BlobStore,
  EventSink,
  FolderRef,
  IdempotencyStore,
  Logger,
  MailboxState,
  MailServer,
  OpenSession,
  PostroomEvent,
  QueueMessage,
  ServerPath,
  WebhookSender,
} from '../ports.ts';
import { silentLogger } from '../ports.ts';
import { type ParsedMessage, parseMessage, readAttachments, toRuleInput } from '../rules/message.ts';
import { evaluate, needsBody, type PlannedAction } from '../rules/planner.ts';
import type { Rule, RuleSecretRef } from '../rules/schema.ts';
import { mailboxKeySegment, messageFingerprint, rawBlobKey } from './keys.ts';

export interface BatchItem {
  /** The queue's id for this delivery (SQS messageId, local receipt). */
  id: string;
  message: QueueMessage;
  /** How many times this message has been received, this time included. */
  receiveCount: number;
}

export type ActionStatus = 'done' | 'already-done' | 'gone' | 'stale' | 'left-deleted' | 'failed' | 'skipped';

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
interface Budget {
  deadline?: number;
  spent(): boolean;
}

interface Work {
  item: BatchItem;
  result: ItemResult;
  /** Planned actions not done yet, in plan order. */
  pending: PlannedAction[];
  /** The UID server-side actions apply to: the queued one, or where a fingerprint found it again. */
  uid: number;
  parsed?: ParsedMessage;
}

const IMAP_KINDS = new Set(['flag', 'unflag', 'copy', 'move', 'delete']);

/**
 * Evaluates and applies the rules to a batch. Never throws for one bad
 * message; stops starting work once `options.deadline` has passed.
 */
export async function processBatch(
  deps: ProcessDependencies,
  batch: BatchItem[],
  options: ProcessOptions = {},
): Promise<ProcessResult> {
  const logger = deps.logger ?? silentLogger;
  const budget: Budget = {
    ...(options.deadline !== undefined ? { deadline: options.deadline } : {}),
    spent: () =>
      options.signal?.aborted === true || (options.deadline !== undefined && Date.now() >= options.deadline),
  };
  const works: Work[] = [];
  for (const item of batch) {
    if (budget.spent()) {
      const work = newWork(item);
      fail(work, outOfTime());
      works.push(work);
      continue;
    }
    works.push(await plan(deps, item, logger));
  }

  // IMAP actions, grouped per account: one session per account per batch.
  const byAccount = groupBy(
    works.filter((w) => w.result.status !== 'failed' && w.pending.some((a) => IMAP_KINDS.has(a.kind))),
    (w) => w.item.message.account,
  );
  for (const [accountId, group] of byAccount) {
    const account = deps.accounts.find((a) => a.id === accountId);
    if (!account) {
      for (const w of group)
        fail(w, new PostroomError('ACCOUNT_UNKNOWN', `account ${accountId} is not in the config`));
      continue;
    }
    if (budget.spent()) {
      for (const w of group) fail(w, outOfTime());
      continue;
    }
    await applyImapActions(deps, account, group, budget, logger);
  }

  // Outward actions, per message, after the server-side ones.
  const events: { work: Work; action: PlannedAction; event: PostroomEvent }[] = [];
  for (const work of works) {
    if (work.result.status === 'failed') continue;
    for (const action of work.pending) {
      if (IMAP_KINDS.has(action.kind)) continue;
      if (budget.spent()) {
        fail(work, outOfTime());
        break;
      }
      if (action.kind === 'emit') {
        events.push({ work, action, event: toEvent(work.item.message, action) });
        continue;
      }
      await runOutward(deps, work, action, logger);
      if (hasFailed(work)) break;
    }
  }
  if (events.length > 0 && budget.spent()) {
    for (const { work } of events) fail(work, outOfTime());
  } else if (events.length > 0) {
    await emitEvents(deps, events);
  }

  const actions: Record<string, number> = {};
  for (const work of works) {
    for (const a of work.result.actions)
      if (a.status === 'done' || a.status === 'left-deleted') actions[a.kind] = (actions[a.kind] ?? 0) + 1;
  }
  const items = works.map((w) => w.result);
  const gone = items.filter((i) => i.status === 'done' && isGone(i)).length;
  return {
    items,
    processed: items.filter((i) => i.status === 'done').length - gone,
    failed: items.filter((i) => i.status === 'failed').length,
    gone,
    actions,
  };
}

/** Whether a done message's server-side actions found it missing from the server. */
export function isGone(item: ItemResult): boolean {
  return item.actions.some((a) => a.status === 'gone' || a.status === 'stale');
}

/** Why each failed item failed: its failed actions' reasons, or the item's own error. */
export function failureReports(items: readonly ItemResult[]): FailureReport[] {
  const reports: FailureReport[] = [];
  for (const item of items) {
    if (item.status !== 'failed') continue;
    const at = { account: item.account, mailbox: item.mailbox, uid: item.uid };
    const failedActions = item.actions.filter((a) => a.status === 'failed');
    for (const a of failedActions)
      reports.push({
        ...at,
        rule: a.rule,
        action: a.kind,
        reason: a.note ?? item.error?.message ?? 'failed',
      });
    if (failedActions.length === 0) reports.push({ ...at, reason: item.error?.message ?? 'failed' });
  }
  return reports;
}

/** Decides what to do with one message; loads the raw message only when a rule needs it. */
export async function plan(
  deps: Pick<ProcessDependencies, 'rules' | 'blobs' | 'idempotency' | 'now'>,
  item: BatchItem,
  logger: Logger = silentLogger,
): Promise<Work> {
  const message = item.message;
  const work = newWork(item);
  const { result } = work;
  try {
    const scope = { account: message.account, mailbox: message.mailbox };
    let parsed: ParsedMessage | undefined;
    if (needsBody(deps.rules, scope)) {
      try {
        parsed = await parseMessage(await deps.blobs.get(message.blob.key));
      } catch (error) {
        // A message the parser rejects still gets the envelope-level rules.
        if (isPostroomError(error) && error.code === 'BLOB_NOT_FOUND') throw error;
        result.warnings.push(`message could not be parsed: ${describeError(error).message}`);
      }
    }
    const evaluation = evaluate(toRuleInput(message, parsed), deps.rules, scope, {
      ...(deps.now ? { now: deps.now() } : {}),
    });
    result.matched = evaluation.matched;
    result.warnings.push(...evaluation.warnings);
    if (result.warnings.length > 0) {
      // Results are not printed by every driver: the log is where a user learns that
      // a message could not be parsed and only envelope-level rules applied to it.
      logger.warn('message processed with warnings', {
        account: message.account,
        mailbox: message.mailbox,
        uid: message.uid,
        warnings: result.warnings,
      });
    }
    for (const action of evaluation.actions) {
      if (await deps.idempotency.isDone(idempotencyKey(message, action))) {
        report(work, action, 'already-done');
      } else {
        work.pending.push(action);
      }
    }
    if (parsed) work.parsed = parsed;
  } catch (error) {
    logger.warn('message could not be planned', { uid: message.uid, ...describeError(error) });
    fail(work, error);
  }
  return work;
}

function newWork(item: BatchItem): Work {
  const message = item.message;
  const result: ItemResult = {
    id: item.id,
    account: message.account,
    mailbox: message.mailbox,
    uid: message.uid,
    ...(message.envelope.subject !== undefined ? { subject: message.envelope.subject } : {}),
    matched: [],
    actions: [],
    warnings: [],
    status: 'done',
  };
  return { item, result, pending: [], uid: message.uid };
}

/** The error of a message the batch did not reach in time (retryable: it stays queued). */
function outOfTime(): PostroomError {
  return new PostroomError(
    'PROCESS_OUT_OF_TIME',
    'not processed: the batch ran out of time first; left queued for redelivery',
    { retryable: true },
  );
}

/** The record of one completed (message, rule, action). */
export function idempotencyKey(message: QueueMessage, action: Pick<PlannedAction, 'key' | 'kind'>): string {
  return `${rawBlobKey(message)}#${action.key}#${action.kind}`;
}

async function applyImapActions(
  deps: ProcessDependencies,
  account: AccountConfig,
  works: Work[],
  budget: Budget,
  logger: Logger,
): Promise<void> {
  let session: MailServer;
  try {
    session = await deps.openSession(account, { deadline: budget.deadline });
  } catch (error) {
    logger.error('could not open a session; its messages stay queued', {
      account: account.id,
      ...describeError(error),
    });
    for (const w of works) fail(w, error);
    return;
  }
  try {
    for (const [mailbox, group] of groupBy(works, (w) => w.item.message.mailbox)) {
      if (budget.spent()) {
        for (const w of group) if (w.result.status !== 'failed') fail(w, outOfTime());
        continue;
      }
      try {
        await applyInMailbox(deps, session, mailbox, group, budget, logger);
      } catch (error) {
        logger.error('actions in mailbox failed', { account: account.id, mailbox, ...describeError(error) });
        for (const w of group) if (w.result.status !== 'failed') fail(w, error);
        if (isPostroomError(error) && error.code === 'CONNECTION_LOST') break;
      }
    }
  } finally {
    await session.logout().catch(() => {});
  }
}

/** The order in which server-side actions run: flags travel with a later MOVE; MOVE/delete go last. */
const PHASES: PlannedAction['kind'][] = ['flag', 'unflag', 'copy', 'move', 'delete'];

async function applyInMailbox(
  deps: ProcessDependencies,
  session: MailServer,
  mailbox: string,
  works: Work[],
  budget: Budget,
  logger: Logger,
): Promise<void> {
  // Redelivered COPYs first check the target for the Message-ID (the crash between
  // COPY and its record); that opens other folders, so it happens before SELECT.
  // So do MOVEs on a server without MOVE: the fallback is UID COPY, then UID STORE
  // and UID EXPUNGE, and a crash after the COPY leaves the message in both folders.
  const copiedMoves = new Set<PlannedAction>();
  for (const work of works) {
    const messageId = work.item.message.messageId;
    if (work.item.receiveCount <= 1 || !messageId) continue;
    for (const action of [...work.pending]) {
      if (action.kind !== 'copy' && !(action.kind === 'move' && !session.capabilities.has('MOVE'))) continue;
      const path = await session.resolveFolder(action.target, { create: false });
      if (!path) continue;
      const found = await session.findByMessageId(path, messageId);
      if (found.length === 0) continue;
      if (action.kind === 'copy') await complete(deps, work, action, 'already-done', `found in ${path}`);
      else copiedMoves.add(action);
    }
  }

  // Folder targets are resolved (and created) before SELECT, so that after it
  // only the existence check and one command per group remain.
  const targets = new Map<string, ServerPath>();
  for (const work of works) {
    for (const action of work.pending) {
      if (action.kind !== 'copy' && action.kind !== 'move') continue;
      try {
        await folderPath(session, action.target, targets);
      } catch (error) {
        report(work, action, 'failed', describeError(error).message);
        fail(work, error);
      }
    }
  }

  let state: MailboxState;
  try {
    state = await session.select(mailbox);
  } catch (error) {
    if (!isPostroomError(error) || error.code !== 'MAILBOX_NOT_FOUND') throw error;
    // Deleted (or renamed) since the poll: its messages are gone from where the
    // queue says they are. Retrying would only dead-letter them later.
    logger.warn('mailbox no longer exists; its messages are reported gone', { mailbox });
    for (const work of works) {
      if (work.result.status === 'failed') continue;
      for (const action of work.pending.filter((a) => IMAP_KINDS.has(a.kind))) {
        await complete(deps, work, action, 'gone', `mailbox ${mailbox} no longer exists`);
      }
    }
    return;
  }
  // A UID of a previous incarnation of the mailbox could name another message now:
  // find each stale one again by its fingerprint, as the poll's rescan does.
  const stale = works.filter(
    (w) => w.item.message.uidValidity !== state.uidValidity && w.result.status !== 'failed',
  );
  if (stale.length > 0) await relocate(session, stale);
  const live: Work[] = [];
  for (const work of works) {
    if (work.item.message.uidValidity === state.uidValidity || work.result.currentUid !== undefined) {
      live.push(work);
      continue;
    }
    if (work.result.status === 'failed') continue;
    for (const action of work.pending.filter((a) => IMAP_KINDS.has(a.kind))) {
      await complete(
        deps,
        work,
        action,
        'stale',
        `UIDVALIDITY is now ${state.uidValidity}; not found there by Message-ID, date and size`,
      );
    }
  }
  const existing = new Set(live.length > 0 ? await session.existingUids(live.map((w) => w.uid)) : []);
  for (const work of live) {
    if (existing.has(work.uid)) continue;
    for (const action of work.pending.filter((a) => IMAP_KINDS.has(a.kind))) {
      await complete(deps, work, action, 'gone', 'no longer in the mailbox');
    }
  }

  // A copy or move into the mailbox the message is in would give it a new UID
  // there, which the next poll delivers again, and the rule fires again: a loop.
  for (const work of live) {
    if (work.result.status === 'failed') continue;
    for (const action of work.pending) {
      if (action.kind !== 'copy' && action.kind !== 'move') continue;
      if (targets.get(targetKey(action.target)) !== state.path) continue;
      const note = `already in ${mailbox}; a ${action.kind} there would be polled again`;
      work.result.warnings.push(`rule ${action.rule}: ${action.kind} skipped, the message is ${note}`);
      await complete(deps, work, action, 'skipped', note);
    }
  }

  for (const phase of PHASES) {
    // One command per (action, target or flags) over the UID set.
    const groups = new Map<
      string,
      { action: PlannedAction; entries: { work: Work; action: PlannedAction }[] }
    >();
    for (const work of live) {
      if (!existing.has(work.uid)) continue;
      for (const action of work.pending) {
        if (action.kind !== phase || work.result.status === 'failed') continue;
        const key = `${groupKey(action)}${copiedMoves.has(action) ? '\u0000copied' : ''}`;
        const group = groups.get(key) ?? { action, entries: [] };
        group.entries.push({ work, action });
        groups.set(key, group);
      }
    }
    for (const { action, entries } of groups.values()) {
      if (budget.spent()) {
        for (const entry of entries) fail(entry.work, outOfTime());
        continue;
      }
      const uids = entries.map((e) => e.work.uid);
      let outcome: { status: ActionStatus; note?: string };
      try {
        outcome = await runImapAction(session, action, uids, targets, copiedMoves.has(action));
      } catch (error) {
        for (const entry of entries) {
          report(entry.work, entry.action, 'failed', describeError(error).message);
          fail(entry.work, error);
        }
        if (isPostroomError(error) && error.code === 'CONNECTION_LOST') throw error;
        continue;
      }
      if (outcome.status === 'left-deleted') {
        logger.warn('server lacks UIDPLUS: messages left marked \\Deleted, not expunged', {
          mailbox,
          uids,
        });
      }
      // The server did it for every UID; a record that fails fails only its own message
      // (redelivered, it finds the effect: the copy by Message-ID, the moved UID gone).
      for (const entry of entries) {
        try {
          await complete(deps, entry.work, entry.action, outcome.status, outcome.note);
        } catch (error) {
          report(
            entry.work,
            entry.action,
            'failed',
            `done, but not recorded: ${describeError(error).message}`,
          );
          fail(entry.work, error);
        }
      }
    }
  }
}

/**
 * Finds messages queued under an earlier UIDVALIDITY in the selected mailbox by
 * Message-ID + internal date + size, and points them at their new UIDs. Two
 * queued messages with one fingerprint (the same mail appended twice) take
 * the matching UIDs in order, one each.
 */
async function relocate(session: MailServer, works: Work[]): Promise<void> {
  const dates = works.map((w) => Date.parse(w.item.message.internalDate));
  const earliest = Math.min(...dates.filter(Number.isFinite));
  // SEARCH SINCE compares dates only, in the server's zone (RFC 3501 6.4.4): a day earlier covers any zone.
  const since = new Date(Number.isFinite(earliest) ? earliest - 86_400_000 : 0);
  const uids = await session.searchSince(since);
  const byFingerprint = new Map<string, number[]>();
  for (let i = 0; i < uids.length; i += RELOCATE_META_SLICE) {
    for (const meta of await session.fetchMeta(uids.slice(i, i + RELOCATE_META_SLICE), { messageId: true })) {
      const fingerprint = messageFingerprint(meta);
      const list = byFingerprint.get(fingerprint);
      if (list) list.push(meta.uid);
      else byFingerprint.set(fingerprint, [meta.uid]);
    }
  }
  for (const list of byFingerprint.values()) list.sort((a, b) => a - b);
  for (const work of [...works].sort((a, b) => a.item.message.uid - b.item.message.uid)) {
    const uid = byFingerprint.get(messageFingerprint(work.item.message))?.shift();
    if (uid === undefined) continue;
    work.uid = uid;
    work.result.currentUid = uid;
  }
}

/** UIDs per metadata FETCH while relocating: one command stays a bounded answer. */
const RELOCATE_META_SLICE = 500;

async function runImapAction(
  session: MailServer,
  action: PlannedAction,
  uids: number[],
  targets: Map<string, ServerPath>,
  /** A redelivered MOVE (fallback) whose COPY already reached the target: only the removal is left. */
  alreadyCopied = false,
): Promise<{ status: ActionStatus; note?: string }> {
  switch (action.kind) {
    case 'flag':
      await session.addFlags(uids, action.flags);
      return { status: 'done' };
    case 'unflag':
      await session.removeFlags(uids, action.flags);
      return { status: 'done' };
    case 'copy':
    case 'move': {
      const path = await folderPath(session, action.target, targets);
      if (action.kind === 'copy') {
        await session.copy(uids, path);
        return { status: 'done' };
      }
      if (alreadyCopied) {
        const removal = await session.deleteMessages(uids);
        return removal.expunged
          ? { status: 'done', note: `found in ${path}; removed from the source (${removal.method})` }
          : {
              status: 'left-deleted',
              note: `found in ${path}; left marked \\Deleted (server has no UIDPLUS)`,
            };
      }
      const outcome = await session.move(uids, path);
      return outcome.expunged
        ? { status: 'done', note: outcome.method }
        : { status: 'left-deleted', note: `copied; left marked \\Deleted (server has no UIDPLUS)` };
    }
    case 'delete': {
      const outcome = await session.deleteMessages(uids);
      return outcome.expunged
        ? { status: 'done', note: outcome.method }
        : { status: 'left-deleted', note: 'marked \\Deleted; not expunged (server has no UIDPLUS)' };
    }
    default:
      throw new Error(`not an IMAP action: ${action.kind}`);
  }
}

async function folderPath(
  session: MailServer,
  target: FolderRef,
  cache: Map<string, ServerPath>,
): Promise<ServerPath> {
  const key = targetKey(target);
  const cached = cache.get(key);
  if (cached) return cached;
  // Named folders are created if missing; a special-use folder must exist on the server.
  const path = await session.resolveFolder(target, { create: 'path' in target });
  if (!path) {
    throw new PostroomError(
      'FOLDER_NOT_FOUND',
      `no ${'path' in target ? target.path : `${target.specialUse} (special-use)`} folder on the server`,
    );
  }
  cache.set(key, path);
  return path;
}

function targetKey(target: FolderRef): string {
  return 'path' in target ? `p:${target.path}` : `s:${target.specialUse}`;
}

async function runOutward(
  deps: ProcessDependencies,
  work: Work,
  action: PlannedAction,
  logger: Logger,
): Promise<void> {
  const message = work.item.message;
  try {
    if (action.kind === 'webhook') {
      const secret = await deps.resolveSecret(action.secret);
      await deps.sendWebhook({
        url: action.url,
        secret,
        body: eventDetail(message, action),
        deliveryId: idempotencyKey(message, action),
        timeoutMs: action.timeoutMs,
        retries: action.retries,
      });
      await complete(deps, work, action, 'done');
    } else if (action.kind === 'saveAttachments') {
      const saved = await saveAttachments(deps.blobs, message, action.prefix);
      // The record says "done" for good: the exported bytes must be durable first
      // (the local folder defers its fsyncs to an explicit flush).
      await deps.blobs.flush?.();
      await complete(deps, work, action, 'done', `${saved} attachment(s)`);
    }
  } catch (error) {
    logger.warn('action failed', {
      uid: message.uid,
      rule: action.rule,
      kind: action.kind,
      ...describeError(error),
    });
    report(work, action, 'failed', describeError(error).message);
    fail(work, error);
  }
}

/** Streams each attachment to `<prefix><account>/<mailbox>/<uidValidity>/<uid>/<n>-<filename>`. */
async function saveAttachments(blobs: BlobStore, message: QueueMessage, prefix: string): Promise<number> {
  const base = `${prefix}${message.account}/${mailboxKeySegment(message.mailbox)}/${message.uidValidity}/${message.uid}/`;
  let count = 0;
  for await (const part of readAttachments(await blobs.get(message.blob.key))) {
    if (part.related) continue;
    count += 1;
    const name = safeFileName(part.filename ?? `attachment-${count}`);
    await blobs.put(`${base}${count}-${name}`, part.content, { contentType: part.contentType });
  }
  return count;
}

function safeFileName(name: string): string {
  // Path separators and control characters (C0 and DEL) never reach a key.
  const cleaned = [...name]
    .map((c) => (c === '/' || c === '\\' || c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? '_' : c))
    .join('')
    .replace(/^\.+/, '_')
    .slice(0, 200);
  return cleaned === '' ? 'attachment' : cleaned;
}

/** Up to one PutEvents call's worth: its records are written as soon as it succeeds. */
const EVENTS_PER_RECORD = 10;

/**
 * Emits a batch's events. Exactly once where the sink commits the records with
 * the events (locally); else each group's records are written as soon as the
 * sink accepted it, so a crash in between repeats only those few, with their ids.
 */
async function emitEvents(
  deps: Pick<ProcessDependencies, 'events' | 'idempotency' | 'idempotencyTtlSeconds'>,
  events: { work: Work; action: PlannedAction; event: PostroomEvent }[],
): Promise<void> {
  const failAll = (group: { work: Work; action: PlannedAction }[], error: unknown, prefix = '') => {
    for (const { work, action } of group) {
      report(work, action, 'failed', `${prefix}${describeError(error).message}`);
      fail(work, error);
    }
  };
  const sink = deps.events;
  if (sink.emitRecorded) {
    try {
      await sink.emitRecorded(
        events.map(({ work, action, event }) => ({ key: idempotencyKey(work.item.message, action), event })),
        ttlSeconds(deps),
      );
    } catch (error) {
      failAll(events, error);
      return;
    }
    for (const { work, action } of events) settle(work, action, 'done');
    return;
  }
  for (let i = 0; i < events.length; i += EVENTS_PER_RECORD) {
    const group = events.slice(i, i + EVENTS_PER_RECORD);
    try {
      await sink.emit(group.map((e) => e.event));
    } catch (error) {
      failAll(events.slice(i), error);
      return;
    }
    await Promise.all(
      group.map(({ work, action }) =>
        complete(deps, work, action, 'done').catch((error: unknown) =>
          failAll([{ work, action }], error, 'emitted, but not recorded: '),
        ),
      ),
    );
  }
}

function eventDetail(message: QueueMessage, action: PlannedAction): Record<string, unknown> {
  return { ...message, rule: action.rule, account: message.account, mailbox: message.mailbox };
}

/** The event of an `emit`; its `id` is stable for the (message, rule, action), like `X-Postroom-Delivery`. */
function toEvent(message: QueueMessage, action: PlannedAction): PostroomEvent {
  if (action.kind !== 'emit') throw new Error('not an emit action');
  return {
    source: 'postroom',
    'detail-type': action.detailType,
    detail: { id: idempotencyKey(message, action), ...eventDetail(message, action) },
  };
}

async function complete(
  deps: Pick<ProcessDependencies, 'idempotency' | 'idempotencyTtlSeconds'>,
  work: Work,
  action: PlannedAction,
  status: ActionStatus,
  note?: string,
): Promise<void> {
  await deps.idempotency.markDone(idempotencyKey(work.item.message, action), ttlSeconds(deps));
  settle(work, action, status, note);
}

/** Reports a recorded action and takes it off the pending list. */
function settle(work: Work, action: PlannedAction, status: ActionStatus, note?: string): void {
  report(work, action, status, note);
  work.pending = work.pending.filter((a) => a !== action);
}

function ttlSeconds(deps: Pick<ProcessDependencies, 'idempotencyTtlSeconds'>): number {
  return deps.idempotencyTtlSeconds ?? 14 * 86_400;
}

function report(work: Work, action: PlannedAction, status: ActionStatus, note?: string): void {
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

function groupKey(action: PlannedAction): string {
  return `${action.kind}\u0000${actionDetail(action) ?? ''}`;
}

function fail(work: Work, error: unknown): void {
  work.result.status = 'failed';
  work.result.error ??= describeError(error);
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
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
function hasFailed(work: Work): boolean {
  return work.result.status === 'failed';
}
