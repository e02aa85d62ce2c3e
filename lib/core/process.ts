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
 * Written against the ports and the pure rule engine only. The IMAP half is
 * `imap-actions.ts`, the outward half `outward-actions.ts`, the shared types
 * and bookkeeping `process-work.ts`.
 */
import { describeError, isPostroomError, PostroomError } from '../errors.ts';
import type { Logger, PostroomEvent } from '../ports.ts';
import { silentLogger } from '../ports.ts';
import { DEFAULT_PARSE_LIMITS, type ParsedMessage, parseMessage, toRuleInput } from '../rules/message.ts';
import { contentNeeded, evaluate, type PlannedAction } from '../rules/planner.ts';
import { forEachLimited } from '../work-pool.ts';
import { readHead } from './blob-head.ts';
import { applyImapActions } from './imap-actions.ts';
import { emitEvents, eventFor, runOutward } from './outward-actions.ts';
import {
  actionDetail,
  type BatchItem,
  type Budget,
  type FailureReport,
  fail,
  groupBy,
  hasFailed,
  IMAP_KINDS,
  type ItemResult,
  idempotencyKey,
  outOfTime,
  type ProcessDependencies,
  type ProcessOptions,
  type ProcessResult,
  report,
  type Work,
} from './process-work.ts';
import { rulesUseAuth, senderVerdicts } from './sender-auth.ts';

export type {
  ActionReport,
  ActionStatus,
  BatchItem,
  FailureReport,
  ItemResult,
  ProcessDependencies,
  ProcessOptions,
  ProcessResult,
} from './process-work.ts';
export { actionDetail, idempotencyKey } from './process-work.ts';

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
  // Planning reads blobs: several messages at once, so one's file or S3 read overlaps another's parse.
  const works: Work[] = new Array(batch.length);
  await forEachLimited(
    batch.map((item, index) => ({ item, index })),
    PLAN_CONCURRENCY,
    async ({ item, index }) => {
      if (budget.spent()) {
        const work = newWork(item);
        fail(work, outOfTime());
        works[index] = work;
        return;
      }
      works[index] = await plan(deps, item, logger);
    },
  );
  await skipDone(deps, works, logger);

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
  const emits: { work: Work; action: PlannedAction }[] = [];
  for (const work of works) {
    if (work.result.status === 'failed') continue;
    for (const action of work.pending) {
      if (IMAP_KINDS.has(action.kind)) continue;
      if (budget.spent()) {
        fail(work, outOfTime());
        break;
      }
      if (action.kind === 'emit') {
        emits.push({ work, action });
        continue;
      }
      await runOutward(deps, work, action, logger);
      if (hasFailed(work)) break;
    }
  }
  // Events are built once the message's attachments are saved: their detail names the keys.
  const events: { work: Work; action: PlannedAction; event: PostroomEvent }[] = [];
  for (const { work, action } of emits) {
    const event = await eventFor(deps, work, action, logger);
    if (event) events.push({ work, action, event });
  }
  if (events.length > 0 && budget.spent()) {
    for (const { work } of events) fail(work, outOfTime());
  } else if (events.length > 0) {
    await emitEvents(deps, events);
  }

  // What a failed message did not get to is reported too: a table shows it as not done.
  for (const work of works) {
    if (!hasFailed(work)) continue;
    const reported = new Set(
      work.result.actions.map((a) => `${a.rule}\u0000${a.kind}\u0000${a.detail ?? ''}`),
    );
    for (const action of work.pending)
      if (!reported.has(`${action.rule}\u0000${action.kind}\u0000${actionDetail(action) ?? ''}`))
        report(work, action, 'not-done');
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

/** Messages planned at once: their blob reads overlap; parsing stays bounded by the parse limits of each. */
const PLAN_CONCURRENCY = 4;

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
  deps: Pick<ProcessDependencies, 'rules' | 'blobs' | 'idempotency' | 'now'> &
    Partial<Pick<ProcessDependencies, 'accounts' | 'dnsResolver'>>,
  item: BatchItem,
  logger: Logger = silentLogger,
): Promise<Work> {
  const message = item.message;
  const work = newWork(item);
  const { result } = work;
  try {
    const scope = { account: message.account, mailbox: message.mailbox };
    let parsed: ParsedMessage | undefined;
    // Header rules read the header block only.
    const level = contentNeeded(deps.rules, scope);
    if (level !== 'none') {
      try {
        const raw =
          level === 'header'
            ? await readHead(deps.blobs, message.blob.key, DEFAULT_PARSE_LIMITS.maxHeaderBytes)
            : await deps.blobs.get(message.blob.key);
        parsed = await parseMessage(raw);
      } catch (error) {
        // A message the parser rejects still gets the envelope-level rules.
        if (isPostroomError(error) && error.code === 'BLOB_NOT_FOUND') throw error;
        result.warnings.push(`message could not be parsed: ${describeError(error).message}`);
      }
    }
    const input = toRuleInput(message, parsed);
    if (level === 'header') {
      // Parsed from the header block: the body and attachments were not read, so they are unknown.
      delete input.text;
      delete input.attachments;
    }
    if (parsed?.ok && rulesUseAuth(deps.rules, scope))
      input.auth = work.auth = await senderVerdicts(deps, message, parsed);
    const evaluation = evaluate(input, deps.rules, scope, {
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
    // Which of these are already done is asked for the whole batch at once (`skipDone`).
    work.pending.push(...evaluation.actions);
    // Kept for the outward actions (event detail, attachments) only when it is the whole message.
    if (parsed && level === 'body') work.parsed = parsed;
  } catch (error) {
    logger.warn('message could not be planned', { uid: message.uid, ...describeError(error) });
    fail(work, error);
  }
  return work;
}

/**
 * Takes the actions a redelivered message already completed off its pending
 * list, reported `already-done`: one look-up for the batch where the store
 * has one (`doneAmong`), else one per action.
 */
export async function skipDone(
  deps: Pick<ProcessDependencies, 'idempotency'>,
  works: readonly Work[],
  logger: Logger,
): Promise<void> {
  const planned = works.filter((w) => w.result.status !== 'failed' && w.pending.length > 0);
  const keyed = planned.map((work) => ({
    work,
    keys: work.pending.map((action) => idempotencyKey(work.item.message, action)),
  }));
  let done: Set<string>;
  try {
    const keys = keyed.flatMap((k) => k.keys);
    const { idempotency } = deps;
    if (idempotency.doneAmong) done = await idempotency.doneAmong(keys);
    else {
      done = new Set();
      for (const key of keys) if (await idempotency.isDone(key)) done.add(key);
    }
  } catch (error) {
    logger.warn('could not read the idempotency records; the batch stays queued', describeError(error));
    for (const work of planned) fail(work, error);
    return;
  }
  for (const { work, keys } of keyed) {
    const actions = work.pending;
    work.pending = [];
    actions.forEach((action, i) => {
      if (done.has(keys[i]!)) report(work, action, 'already-done');
      else work.pending.push(action);
    });
  }
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
