/** The outward half of processing: webhooks, attachment exports and events. */
import { describeError } from '../errors.ts';
import { DEFAULT_TEXT_MAX_BYTES, type DetailItem, fitEvent, mailDetail } from '../mime/event-detail.ts';
import type { BlobStore, Logger, PostroomEvent, QueueMessage } from '../ports.ts';
import { parseMessage, readAttachments } from '../rules/message.ts';
import type { PlannedAction } from '../rules/planner.ts';
import { mailboxKeySegment } from './keys.ts';
import {
  complete,
  fail,
  idempotencyKey,
  type ProcessDependencies,
  report,
  settle,
  ttlSeconds,
  type Work,
} from './process-work.ts';
import { senderVerdicts } from './sender-auth.ts';

export async function runOutward(
  deps: ProcessDependencies,
  work: Work,
  action: PlannedAction,
  logger: Logger,
): Promise<void> {
  const message = work.item.message;
  try {
    if (action.kind === 'webhook') {
      const secret = await deps.resolveSecret(action.secret);
      await deps.sendWebhook({
        url: action.url,
        secret,
        body: eventDetail(message, action),
        deliveryId: idempotencyKey(message, action),
        timeoutMs: action.timeoutMs,
        retries: action.retries,
      });
      await complete(deps, work, action, 'done');
    } else if (action.kind === 'saveAttachments') {
      const saved = await saveAttachments(deps.blobs, message, action.prefix);
      // The record says "done" for good: the exported bytes must be durable first
      // (the local folder defers its fsyncs to an explicit flush).
      await deps.blobs.flush?.();
      await complete(deps, work, action, 'done', `${saved} attachment(s)`);
    }
  } catch (error) {
    logger.warn('action failed', {
      uid: message.uid,
      rule: action.rule,
      kind: action.kind,
      ...describeError(error),
    });
    report(work, action, 'failed', describeError(error).message);
    fail(work, error);
  }
}

function attachmentBase(prefix: string, message: QueueMessage): string {
  return `${prefix}${message.account}/${mailboxKeySegment(message.mailbox)}/${message.uidValidity}/${message.uid}/`;
}

/** The key of the n-th saved attachment (1-based, parts of `multipart/related` not counted). */
function attachmentKey(base: string, n: number, filename: string | undefined): string {
  return `${base}${n}-${safeFileName(filename ?? `attachment-${n}`)}`;
}

/** Streams each attachment to `<prefix><account>/<mailbox>/<uidValidity>/<uid>/<n>-<filename>`. */
async function saveAttachments(blobs: BlobStore, message: QueueMessage, prefix: string): Promise<number> {
  const base = attachmentBase(prefix, message);
  let count = 0;
  for await (const part of readAttachments(await blobs.get(message.blob.key))) {
    if (part.related) continue;
    count += 1;
    await blobs.put(attachmentKey(base, count, part.filename), part.content, {
      contentType: part.contentType,
    });
  }
  return count;
}

function safeFileName(name: string): string {
  // Path separators and control characters (C0 and DEL) never reach a key.
  const cleaned = [...name]
    .map((c) => (c === '/' || c === '\\' || c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? '_' : c))
    .join('')
    .replace(/^\.+/, '_')
    .slice(0, 200);
  return cleaned === '' ? 'attachment' : cleaned;
}

/** Up to one PutEvents call's worth: its records are written as soon as it succeeds. */
const EVENTS_PER_RECORD = 10;

/**
 * Emits a batch's events. Exactly once where the sink commits the records with
 * the events (locally); else each group's records are written as soon as the
 * sink accepted it, so a crash in between repeats only those few, with their ids.
 */
