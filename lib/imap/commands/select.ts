/**
 * SELECT (read-write) and EXAMINE (read-only), RFC 3501 6.3.1–6.3.2, and what
 * a session needs to trust their answer: a UIDVALIDITY that can be tracked
 * and a UIDNEXT, asked for or worked out where the server leaves it out.
 */
import type { MailboxObject } from 'imapflow';
import type { MailboxState, ServerPath } from '../../ports.ts';
import { imapError, oneLine, serverAnswer } from '../errors.ts';
import { seedFolderCache } from '../flow-internals.ts';
import type { ImapSession } from '../session.ts';
import { isNzNumber } from '../uid-sets.ts';
import { highestUid } from './search.ts';

/** Opens a mailbox by its logical and server names; the session remembers it as selected. */
export async function openMailbox(
  session: ImapSession,
  logical: string,
  path: ServerPath,
  readOnly: boolean,
): Promise<MailboxState> {
  const verb = readOnly ? 'EXAMINE' : 'SELECT';
  const what = `${verb} "${logical}"`;
  const client = session.client;
  session.selected = null;
  try {
    // UIDNEXT may be missing from the SELECT/EXAMINE reply on some servers: ask
    // STATUS, but before selecting, since some servers answer STATUS for the
    // selected mailbox from a stale view.
    let statusUidNext: number | undefined;
    if (session.uidNextMissing) statusUidNext = await statusUidNextOf(session, path);
    seedFolderCache(client, path, session.namespace.delimiter);
    let opened = await session.run(what, () => client.mailboxOpen(path, { readOnly }), isMissingMailbox);
    if (!isNzNumber(opened.uidNext) && statusUidNext === undefined && !session.uidNextMissing) {
      if (opened.uidNext !== undefined)
        session.warn(`the server answered UIDNEXT ${opened.uidNext} for "${logical}"; asking STATUS instead`);
      session.uidNextMissing = true;
      await leaveMailbox(session, path, readOnly);
      statusUidNext = await statusUidNextOf(session, path);
      opened = await session.run(what, () => client.mailboxOpen(path, { readOnly }), isMissingMailbox);
    }
    return await remember(session, logical, path, readOnly, opened, statusUidNext);
  } catch (error) {
    if (isMissingMailbox(error)) {
      throw imapError(
        'MAILBOX_NOT_FOUND',
        session.account,
        `mailbox "${logical}" does not exist: ${serverAnswer(error) ?? oneLine(String((error as Error).message))}`,
        { cause: error, password: session.ctx.password, context: { mailbox: logical, path } },
      );
    }
    throw session.failed(error, what);
  }
}

/** ImapFlow's word (or the server's, RFC 5530 NONEXISTENT) that the mailbox does not exist. */
function isMissingMailbox(error: unknown): boolean {
  return (
    (error as { mailboxMissing?: boolean }).mailboxMissing === true ||
    (error as { serverResponseCode?: string }).serverResponseCode === 'NONEXISTENT' ||
    /\[NONEXISTENT\]/i.test(serverAnswer(error) ?? '')
  );
}

async function remember(
  session: ImapSession,
  logical: string,
  path: ServerPath,
  readOnly: boolean,
  opened: MailboxObject,
  statusUidNext: number | undefined,
): Promise<MailboxState> {
  const uidValidity = Number(opened.uidValidity);
  if (!isNzNumber(uidValidity)) {
    // Every checkpoint and blob key is scoped by UIDVALIDITY (RFC 3501 2.3.1.1: a
    // non-zero 32-bit number); one that is 0 or missing cannot tell two eras apart.
    throw imapError(
      'IMAP_PROTOCOL',
      session.account,
      `the server answered UIDVALIDITY ${String(opened.uidValidity)} for "${logical}", which RFC 3501 does not allow; refusing to track this mailbox`,
      { retryable: false, context: { mailbox: logical } },
    );
  }
  const selected = { logical, path, readOnly, uidValidity, uidNext: 0 };
  session.selected = selected;
  let uidNext = isNzNumber(opened.uidNext) ? opened.uidNext : statusUidNext;
  if (uidNext === undefined) {
    // No usable UIDNEXT from SELECT or STATUS: the highest UID in use bounds it.
    uidNext = (opened.exists > 0 ? await highestUid(session) : 0) + 1;
  }
  selected.uidNext = uidNext;
  const state: MailboxState = { path, uidValidity, uidNext, exists: opened.exists };
  if (opened.highestModseq !== undefined && !opened.noModseq)
    state.highestModSeq = opened.highestModseq.toString();
  return state;
}

/** Leaves the selected mailbox without expunging anything (RFC 3691 UNSELECT; CLOSE only when read-only). */
async function leaveMailbox(session: ImapSession, path: ServerPath, readOnly: boolean): Promise<void> {
  if (session.capabilities.has('UNSELECT')) {
    await session.exec('UNSELECT', false, 'UNSELECT');
    return;
  }
  const client = session.client;
  // CLOSE expunges a read-write mailbox (RFC 3501 6.4.2): make it read-only first.
  if (!readOnly) await session.run('EXAMINE', () => client.mailboxOpen(path, { readOnly: true }));
  await session.run('CLOSE', () => client.mailboxClose());
}

async function statusUidNextOf(session: ImapSession, path: ServerPath): Promise<number | undefined> {
  const status = await session.run(`STATUS "${session.logicalName(path)}"`, () =>
    session.client.status(path, { uidNext: true, uidValidity: true }),
  );
  return status && isNzNumber(status.uidNext) ? status.uidNext : undefined;
}
