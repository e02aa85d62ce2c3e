/**
 * One ingest batch: metadata fetched slice by slice and grouped by count and
 * bytes, then the batch's sources put (bounded concurrency), and then, while
 * the next batch is fetched, made durable and queued.
 */
import { pipeline, type Readable } from 'node:stream';
import type { IngestConfig } from '../config/schema.ts';
import { isHeldBytes } from '../held-bytes.ts';
import { HeaderCapture, type HeaderFacts, headerBlock, headerFacts } from '../mime/header-envelope.ts';
import type { HeldBytes, MailboxState, MailServer, MessageMeta, MetaFields, QueueMessage } from '../ports.ts';
import { WorkPool } from '../work-pool.ts';
import { recordGmailIngested } from './gmail-dedupe.ts';
import { messageFingerprint, rawBlobKey } from './keys.ts';

import type { PollDependencies, PollOptions } from './poll.ts';

/**
 * Fetches metadata slice by slice, only as batches are consumed (a backfill of
 * a huge mailbox never holds all of it), and groups messages into batches by
 * count and bytes.
 */
export async function* planBatches(
  session: MailServer,
  uids: number[],
  ingest: IngestConfig,
  fields: MetaFields,
): AsyncGenerator<MessageMeta[]> {
  let current: MessageMeta[] = [];
  let bytes = 0;
  const metaSlice = 2000;
  for (let i = 0; i < uids.length; i += metaSlice) {
    const metas = await session.fetchMeta(uids.slice(i, i + metaSlice), fields);
    metas.sort((a, b) => a.uid - b.uid);
    for (const meta of metas) {
      if (
        current.length > 0 &&
        (current.length >= ingest.batchMessages || bytes + meta.size > ingest.batchBytes)
      ) {
        yield current;
        current = [];
        bytes = 0;
      }
      current.push(meta);
      bytes += meta.size;
    }
  }
  if (current.length > 0) yield current;
}

/**
 * The first half of storing one batch: raw sources fetched and put to the blob
 * store (bounded concurrency), not yet made durable nor queued. Returns the
 * queue messages to hand to {@link commitBatch}.
 */
export async function putBatch(
  deps: PollDependencies,
  options: PollOptions,
  session: MailServer,
  state: MailboxState,
  mailbox: string,
  metas: MessageMeta[],
): Promise<QueueMessage[]> {
  const account = options.account.id;
  const byUid = new Map(metas.map((m) => [m.uid, m]));
  const sizes = new Map(metas.map((m) => [m.uid, m.size]));
  const stored = new Map<number, QueueMessage>();
  const pool = new WorkPool(options.ingest.concurrency);

  await session.fetchSources(
    metas.map((m) => m.uid),
    sizes,
    async (uid, source) => {
      const meta = byUid.get(uid);
      if (!meta) return;
      const ref = { account, mailbox, uidValidity: state.uidValidity, uid };
      const put = async (body: HeldBytes | Readable, header: () => Promise<HeaderFacts>) => {
        const blob = await deps.blobs.put(rawBlobKey(ref), body, {
          contentLength: meta.size,
          contentType: 'message/rfc822',
        });
        stored.set(uid, toQueueMessage(ref, meta, await header(), blob));
      };
      if (isHeldBytes(source)) {
        // Held in memory (one buffer or the pieces it arrived in): put alongside others.
        await pool.start(() => put(source, async () => headerFacts(headerBlock(source))));
      } else {
        // A large message is streamed: its header is read on the way through. The
        // stream must be consumed before the IMAP session can read the next message.
        const capture = new HeaderCapture();
        pipeline(source, capture, () => {});
        await put(capture, async () => headerFacts(await capture.header));
      }
    },
  );
  await pool.drain();
  return metas.flatMap((m) => stored.get(m.uid) ?? []);
}

/**
 * The second half: the batch's blobs made durable, then one queue send and the
 * delivery records. Touches only the stores, not the IMAP session, so it can
 * run while the session fetches the next batch.
 */
export async function commitBatch(
  deps: Pick<PollDependencies, 'blobs' | 'queue' | 'deliveries'>,
  account: string,
  mailbox: string,
  messages: QueueMessage[],
): Promise<void> {
  if (messages.length === 0) return;
  // The queue must never point at a blob that a crash could still take away.
  await deps.blobs.flush?.();
  await deps.queue.sendBatch(messages);
  await deps.deliveries.record(
    account,
    mailbox,
    messages.map((m) => messageFingerprint(m)),
  );
  await recordGmailIngested(deps.deliveries, account, messages);
}

export function toQueueMessage(
  ref: { account: string; mailbox: string; uidValidity: number; uid: number },
  meta: MessageMeta,
  header: HeaderFacts,
  blob: QueueMessage['blob'],
): QueueMessage {
  const messageId = meta.messageId ?? header.messageId;
  return {
    v: 1,
    account: ref.account,
    mailbox: ref.mailbox,
    uidValidity: ref.uidValidity,
    uid: ref.uid,
    ...(messageId ? { messageId } : {}),
    internalDate: meta.internalDate.toISOString(),
    size: meta.size,
    // \Recent belongs to the session that saw it (RFC 3501 2.3.2; gone in RFC 9051), not to the message.
    flags: meta.flags.filter((flag) => flag !== '\\Recent'),
    envelope: meta.envelope ?? header.envelope,
    blob,
    ...(meta.gmail ? { gmail: meta.gmail } : {}),
  };
}
