/**
 * The names things are stored under. These are contracts (DESIGN.md): the
 * same message always maps to the same blob key and deduplication id, so a
 * retried put or send is harmless.
 */
import { createHash } from 'node:crypto';
import type { MessageRef } from '../ports.ts';

/**
 * Makes a logical mailbox name (`Finance/Invoices`, UTF-8) safe for one key
 * segment: percent-encoding keeps it reversible and free of `/`.
 */
export function mailboxKeySegment(mailbox: string): string {
  return encodeURIComponent(mailbox).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** `raw/<account>/<mailbox>/<uidValidity>/<uid>.eml` */
export function rawBlobKey(ref: MessageRef): string {
  return `raw/${ref.account}/${mailboxKeySegment(ref.mailbox)}/${ref.uidValidity}/${ref.uid}.eml`;
}

/** A stable id for one message on one server, usable as an SQS deduplication id (≤ 128 chars). */
export function messageDedupId(ref: MessageRef): string {
  return sha256(`${ref.account}\n${ref.mailbox}\n${ref.uidValidity}\n${ref.uid}`);
}

/**
 * What recognises a message across a UIDVALIDITY change, when every UID is
 * void: Message-ID + internal date + size (DESIGN.md).
 */
export function messageFingerprint(meta: {
  messageId?: string;
  internalDate: Date | string;
  size: number;
}): string {
  const date = typeof meta.internalDate === 'string' ? meta.internalDate : meta.internalDate.toISOString();
  return sha256(`${meta.messageId ?? ''}\n${date}\n${meta.size}`).slice(0, 40);
}

/** The lease that keeps two pollers of one mailbox apart. */
export function pollLeaseName(account: string, mailbox: string): string {
  return `poll/${account}/${mailboxKeySegment(mailbox)}`;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
