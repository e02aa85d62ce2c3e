/**
 * Gmail shows one message in every folder it has a label for (INBOX, each
 * label, `[Gmail]/All Mail`), each time under a UID of that folder. Polling
 * several of them would queue the same message once per folder; its
 * X-GM-MSGID, the same in all of them, is recorded when it is queued and a
 * message whose id is recorded is skipped wherever else it turns up.
 *
 * The record is the delivery log's, under a scope no mailbox can have (`*`
 * is refused in mailbox names), so it is as durable as the rescan's
 * fingerprints and needs no store of its own. Polls of one account run their
 * mailboxes one after another, each batch recorded before the next starts;
 * two pollers racing through two labels of one new message at the same
 * moment could both queue it.
 */
import type { DeliveryLog, MessageMeta, QueueMessage } from '../ports.ts';

/** The delivery-log scope of an account's ingested X-GM-MSGIDs. */
export const GMAIL_MSGID_SCOPE = '*X-GM-MSGID';

/** `metas` without the messages whose X-GM-MSGID was queued before (through any folder of the account). */
export async function skipGmailIngested(
  deliveries: DeliveryLog,
  account: string,
  metas: MessageMeta[],
): Promise<MessageMeta[]> {
  const ids = metas.flatMap((meta) => meta.gmail?.msgId ?? []);
  if (ids.length === 0) return metas;
  const known = await deliveries.findDelivered(account, GMAIL_MSGID_SCOPE, ids);
  // Within one batch a folder lists a message once; the first answer for an id counts.
  const seen = new Set<string>();
  return metas.filter((meta) => {
    const id = meta.gmail?.msgId;
    if (id === undefined) return true;
    if (known.has(id) || seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** Records the X-GM-MSGIDs of queued messages, so that their other folders skip them. */
export async function recordGmailIngested(
  deliveries: DeliveryLog,
  account: string,
  messages: QueueMessage[],
): Promise<void> {
  const ids = messages.flatMap((message) => message.gmail?.msgId ?? []);
  if (ids.length > 0) await deliveries.record(account, GMAIL_MSGID_SCOPE, ids);
}
