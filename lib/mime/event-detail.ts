/**
 * What an event says about the mail beyond its queue message: the text, the
 * new part of a reply, the attachments, selected headers, the thread, the
 * recipient's sub-address, sender authentication, the spam verdict and the
 * classification (bounce, complaint, auto-reply, bulk, list). Which of these
 * go in is configured (`events.detail` globally, `emit: { detail }` per rule);
 * the blob key stays the source of truth, and {@link fitEvent} keeps every
 * event under EventBridge's 256 KB, cutting the text first.
 */
import type { PostroomEvent, QueueMessage } from '../ports.ts';
import { isAutoReply, isBulk, isList } from '../rules/matcher.ts';
import { type MailAddress, type ParsedMessage, toRuleInput } from '../rules/message.ts';
import type { AuthVerdicts } from './auth-results.ts';
import { bounceOf, complaintOf } from './classify.ts';
import { replyText } from './reply-text.ts';
import { SPAM_HEADERS, spamVerdict } from './spam.ts';

/** The parts of the detail a config can ask for. */
export const DETAIL_ITEMS = [
  'text',
  'reply',
  'attachments',
  'headers',
  'thread',
  'recipient',
  'auth',
  'spam',
  'classification',
] as const;
export type DetailItem = (typeof DETAIL_ITEMS)[number];

/** @default 32 KiB */
export const DEFAULT_TEXT_MAX_BYTES = 32 * 1024;
/** EventBridge's limit for one entry is 256 KB; a margin is left for what it adds. */
export const EVENT_MAX_BYTES = 256 * 1024 - 2048;

/** The headers the `headers` item carries (lower case), besides the spam filters'. */
export const EVENT_HEADERS = [
  'list-id',
  'reply-to',
  'in-reply-to',
  'references',
  'auto-submitted',
  'precedence',
  ...SPAM_HEADERS,
] as const;
const HEADER_VALUE_CHARS = 2000;
const MAX_REFERENCES = 100;

export interface DetailOptions {
  items: readonly DetailItem[];
  textMaxBytes?: number;
  /** The sender verdicts (for `auth`), when they were established. */
  auth?: AuthVerdicts;
  /** The blob key of the n-th saved attachment (1-based, related parts not counted), when saved. */
  attachmentKey?: (n: number, filename: string | undefined) => string | undefined;
}

/** Cuts a string to at most `maxBytes` of UTF-8 without splitting a character. */
export function cutUtf8(text: string, maxBytes: number): { text: string; cut: boolean } {
  if (Buffer.byteLength(text) <= maxBytes) return { text, cut: false };
  const bytes = Buffer.from(text);
  // Step back to a character boundary: the first byte left out must not be a continuation byte.
  let end = Math.max(0, maxBytes);
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return { text: bytes.subarray(0, end).toString('utf8'), cut: true };
}

function messageIds(value: string | undefined, max: number): string[] {
  return (value?.match(/<[^<>\s]{1,998}>/g) ?? []).slice(-max);
}

/** `support+ticket-123@example.com` -> `ticket-123`. */
export function subAddress(address: string): string | undefined {
  const local = address.slice(0, address.lastIndexOf('@'));
  const plus = local.indexOf('+');
  return plus < 0 || plus === local.length - 1 ? undefined : local.slice(plus + 1);
}

function recipientOf(message: QueueMessage, parsed: ParsedMessage | undefined) {
  const lists: MailAddress[][] = parsed?.ok
    ? [parsed.deliveredTo, parsed.to, parsed.cc]
    : [message.envelope.to, message.envelope.cc];
  const all = lists.flat().filter((a) => a.address !== undefined);
  const tagged = all.find((a) => a.address!.includes('+') && subAddress(a.address!) !== undefined);
  const chosen = tagged ?? all[0];
  if (!chosen) return undefined;
  const tag = subAddress(chosen.address!);
  return { address: chosen.address!, ...(tag !== undefined ? { tag } : {}) };
}

/** The Gmail thread id (X-GM-THRID) of a queue message polled from Gmail. */
function gmailThreadId(message: QueueMessage): string | undefined {
  return message.gmail?.threadId;
}

/**
 * The configured detail for one message. Items that need the parsed message
 * are left out when it could not be parsed (a `parseError` says why).
 */
