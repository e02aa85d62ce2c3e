/**
 * UID SEARCH (RFC 3501 6.4.4), with the ESEARCH answer of IMAP4rev2 servers
 * (RFC 9051 6.4.4). Searches over many UIDs go in windows, so that no answer
 * line grows past `limits.maxLineBytes` however large the mailbox is.
 */
import type { ImapSession } from '../session.ts';
import { expandSet, isNzNumber, uidSets } from '../uid-sets.ts';

/** UIDs per search window: at most 11 bytes each in the answer, so well under 1 MiB. */
const SEARCH_WINDOW = 50_000;

/** UIDs matching `criteria` in the selected mailbox, sorted and unique. */
export async function uidSearch(session: ImapSession, criteria: unknown[], what: string): Promise<number[]> {
  const found: number[] = [];
  await session.exec('UID SEARCH', criteria, what, {
    SEARCH: async (untagged) => {
      if (untagged.numbers) found.push(...untagged.numbers);
      else for (const attribute of untagged.attributes ?? []) found.push(Number(attribute.value));
    },
    // `* ESEARCH (TAG "x") UID ALL 1:5,9`
    ESEARCH: async (untagged) => {
      const attributes = untagged.attributes ?? [];
      for (let index = 0; index < attributes.length - 1; index++) {
        if (String(attributes[index]?.value).toUpperCase() === 'ALL')
          found.push(...expandSet(String(attributes[index + 1]?.value)));
      }
    },
  });
  return [...new Set(found.filter(isNzNumber))].sort((a, b) => a - b);
}

const uidCriteria = (set: string) => [
  { type: 'ATOM', value: 'UID' },
  { type: 'SEQUENCE', value: set },
];

/** UIDs greater than `afterUid` in the selected mailbox. */
export async function searchNewerThan(session: ImapSession, afterUid: number): Promise<number[]> {
  const selected = session.requireSelected('UID SEARCH');
  const found: number[] = [];
  let from = afterUid + 1;
  // Whole windows below UIDNEXT, then one open-ended search for the rest.
  while (selected.uidNext - from > SEARCH_WINDOW) {
    const to = from + SEARCH_WINDOW - 1;
    found.push(...(await uidSearch(session, uidCriteria(`${from}:${to}`), `UID SEARCH UID ${from}:${to}`)));
    from = to + 1;
  }
  // `n:*` always includes the highest UID in use, even when it is below n
  // (RFC 3501 6.4.8, `*` is the largest UID): filter.
  found.push(...(await uidSearch(session, uidCriteria(`${from}:*`), `UID SEARCH UID ${from}:*`)));
  return found.filter((uid) => uid > afterUid);
}

/** UIDs of messages with an internal date on or after `since`. */
export function searchSince(session: ImapSession, since: Date): Promise<number[]> {
  session.requireSelected('UID SEARCH');
  const date = imapDate(since);
  return uidSearch(
    session,
    [
      { type: 'ATOM', value: 'SINCE' },
      { type: 'ATOM', value: date },
    ],
    `UID SEARCH SINCE ${date}`,
  );
}

/** Which of `uids` still exist in the selected mailbox (one command per set). */
export async function existingUids(session: ImapSession, uids: number[]): Promise<number[]> {
  session.requireSelected('UID SEARCH');
  const found: number[] = [];
  for (const set of uidSets(uids))
    found.push(...(await uidSearch(session, uidCriteria(set), `UID SEARCH UID ${set}`)));
  // A set can match the highest UID in use; only the ones asked for count.
  const wanted = new Set(uids);
  return found.filter((uid) => wanted.has(uid));
}

/** The highest UID in use in the selected mailbox (`UID SEARCH UID *`), 0 when it is empty. */
export async function highestUid(session: ImapSession): Promise<number> {
  const found = await uidSearch(session, uidCriteria('*'), 'UID SEARCH UID *');
  return found.at(-1) ?? 0;
}

/** IMAP `date` (RFC 3501 9: `1-Feb-2026`), in UTC like the rest of Postroom. */
function imapDate(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  return `${date.getUTCDate()}-${months[date.getUTCMonth()]}-${date.getUTCFullYear()}`;
}
