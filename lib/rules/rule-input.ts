/**
 * The rule input: what a rule can look at, built from the queue message's
 * envelope facts and (when it was loaded) the parsed message.
 */
import type { AuthVerdicts } from '../mime/auth-results.ts';
import type { Address, Envelope } from '../ports.ts';
import { type MailAddress, normaliseAddress } from './addresses.ts';
import type { AttachmentInfo, HeaderField, ParsedMessage, ReportPart } from './message.ts';

/** The envelope-level facts of a queue message (`QueueMessage` satisfies this). */
export interface EnvelopeFacts {
  envelope?: Envelope;
  flags?: string[];
  /** RFC822.SIZE. */
  size?: number;
  /** INTERNALDATE, ISO 8601. */
  internalDate?: string | Date;
  /** Gmail's facts (X-GM-LABELS); absent elsewhere. */
  gmail?: { labels: string[] };
}

/**
 * Everything a rule can look at. Fields that are `undefined` are unknown (not
 * loaded, or unparseable): a condition on them is neither true nor false, and a
 * rule that depends on it does not fire (see `evaluate`).
 */
export interface RuleInput {
  subject?: string;
  from: MailAddress[];
  to: MailAddress[];
  cc: MailAddress[];
  /** Unknown without the raw message. */
  bcc?: MailAddress[];
  /** Unknown without the raw message. */
  deliveredTo?: MailAddress[];
  /** The Date header. */
  date?: Date;
  internalDate?: Date;
  size?: number;
  flags?: string[];
  /** Gmail labels; unknown on other servers. */
  labels?: string[];
  headers?: HeaderField[];
  text?: string;
  attachments?: AttachmentInfo[];
  /** Report parts (DSN, ARF), for `bounce` and `complaint`. */
  reports?: ReportPart[];
  /** Sender verdicts established for the message (the process use case sets them). */
  auth?: AuthVerdicts;
  /** Parser warnings, passed on to the evaluation result. */
  warnings: string[];
}

function fromEnvelope(addresses: Address[] | undefined): MailAddress[] {
  return (addresses ?? []).flatMap((a) => {
    if (!a.address && !a.name) return [];
    const out: MailAddress = {};
    if (a.name) out.name = a.name;
    if (a.address) out.address = normaliseAddress(a.address);
    return [out];
  });
}

function toDate(value: string | Date | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * Builds the rule input from the queue message's envelope facts and, when it
 * was loaded, the parsed message. Where both know a field, the parsed message
 * wins (it has groups, Bcc and every header decoded the same way); a parsed
 * message with `ok: false` contributes only its warnings.
 */
export function toRuleInput(facts: EnvelopeFacts | undefined, parsed?: ParsedMessage): RuleInput {
  const envelope = facts?.envelope;
  const input: RuleInput = {
    from: fromEnvelope(envelope?.from),
    to: fromEnvelope(envelope?.to),
    cc: fromEnvelope(envelope?.cc),
    warnings: [...(parsed?.warnings ?? [])],
  };
  if (envelope?.subject !== undefined) input.subject = envelope.subject;
  const date = toDate(envelope?.date);
  if (date) input.date = date;
  const internalDate = toDate(facts?.internalDate);
  if (internalDate) input.internalDate = internalDate;
  if (facts?.flags) input.flags = facts.flags;
  if (facts?.gmail) input.labels = facts.gmail.labels;
  if (facts?.size !== undefined) input.size = facts.size;

  if (parsed?.ok) {
    if (parsed.subject !== undefined) input.subject = parsed.subject;
    if (parsed.from.length > 0 || !envelope) input.from = parsed.from;
    if (parsed.to.length > 0 || !envelope) input.to = parsed.to;
    if (parsed.cc.length > 0 || !envelope) input.cc = parsed.cc;
    input.bcc = parsed.bcc;
    input.deliveredTo = parsed.deliveredTo;
    if (parsed.date) input.date = parsed.date;
    input.size ??= parsed.size;
    input.headers = parsed.headers;
    input.text = parsed.text;
    input.attachments = parsed.attachments;
    input.reports = parsed.reports ?? [];
  } else if (parsed && facts?.size === undefined) {
    input.size = parsed.size;
  }
  return input;
}
