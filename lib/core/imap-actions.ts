/**
 * The IMAP half of processing: per account one session, per mailbox the
 * planned actions grouped into one command per (action, target) over a UID
 * set, and messages whose UIDVALIDITY went stale found again by fingerprint.
 */
import type { AccountConfig } from '../config/schema.ts';
import { describeError, isPostroomError, PostroomError } from '../errors.ts';
import type { FolderRef, Logger, MailboxState, MailServer, ServerPath } from '../ports.ts';
import type { PlannedAction } from '../rules/planner.ts';
import { runProviderAction } from './gmail-actions.ts';
import { messageFingerprint } from './keys.ts';
import {
  type ActionStatus,
  type Budget,
  complete,
  completeAll,
  type Entry,
  fail,
  groupBy,
  groupKey,
  IMAP_KINDS,
  outOfTime,
  type ProcessDependencies,
  report,
  type Work,
} from './process-work.ts';

export async function applyImapActions(
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

/**
 * The order in which server-side actions run: flags travel with a later MOVE;
 * MOVE/delete go last. On Gmail, taking off the label of the folder the
 * message was polled from takes it out of that folder: `unlabel` follows the copies.
 */
const PHASES: PlannedAction['kind'][] = ['flag', 'unflag', 'label', 'copy', 'unlabel', 'move', 'delete'];

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
    await completeAll(
      deps,
      imapEntries(works.filter((w) => w.result.status !== 'failed')),
      'gone',
      `mailbox ${mailbox} no longer exists`,
    );
    return;
  }
  // A UID of a previous incarnation of the mailbox could name another message now:
  // find each stale one again by its fingerprint, as the poll's rescan does.
  const stale = works.filter(
    (w) => w.item.message.uidValidity !== state.uidValidity && w.result.status !== 'failed',
  );
  if (stale.length > 0) await relocate(session, stale);
  const live: Work[] = [];
  const lost: Work[] = [];
  for (const work of works) {
    if (work.item.message.uidValidity === state.uidValidity || work.result.currentUid !== undefined) {
      live.push(work);
    } else if (work.result.status !== 'failed') {
      lost.push(work);
    }
  }
  await completeAll(
    deps,
    imapEntries(lost),
    'stale',
    `UIDVALIDITY is now ${state.uidValidity}; not found there by Message-ID, date and size`,
  );
  const existing = new Set(live.length > 0 ? await session.existingUids(live.map((w) => w.uid)) : []);
  await completeAll(
    deps,
    imapEntries(live.filter((w) => !existing.has(w.uid))),
    'gone',
    'no longer in the mailbox',
  );

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
    const groups = new Map<string, { action: PlannedAction; entries: Entry[] }>();
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
        outcome =
          (await runProviderAction(session, action, uids, state)) ??
          (await runImapAction(session, action, uids, targets, copiedMoves.has(action)));
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
      // The server did it for every UID: their records go up together.
      await completeAll(deps, entries, outcome.status, outcome.note);
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

/** The server-side actions still pending for these messages. */
function imapEntries(works: readonly Work[]): Entry[] {
  return works.flatMap((work) =>
    work.pending.filter((a) => IMAP_KINDS.has(a.kind)).map((action) => ({ work, action })),
  );
}

function targetKey(target: FolderRef): string {
  return 'path' in target ? `p:${target.path}` : `s:${target.specialUse}`;
}
