/**
 * The metadata of a batch: UID, RFC822.SIZE, INTERNALDATE and FLAGS, plus
 * ENVELOPE or the Message-ID header where asked. Every UID asked for is
 * accounted for: one the fast path did not recognise is asked again through
 * ImapFlow's parser, and one that still exists but has no answer fails the
 * batch rather than being skipped (the checkpoint would move past it).
 */
import type { MessageAddressObject } from 'imapflow';
import { headerFacts } from '../../mime/header-envelope.ts';
import type { Address, MessageMeta, MetaFields } from '../../ports.ts';
import { imapError } from '../errors.ts';
import { sessionIdle } from '../flow-internals.ts';
import type { ImapSession } from '../session.ts';
import { isNzNumber, uidSets } from '../uid-sets.ts';
import { fetchRaw } from './fetch-bodies.ts';
import { gmailFacts } from './gmail-labels.ts';
import { existingUids } from './search.ts';

const METADATA_ITEMS = 'UID RFC822.SIZE INTERNALDATE FLAGS';

export async function fetchMeta(
  session: ImapSession,
  uids: number[],
  fields: MetaFields = {},
): Promise<MessageMeta[]> {
  const selected = session.requireSelected('UID FETCH');
  const wanted = [...new Set(uids.filter(isNzNumber))].sort((a, b) => a - b);
  const asked = new Set(wanted);
  const found = new Map<number, MessageMeta>();
  const keep = (meta: MessageMeta) => {
    // The first answer for a UID counts; a UID not asked for is not ours to report.
    if (!found.has(meta.uid) && asked.has(meta.uid)) found.set(meta.uid, meta);
  };
  // Gmail's ids and labels (X-GM-MSGID, X-GM-THRID, X-GM-LABELS) go through ImapFlow's parser.
  const plain = !fields.envelope && !fields.messageId && !session.gmail;
  // Never FETCH an empty set: the server answers BAD (DESIGN.md).
  for (const set of uidSets(wanted)) {
    if (plain && session.ctx.tuning.fetchEngine === 'auto' && sessionIdle(session.client)) {
      await fetchRaw(session, `UID FETCH ${set} (${METADATA_ITEMS})`, {
        uidSet: set,
        expected: new Map(),
        onMessage: async () => {},
        metadata: {
          items: METADATA_ITEMS,
          onFetchLine: (text) => {
            const meta = parseMetadataLine(text);
            if (meta) keep(meta);
            return meta !== undefined;
          },
        },
      });
    } else {
      await fetchWithImapFlow(session, set, fields, keep);
    }
  }
  const missing = wanted.filter((uid) => !found.has(uid));
  if (missing.length > 0) {
    for (const set of uidSets(missing)) await fetchWithImapFlow(session, set, fields, keep);
    const unanswered = await existingUids(
      session,
      missing.filter((uid) => !found.has(uid)),
    );
    if (unanswered.length > 0) {
      throw imapError(
        'IMAP_PROTOCOL',
        session.account,
        `the server did not answer UID FETCH for UID ${unanswered.slice(0, 5).join(', ')}${unanswered.length > 5 ? ` and ${unanswered.length - 5} more` : ''} in "${selected.logical}", though they exist; the batch was not stored`,
        { retryable: true, context: { mailbox: selected.logical } },
      );
    }
  }
  return [...found.values()].sort((a, b) => a.uid - b.uid);
}

async function fetchWithImapFlow(
  session: ImapSession,
  set: string,
  fields: MetaFields,
  keep: (meta: MessageMeta) => void,
): Promise<void> {
  const query = {
    uid: true,
    size: true,
    internalDate: true,
    flags: true,
    ...(fields.envelope ? { envelope: true } : {}),
    ...(fields.messageId && !fields.envelope ? { headers: ['message-id'] } : {}),
    ...(session.gmail ? { threadId: true, labels: true } : {}),
  };
  await session.run(`UID FETCH ${set} (${METADATA_ITEMS})`, async () => {
    for await (const message of session.client.fetch(set, query, { uid: true })) {
      if (!isNzNumber(message.uid)) continue;
      const internal =
        message.internalDate instanceof Date ? message.internalDate : new Date(String(message.internalDate));
      const meta: MessageMeta = {
        uid: message.uid,
        size: message.size ?? 0,
        internalDate: internal,
        flags: [...(message.flags ?? [])],
      };
      const gmail = session.gmail ? gmailFacts(message) : undefined;
      if (gmail) meta.gmail = gmail;
      if (message.envelope) {
        const envelope = message.envelope;
        const date =
          envelope.date instanceof Date && !Number.isNaN(envelope.date.getTime()) ? envelope.date : undefined;
        if (envelope.messageId) meta.messageId = envelope.messageId;
        meta.envelope = {
          subject: envelope.subject || undefined,
          from: addresses(envelope.from),
          to: addresses(envelope.to),
          cc: addresses(envelope.cc),
          date: date?.toISOString(),
        };
      } else if (message.headers) {
        // The same reading as ingest's, so a rescan's fingerprints match the delivered ones.
        const { messageId } = headerFacts(message.headers);
        if (messageId) meta.messageId = messageId;
      }
      keep(meta);
    }
  });
}

function addresses(list: MessageAddressObject[] | undefined): Address[] {
  return (list ?? []).map((entry) => {
    const address: Address = {};
    if (entry.name) address.name = entry.name;
    if (entry.address) address.address = entry.address;
    return address;
  });
}

const META_UID = /[( ]UID (\d+)/i;
const META_SIZE = /[( ]RFC822\.SIZE (\d+)/i;
// RFC 3501 pads the day with a space (`date-day-fixed`); some servers send `1-Jan-2026` or `01-Jan-2026`.
const META_INTERNALDATE =
  /[( ]INTERNALDATE "\s?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"/i;
const META_FLAGS = /[( ]FLAGS \(([^)]*)\)/i;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * Reads `* n FETCH (UID u RFC822.SIZE s INTERNALDATE "d" FLAGS (f...))`, the
 * items in any order. Undefined unless all four are there (an unsolicited
 * FLAGS update is not metadata); the caller asks again for what it lacks.
 */
export function parseMetadataLine(
  text: string,
): { uid: number; size: number; internalDate: Date; flags: string[] } | undefined {
  const uid = META_UID.exec(text);
  const size = META_SIZE.exec(text);
  const date = META_INTERNALDATE.exec(text);
  const flags = META_FLAGS.exec(text);
  if (!uid || !size || !date || !flags) return undefined;
  const month = MONTHS.indexOf(date[2]!.toLowerCase());
  if (month < 0) return undefined;
  // RFC 3501 date-time: local time plus zone; the instant is local minus the offset.
  const offsetMinutes = (date[7] === '-' ? -1 : 1) * (Number(date[8]) * 60 + Number(date[9]));
  const utc =
    Date.UTC(Number(date[3]), month, Number(date[1]), Number(date[4]), Number(date[5]), Number(date[6])) -
    offsetMinutes * 60_000;
  if (!Number.isFinite(utc) || !isNzNumber(Number(uid[1]))) return undefined;
  return {
    uid: Number(uid[1]),
    size: Number(size[1]),
    internalDate: new Date(utc),
    flags: flags[1]!.split(' ').filter(Boolean),
  };
}
