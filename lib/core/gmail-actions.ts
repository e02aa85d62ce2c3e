/**
 * The server-side actions whose meaning depends on the provider, for the
 * IMAP half of processing (`imap-actions.ts` asks here first):
 *
 * - `label` / `unlabel`: Gmail's `UID STORE ±X-GM-LABELS` over the set.
 * - `delete` on Gmail: a `\Deleted` + EXPUNGE in a label folder (INBOX
 *   included) only takes that label off; the message stays in All Mail. So
 *   a Gmail delete is a MOVE to the folder LIST marks `\Trash`, and only in
 *   the Trash itself an expunge (which there deletes for good).
 */
import { PostroomError } from '../errors.ts';
import type { MailboxState, MailServer } from '../ports.ts';
import type { PlannedAction } from '../rules/planner.ts';
import type { ActionStatus } from './process-work.ts';

type Outcome = { status: ActionStatus; note?: string };

/** The outcome of an action this module handles, or undefined to leave it to the generic path. */
export async function runProviderAction(
  session: MailServer,
  action: PlannedAction,
  uids: number[],
  state: MailboxState,
): Promise<Outcome | undefined> {
  if (action.kind === 'label' || action.kind === 'unlabel') {
    const store = action.kind === 'label' ? session.addLabels : session.removeLabels;
    if (!store || session.provider !== 'gmail') {
      throw new PostroomError(
        'LABELS_UNSUPPORTED',
        `${action.kind} needs a Gmail server (X-GM-EXT-1); this account's server has no labels`,
        { retryable: false },
      );
    }
    await store.call(session, uids, action.labels);
    return { status: 'done' };
  }
  if (action.kind === 'delete' && session.provider === 'gmail') return gmailDelete(session, uids, state);
  return undefined;
}

async function gmailDelete(session: MailServer, uids: number[], state: MailboxState): Promise<Outcome> {
  const trash = await session.resolveFolder({ specialUse: '\\Trash' }, { create: false });
  if (!trash) {
    // An expunge would only archive the message: not what `delete` promises.
    throw new PostroomError(
      'FOLDER_NOT_FOUND',
      'no \\Trash (special-use) folder on this Gmail server; delete would only remove a label, so nothing was done',
      { retryable: false },
    );
  }
  if (trash === state.path) {
    const outcome = await session.deleteMessages(uids);
    return outcome.expunged
      ? { status: 'done', note: `${outcome.method} from the Trash (deleted for good)` }
      : { status: 'left-deleted', note: 'marked \\Deleted in the Trash; not expunged (no UIDPLUS)' };
  }
  const outcome = await session.move(uids, trash);
  return outcome.expunged
    ? { status: 'done', note: `moved to ${trash} (Gmail: an expunge would only remove the label)` }
    : { status: 'left-deleted', note: `copied to ${trash}; left marked \\Deleted (no UIDPLUS)` };
}
