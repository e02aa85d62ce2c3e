/**
 * What kind of machine-written mail a message is: a bounce (a delivery status
 * notification, RFC 3464, or one of the common plain-text formats: qmail,
 * Exim, Postfix, Gmail) or a complaint (an ARF feedback report, RFC 5965).
 *
 * Works on what the parser keeps: the headers, the text (mailparser folds a
 * `message/delivery-status` part into it) and the report parts' first bytes
 * (`ReportPart`). Bounded: every scan looks at the first 64 KiB of text.
 */
import type { HeaderField, ReportPart } from '../rules/message.ts';

export interface BounceInfo {
  /** `dsn` (RFC 3464) or the plain-text format it was read from. */
  format: 'dsn' | 'qmail' | 'exim' | 'postfix' | 'gmail' | 'plain';
  /** RFC 3464 Action: `failed`, `delayed`, `delivered`, `relayed`, `expanded` (plain formats: `failed`). */
  action: string;
  /** The enhanced status code (RFC 3463), e.g. `5.1.1`. */
  status?: string;
  /** True for a 5.x.x status or a failure without one. */
  permanent: boolean;
  /** The address that could not be reached. */
  recipient?: string;
  diagnostic?: string;
  remoteMta?: string;
  reportingMta?: string;
  /** The Message-ID of the mail that bounced. */
  originalMessageId?: string;
}

export interface ComplaintInfo {
  /** RFC 5965 Feedback-Type: `abuse`, `fraud`, `virus`, `not-spam`, `other`, ... */
  feedbackType: string;
  userAgent?: string;
  /** Original-Rcpt-To: who complained. */
  originalRecipient?: string;
  originalMailFrom?: string;
  sourceIp?: string;
  reportedDomain?: string;
  originalMessageId?: string;
}

export interface ClassifyInput {
  headers: readonly HeaderField[];
  text?: string;
  reports?: readonly ReportPart[];
}

const SCAN_BYTES = 64 * 1024;
const VALUE_CHARS = 500;

/** `Name: value` fields of a header-like block, names lower case, continuation lines joined. */
export function fieldsOf(text: string): Array<{ name: string; value: string }> {
  const fields: Array<{ name: string; value: string }> = [];
  for (const line of text.slice(0, SCAN_BYTES).split(/\r?\n/)) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && fields.length > 0 && line.trim() !== '') {
      const last = fields[fields.length - 1]!;
      if (last.value.length < VALUE_CHARS) last.value = `${last.value} ${line.trim()}`.slice(0, VALUE_CHARS);
      continue;
    }
    const match = /^([A-Za-z][A-Za-z0-9-]{0,60}):[ \t]*(.*)$/.exec(line);
    if (match) fields.push({ name: match[1]!.toLowerCase(), value: match[2]!.trim().slice(0, VALUE_CHARS) });
  }
  return fields;
}

function contentType(headers: readonly HeaderField[]): string {
  return headers.find((h) => h.name === 'content-type')?.value.toLowerCase() ?? '';
}

function reportType(headers: readonly HeaderField[]): string | undefined {
  const type = contentType(headers);
  if (!type.startsWith('multipart/report')) return undefined;
  return /report-type\s*=\s*"?([a-z0-9-]+)/.exec(type)?.[1];
}

/** `rfc822; a@b` -> `a@b`. */
function addressValue(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const address = value.includes(';') ? value.slice(value.indexOf(';') + 1) : value;
  return address.trim().replace(/^<|>$/g, '') || undefined;
}

function typeValue(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return value.includes(';') ? value.slice(value.indexOf(';') + 1).trim() : value;
}

const MESSAGE_ID = /^message-id:[ \t]*(<[^>\s]{1,900}>)/im;

/** The Message-ID of the reported mail: from its attached headers, or after an "original message" marker. */
function originalMessageId(input: ClassifyInput): string | undefined {
  for (const part of input.reports ?? []) {
    if (part.contentType.includes('delivery-status') || part.contentType.includes('feedback-report'))
      continue;
    const id =
      part.contentType === 'multipart/report' ? embeddedMessageId(part.text) : firstBlockId(part.text);
    if (id) return id;
  }
  const text = input.text?.slice(0, SCAN_BYTES) ?? '';
  const marker = text.search(
    /original message|copy of the message|message headers follow|undelivered message|returned message/i,
  );
  if (marker >= 0) return MESSAGE_ID.exec(text.slice(marker))?.[1];
  return undefined;
}

