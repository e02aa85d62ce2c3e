/**
 * Gmail labels (X-GM-EXT-1): `UID STORE +X-GM-LABELS` / `-X-GM-LABELS`, one
 * command per UID set. A label is a mailbox name (`Finance/Invoices`, sent
 * in modified UTF-7 like one) or one of Gmail's system labels (`\Inbox`,
 * `\Starred`, `\Important`), which go as atoms. Adding a label a message
 * already has, or removing one it lacks, changes nothing: a redelivered
 * action is harmless.
 */
import type { GmailFacts } from '../../ports.ts';
import { imapError } from '../errors.ts';
import { encodeMailboxPath } from '../flow-internals.ts';
import type { ImapSession } from '../session.ts';
import { uidSets } from '../uid-sets.ts';

/** `\Inbox`, `\Starred`: a backslash and letters. */
const SYSTEM_LABEL = /^\\[A-Za-z]+$/;

export async function storeLabels(
  session: ImapSession,
  uids: number[],
  operation: '+X-GM-LABELS' | '-X-GM-LABELS',
  labels: string[],
): Promise<void> {
  session.requireSelected('UID STORE', true);
  if (!session.gmail) {
    throw imapError(
      'COMMAND_FAILED',
      session.account,
      `labels need Gmail's IMAP extensions (X-GM-EXT-1), which ${session.ctx.host} does not announce`,
      { retryable: false },
    );
  }
  const bad = labels.find((label) => label === '' || /[\r\n\0]/.test(label));
  if (bad !== undefined)
    throw imapError('COMMAND_FAILED', session.account, `invalid label ${JSON.stringify(bad)}`);
  if (labels.length === 0) return;
  // A system label is a flag-like atom; any other label an astring, encoded like a mailbox name.
  const values = labels.map((label) =>
    SYSTEM_LABEL.test(label)
      ? { type: 'ATOM', value: label }
      : { type: 'STRING', value: encodeMailboxPath(session.client, label) },
  );
  for (const set of uidSets(uids)) {
    await session.exec(
      'UID STORE',
      [{ type: 'SEQUENCE', value: set }, { type: 'ATOM', value: operation }, values],
      `UID STORE ${set} ${operation} (${labels.join(' ')})`,
    );
  }
}

/** X-GM-MSGID, X-GM-THRID and X-GM-LABELS of a fetched message, as ImapFlow parsed them; undefined without an id. */
export function gmailFacts(message: {
  emailId?: string | undefined;
  threadId?: string | undefined;
  labels?: Set<string> | undefined;
}): GmailFacts | undefined {
  const msgId = decimalId(message.emailId);
  if (!msgId) return undefined;
  const threadId = decimalId(message.threadId);
  // A server may send any number of labels: the queue message (256 KiB in SQS) carries a bounded list.
  const labels = [...(message.labels ?? [])]
    .map(String)
    .filter((label) => label.length <= MAX_LABEL_LENGTH)
    .slice(0, MAX_LABELS);
  return { msgId, ...(threadId ? { threadId } : {}), labels };
}

/** At most this many labels per message travel in the queue message (Gmail users rarely have more than a few dozen). */
export const MAX_LABELS = 500;
/** Longer label names (far beyond what Gmail lets a user create) are left out. */
export const MAX_LABEL_LENGTH = 1000;

/** Gmail's ids are unsigned 64-bit decimals; anything else is not trusted as one. */
function decimalId(value: unknown): string | undefined {
  const text = typeof value === 'string' || typeof value === 'number' ? String(value) : '';
  return /^\d{1,20}$/.test(text) ? text : undefined;
}
