/**
 * What a poll says besides its counts: why a mailbox's first poll with
 * `start: new` fetched nothing. Shared by `postroom poll` and `postroom run`.
 */
import type { MailboxPollResult } from '../core/poll.ts';

/** `first poll of support/INBOX: starting after UID 206 (start: new) — existing mail is not processed (160 messages)`. */
export function firstPollNote(mailbox: MailboxPollResult): string | undefined {
  const first = mailbox.firstPoll;
  if (!first) return undefined;
  const existing =
    first.existing > 0
      ? ` (${first.existing} message${first.existing === 1 ? '' : 's'}; \`start: all\` or a date takes them)`
      : '';
  return (
    `first poll of ${mailbox.account}/${mailbox.mailbox}: starting after UID ${first.afterUid} (start: new)` +
    ` — existing mail is not processed${existing}`
  );
}