function firstBlockId(text: string): string | undefined {
  return MESSAGE_ID.exec(text.split(/\r?\n\r?\n/, 1)[0]!)?.[1];
}

/** In a report's raw bytes: the Message-ID of the header block after its message/rfc822 (or headers) part header. */
function embeddedMessageId(raw: string): string | undefined {
  const at = raw.search(
    /^content-type:[ \t]*(message\/(rfc822|global)|(text|message)\/(rfc822|global)-headers)\b/im,
  );
  if (at < 0) return undefined;
  const rest = raw.slice(at);
  const blank = rest.search(/\r?\n\r?\n/);
  return blank < 0 ? undefined : firstBlockId(rest.slice(blank).replace(/^\s+/, ''));
}

function isPermanent(status: string | undefined, action: string): boolean {
  if (status) return status.startsWith('5');
  return action === 'failed';
}

/** An RFC 3464 report: its first failed (else first) recipient's fields. */
function dsn(input: ClassifyInput): BounceInfo | undefined {
  const part = input.reports?.find((r) => r.contentType.endsWith('delivery-status'));
  const isReport =
    reportType(input.headers)?.endsWith('delivery-status') === true ||
    /^message\/(global-)?delivery-status\b/.test(contentType(input.headers));
  const source = part?.text ?? (isReport ? input.text : undefined);
  if (source === undefined) return undefined;
  const fields = fieldsOf(source);
  const recipients: Array<Record<string, string>> = [];
  let current: Record<string, string> | undefined;
  const global: Record<string, string> = {};
  for (const { name, value } of fields) {
    if (name === 'final-recipient' || name === 'original-recipient') {
      if (!current || current[name] !== undefined) {
        current = {};
        recipients.push(current);
      }
    }
    (current ?? global)[name] ??= value;
  }
  const chosen = recipients.find((r) => r.action?.toLowerCase().startsWith('failed')) ?? recipients[0];
  // Some reports (broken ones) give the per-recipient fields without a recipient line.
  const facts = chosen ?? global;
  const action = facts.action?.toLowerCase().split(/\s/)[0];
  if (!action && !isReport && !part) return undefined;
  const status = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(facts.status ?? '')?.[1];
  const recipient = addressValue(facts['final-recipient'] ?? facts['original-recipient']);
  const diagnostic = typeValue(facts['diagnostic-code']);
  const remoteMta = typeValue(facts['remote-mta']);
  const reportingMta = typeValue(global['reporting-mta'] ?? facts['reporting-mta']);
  const id = originalMessageId(input);
  const resolved = action ?? (status?.startsWith('4') ? 'delayed' : 'failed');
  return {
    format: 'dsn',
    action: resolved,
    ...(status ? { status } : {}),
    permanent: isPermanent(status, resolved),
    ...(recipient ? { recipient } : {}),
    ...(diagnostic ? { diagnostic } : {}),
    ...(remoteMta ? { remoteMta } : {}),
    ...(reportingMta ? { reportingMta } : {}),
    ...(id ? { originalMessageId: id } : {}),
  };
}

/** Whether the sender is the mail system: an empty Return-Path, MAILER-DAEMON or postmaster. */
function fromMailSystem(headers: readonly HeaderField[]): boolean {
  const returnPath = headers.find((h) => h.name === 'return-path')?.value.trim();
  if (returnPath === '<>') return true;
  const from = headers.find((h) => h.name === 'from')?.value.toLowerCase() ?? '';
  return /\b(mailer-daemon|postmaster|mail delivery (subsystem|system))\b/.test(from);
}