export async function emitEvents(
  deps: Pick<ProcessDependencies, 'events' | 'idempotency' | 'idempotencyTtlSeconds'>,
  events: { work: Work; action: PlannedAction; event: PostroomEvent }[],
): Promise<void> {
  const failAll = (group: { work: Work; action: PlannedAction }[], error: unknown, prefix = '') => {
    for (const { work, action } of group) {
      report(work, action, 'failed', `${prefix}${describeError(error).message}`);
      fail(work, error);
    }
  };
  const sink = deps.events;
  if (sink.emitRecorded) {
    try {
      await sink.emitRecorded(
        events.map(({ work, action, event }) => ({ key: idempotencyKey(work.item.message, action), event })),
        ttlSeconds(deps),
      );
    } catch (error) {
      failAll(events, error);
      return;
    }
    for (const { work, action } of events) settle(work, action, 'done');
    return;
  }
  for (let i = 0; i < events.length; i += EVENTS_PER_RECORD) {
    const group = events.slice(i, i + EVENTS_PER_RECORD);
    try {
      await sink.emit(group.map((e) => e.event));
    } catch (error) {
      failAll(events.slice(i), error);
      return;
    }
    await Promise.all(
      group.map(({ work, action }) =>
        complete(deps, work, action, 'done').catch((error: unknown) =>
          failAll([{ work, action }], error, 'emitted, but not recorded: '),
        ),
      ),
    );
  }
}

function eventDetail(message: QueueMessage, action: PlannedAction): Record<string, unknown> {
  return { ...message, rule: action.rule, account: message.account, mailbox: message.mailbox };
}

/**
 * The event of an `emit`; its `id` is stable for the (message, rule, action),
 * like `X-Postroom-Delivery`. `mail` is the configured detail (`mailDetail`);
 * the event is kept under EventBridge's size limit (`fitEvent`).
 */
export function toEvent(
  message: QueueMessage,
  action: PlannedAction,
  mail: Record<string, unknown> = {},
): PostroomEvent {
  if (action.kind !== 'emit') throw new Error('not an emit action');
  return fitEvent({
    source: 'postroom',
    'detail-type': action.detailType,
    detail: { id: idempotencyKey(message, action), ...eventDetail(message, action), ...mail },
  });
}

/** The detail items an emit asks for: its own, else the global `events.detail`. */
export function detailItems(
  deps: Pick<ProcessDependencies, 'eventDetail'>,
  action: PlannedAction,
): readonly DetailItem[] {
  if (action.kind !== 'emit') return [];
  return action.detail ?? deps.eventDetail?.detail ?? [];
}

/**
 * Builds an emit's event, parsing the raw message only when its detail needs
 * it and the rules did not already. A message that cannot be read fails its
 * item (retried); one that cannot be parsed still gets its event, with `parseError`.
 */
export async function eventFor(
  deps: ProcessDependencies,
  work: Work,
  action: PlannedAction,
  logger: Logger,
): Promise<PostroomEvent | undefined> {
  const message = work.item.message;
  const items = detailItems(deps, action);
  if (items.length === 0 || action.kind !== 'emit') return toEvent(message, action);
  try {
    work.parsed ??= await parseMessage(await deps.blobs.get(message.blob.key));
    if (items.includes('auth') && work.parsed.ok)
      work.auth ??= await senderVerdicts(deps, message, work.parsed);
    const prefix = savedPrefix(work);
    const base = prefix === undefined ? undefined : attachmentBase(prefix, message);
    const mail = await mailDetail(message, work.parsed, {
      items,
      textMaxBytes: action.textMaxBytes ?? deps.eventDetail?.textMaxBytes ?? DEFAULT_TEXT_MAX_BYTES,
      ...(work.auth ? { auth: work.auth } : {}),
      ...(base !== undefined
        ? { attachmentKey: (n: number, filename: string | undefined) => attachmentKey(base, n, filename) }
        : {}),
    });
    return toEvent(message, action, mail);
  } catch (error) {
    logger.warn('event not built', { uid: message.uid, rule: action.rule, ...describeError(error) });
    report(work, action, 'failed', describeError(error).message);
    fail(work, error);
    return undefined;
  }
}

/** The prefix a `saveAttachments` of this message stored its attachments under (now or on an earlier delivery). */
function savedPrefix(work: Work): string | undefined {
  return work.result.actions.find(
    (a) => a.kind === 'saveAttachments' && (a.status === 'done' || a.status === 'already-done'),
  )?.detail;
}