export async function mailDetail(
  message: QueueMessage,
  parsed: ParsedMessage | undefined,
  options: DetailOptions,
): Promise<Record<string, unknown>> {
  const want = new Set(options.items);
  const out: Record<string, unknown> = {};
  if (want.size === 0) return out;
  const ok = parsed?.ok === true ? parsed : undefined;
  if (parsed && !parsed.ok) out.parseError = parsed.failure?.reason ?? 'unparseable';
  const header = (name: string) => ok?.headers.find((h) => h.name === name)?.value;
  let truncated = false;
  const maxBytes = options.textMaxBytes ?? DEFAULT_TEXT_MAX_BYTES;

  if (ok && want.has('text')) {
    const cut = cutUtf8(ok.text, maxBytes);
    out.text = cut.text;
    truncated ||= cut.cut;
  }
  if (ok) out.hasHtml = ok.hasHtml === true;
  if (ok && want.has('reply')) {
    const cut = cutUtf8(await replyText(cutUtf8(ok.text, maxBytes).text), maxBytes);
    out.reply = cut.text;
  }
  if (ok && want.has('attachments')) {
    let n = 0;
    out.attachments = ok.attachments.map((a) => {
      const key = a.related ? undefined : options.attachmentKey?.(++n, a.filename);
      return {
        ...(a.filename !== undefined ? { filename: a.filename } : {}),
        contentType: a.contentType,
        size: a.size,
        ...(a.contentId !== undefined ? { contentId: a.contentId } : {}),
        disposition: a.disposition ?? 'attachment',
        ...(key !== undefined ? { key } : {}),
      };
    });
  }
  if (ok && want.has('headers')) {
    const headers: Record<string, string> = {};
    for (const name of EVENT_HEADERS) {
      const value = header(name);
      if (value !== undefined) headers[name] = value.slice(0, HEADER_VALUE_CHARS);
    }
    out.headers = headers;
  }
  if (want.has('thread')) {
    const messageId = ok?.messageId ?? message.messageId;
    const inReplyTo = messageIds(header('in-reply-to'), 1)[0];
    const threadId = gmailThreadId(message);
    out.thread = {
      ...(messageId !== undefined ? { messageId } : {}),
      ...(inReplyTo !== undefined ? { inReplyTo } : {}),
      references: messageIds(header('references'), MAX_REFERENCES),
      ...(threadId !== undefined ? { gmailThreadId: threadId } : {}),
    };
  }
  if (want.has('recipient')) {
    const recipient = recipientOf(message, parsed);
    if (recipient) out.recipient = recipient;
  }
  if (want.has('auth') && options.auth) out.auth = options.auth;
  if (ok && want.has('spam')) {
    const spam = spamVerdict(ok.headers);
    if (spam) out.spam = spam;
  }
  if (ok && want.has('classification')) {
    const input = toRuleInput(undefined, ok);
    const bounce = bounceOf(ok);
    const complaint = complaintOf(ok);
    out.classification = {
      ...(bounce ? { bounce } : {}),
      ...(complaint ? { complaint } : {}),
      autoReply: isAutoReply(input) === true,
      bulk: isBulk(input) === true,
      list: isList(input) === true,
    };
  }
  if (truncated) out.truncated = true;
  return out;
}

function size(event: PostroomEvent): number {
  return Buffer.byteLength(JSON.stringify(event));
}

/**
 * Keeps the event under `maxBytes` of JSON: the text is cut first, then the
 * reply, then the attachment list, then the headers and references; the
 * result says `truncated: true`. An event that is too large without any of
 * them (a giant subject) has its subject cut.
 */
export function fitEvent(event: PostroomEvent, maxBytes = EVENT_MAX_BYTES): PostroomEvent {
  if (size(event) <= maxBytes) return event;
  const detail: Record<string, unknown> = { ...event.detail, truncated: true };
  const fitted: PostroomEvent = { ...event, detail };
  const over = () => size(fitted) - maxBytes;
  for (const field of ['text', 'reply'] as const) {
    if (over() <= 0) return fitted;
    const value = detail[field];
    if (typeof value === 'string') {
      const keep = Math.max(0, Buffer.byteLength(value) - over() - 16);
      detail[field] = cutUtf8(value, keep).text;
    }
  }
  const attachments = detail.attachments;
  if (over() > 0 && Array.isArray(attachments)) {
    const list = [...attachments];
    while (list.length > 0 && over() > 0) {
      list.splice(Math.max(0, list.length - Math.ceil(list.length / 4)));
      detail.attachments = list;
    }
  }
  for (const field of ['headers', 'thread', 'classification', 'spam', 'auth'] as const) {
    if (over() > 0) delete detail[field];
  }
  const envelope = detail.envelope as { subject?: string } | undefined;
  if (over() > 0 && envelope?.subject !== undefined) {
    const subject = envelope.subject;
    detail.envelope = {
      ...envelope,
      subject: cutUtf8(subject, Math.max(0, Buffer.byteLength(subject) - over() - 16)).text,
    };
  }
  return fitted;
}