const PLAIN_FORMATS: Array<{ format: BounceInfo['format']; marker: RegExp; delayed?: RegExp }> = [
  { format: 'qmail', marker: /this is the qmail-send program|wasn't able to deliver your message/i },
  {
    format: 'exim',
    marker: /could not be delivered to one or more of its\s+recipients|following address\(es\) failed/i,
    delayed: /has not yet been delivered|message delayed/i,
  },
  {
    format: 'postfix',
    marker: /this is the mail system at host|message could not\s+be delivered to one or more recipients/i,
    delayed: /delayed mail \(still being retried\)/i,
  },
  {
    format: 'gmail',
    marker: /delivery to the following recipients? failed|address not found|message wasn't delivered/i,
    delayed: /delivery to the following recipients? has been delayed/i,
  },
  {
    format: 'plain',
    marker:
      /undeliverable|delivery (status notification \(failure\)|has failed)|returned mail|mail delivery failed/i,
  },
];

const ADDRESS = /<?([A-Za-z0-9._%+'=-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63})>?/;

/** The common non-standard formats, recognised only in mail from the mail system. */
function plainBounce(input: ClassifyInput): BounceInfo | undefined {
  if (!fromMailSystem(input.headers)) return undefined;
  const subject = input.headers.find((h) => h.name === 'subject')?.value ?? '';
  const text = input.text?.slice(0, SCAN_BYTES) ?? '';
  const found =
    PLAIN_FORMATS.find((f) => f.marker.test(text)) ?? PLAIN_FORMATS.find((f) => f.marker.test(subject));
  if (!found) return undefined;
  const markerAt = Math.max(0, text.search(found.marker));
  const after = text.slice(markerAt);
  const delayed = found.delayed?.test(text) === true;
  const status = /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(after)?.[1];
  const smtp = /\b([45]\d\d)[ -]/.exec(after)?.[1];
  const resolvedStatus = status ?? (smtp ? `${smtp[0]}.0.0` : undefined);
  const recipient = ADDRESS.exec(after.slice(after.indexOf('\n') + 1))?.[1] ?? ADDRESS.exec(after)?.[1];
  const diagnosticLine = after
    .split(/\r?\n/)
    .find((line) => /\b[45]\d\d[ -]|\b[45]\.\d{1,3}\.\d{1,3}\b/.test(line));
  const id = originalMessageId(input);
  const action = delayed ? 'delayed' : 'failed';
  return {
    format: found.format,
    action,
    ...(resolvedStatus ? { status: resolvedStatus } : {}),
    permanent: !delayed && isPermanent(resolvedStatus, action),
    ...(recipient ? { recipient } : {}),
    ...(diagnosticLine ? { diagnostic: diagnosticLine.trim().slice(0, VALUE_CHARS) } : {}),
    ...(id ? { originalMessageId: id } : {}),
  };
}

/** The bounce this message reports, if it is one. */
export function bounceOf(input: ClassifyInput): BounceInfo | undefined {
  return dsn(input) ?? plainBounce(input);
}

/** The complaint (ARF feedback report) this message is, if it is one. */
export function complaintOf(input: ClassifyInput): ComplaintInfo | undefined {
  const part = input.reports?.find((r) => r.contentType === 'message/feedback-report');
  const isReport = reportType(input.headers) === 'feedback-report';
  if (!part && !isReport) return undefined;
  const fields = fieldsOf(part?.text ?? input.text ?? '');
  const get = (name: string) => fields.find((f) => f.name === name)?.value;
  const feedbackType = get('feedback-type')?.toLowerCase();
  if (!feedbackType && !part) return undefined;
  const out: ComplaintInfo = { feedbackType: feedbackType ?? 'other' };
  const recipient = addressValue(get('original-rcpt-to'));
  const mailFrom = addressValue(get('original-mail-from'));
  const id = originalMessageId(input);
  if (get('user-agent')) out.userAgent = get('user-agent')!;
  if (recipient) out.originalRecipient = recipient;
  if (mailFrom) out.originalMailFrom = mailFrom;
  if (get('source-ip')) out.sourceIp = get('source-ip')!;
  if (get('reported-domain')) out.reportedDomain = get('reported-domain')!;
  if (id) out.originalMessageId = id;
  return out;
}
