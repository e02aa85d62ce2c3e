/** The outward half of processing: webhooks, attachment exports and events. */
import { describeError } from '../errors.ts';
import type { BlobStore, Logger, PostroomEvent, QueueMessage } from '../ports.ts';
import { readAttachments } from '../rules/message.ts';
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

/** Streams each attachment to `<prefix><account>/<mailbox>/<uidValidity>/<uid>/<n>-<filename>`. */
async function saveAttachments(blobs: BlobStore, message: QueueMessage, prefix: string): Promise<number> {
  const base = `${prefix}${message.account}/${mailboxKeySegment(message.mailbox)}/${message.uidValidity}/${message.uid}/`;
  let count = 0;
  for await (const part of readAttachments(await blobs.get(message.blob.key))) {
    if (part.related) continue;
    count += 1;
    const name = safeFileName(part.filename ?? `attachment-${count}`);
    await blobs.put(`${base}${count}-${name}`, part.content, { contentType: part.contentType });
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

/** The event of an `emit`; its `id` is stable for the (message, rule, action), like `X-Postroom-Delivery`. */
export function toEvent(message: QueueMessage, action: PlannedAction): PostroomEvent {
  if (action.kind !== 'emit') throw new Error('not an emit action');
  return {
    source: 'postroom',
    'detail-type': action.detailType,
    detail: { id: idempotencyKey(message, action), ...eventDetail(message, action) },
  };
}
