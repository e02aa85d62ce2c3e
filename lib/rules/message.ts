/**
 * What rules look at: the queue message's envelope, and (only when a rule needs
 * more, see `needsBody`) the parsed raw message.
 *
 * Parsing streams through mailparser's `MailParser`: attachments are counted and
 * dropped, never held in memory, so a message with a 40 MB attachment costs its
 * text and headers only. Attachments to store (`saveAttachments`) are read again
 * with {@link readAttachments}.
 */
import { Readable } from 'node:stream';
import type { AddressObject, AttachmentStream, MailParser, MessageText } from 'mailparser';
import { flattenAddresses, type MailAddress } from './addresses.ts';
import { decodeHeaderLine } from './encoded-words.ts';
import {
  checkDepth,
  contentTypeOf,
  decodedLimit,
  failureOf,
  feed,
  limitsOf,
  newParser,
  type ParseFailure,
  type ParseLimits,
  reason,
  stopSignal,
} from './parse-limits.ts';

// The split modules, re-exported so that importers of `message.ts` keep working.
export { asciiAddress, flattenAddresses, type MailAddress, normaliseAddress } from './addresses.ts';
export { type AttachmentPart, MessageParseError, readAttachments } from './attachments.ts';
export { DEFAULT_PARSE_LIMITS, type ParseFailure, type ParseLimits } from './parse-limits.ts';
export { type EnvelopeFacts, type RuleInput, toRuleInput } from './rule-input.ts';

/** A header field, decoded. Repeated headers appear once per occurrence, in order. */
export interface HeaderField {
  /** Lower case. */
  name: string;
  /** Unfolded, encoded words decoded. */
  value: string;
}

/** What rules see of an attachment. */
export interface AttachmentInfo {
  /** The file name (RFC 2231/2047 decoded), when the part names one. */
  filename?: string;
  /** Lower case, e.g. `application/pdf`. */
  contentType: string;
  /** Decoded bytes. */
  size: number;
  /** `attachment`, `inline`, or whatever the part said. */
  disposition?: string;
  /** The Content-ID, without angle brackets (inline images of an HTML body). */
  contentId?: string;
  /** True for parts embedded in `multipart/related`. */
  related?: boolean;
}

/**
 * The start of a part that reports on other mail (a DSN's original message or
 * its headers, an ARF feedback report), kept for classification
 * (`lib/mime/classify.ts`): the fields that matter come first.
 */
export interface ReportPart {
  /** Lower case, e.g. `message/feedback-report`. */
  contentType: string;
  /** The first {@link REPORT_PART_BYTES} bytes, decoded as UTF-8. */
  text: string;
}

/** The MIME types of the parts kept as {@link ReportPart}s. */
export const REPORT_PART_TYPES: ReadonlySet<string> = new Set([
  'message/delivery-status',
  'message/global-delivery-status',
  'message/feedback-report',
  'message/rfc822',
  'message/global',
  'text/rfc822-headers',
  'message/rfc822-headers',
  'message/global-headers',
]);
export const REPORT_PART_BYTES = 32 * 1024;
const MAX_REPORT_PARTS = 8;

/** The parts of a raw message rules can test. */
export interface ParsedMessage {
  /** False when the parser gave up; the other fields are then empty and `warnings` (and `failure`) say why. */
  ok: boolean;
  /** Set when `ok` is false. */
  failure?: ParseFailure;
  subject?: string;
  messageId?: string;
  /** The Date header, when it parsed. */
  date?: Date;
  from: MailAddress[];
  to: MailAddress[];
  cc: MailAddress[];
  bcc: MailAddress[];
  deliveredTo: MailAddress[];
  headers: HeaderField[];
  /** The text parts, or HTML reduced to text where there is no text alternative. */
  text: string;
  attachments: AttachmentInfo[];
  /** True when the message has an HTML body part. */
  hasHtml?: boolean;
  /** Report parts (DSN, ARF) in order: see {@link ReportPart}. */
  reports?: ReportPart[];
  /** Bytes read. */
  size: number;
  warnings: string[];
}

function emptyMessage(size: number, failure: ParseFailure): ParsedMessage {
  return {
    ok: false,
    failure,
    from: [],
    to: [],
    cc: [],
    bcc: [],
    deliveredTo: [],
    headers: [],
    text: '',
    attachments: [],
    size,
    warnings: [`message could not be parsed: ${failure.reason}`],
  };
}

type ParserHeaders = Map<string, unknown>;

function addressHeader(headers: ParserHeaders, key: string): MailAddress[] {
  return flattenAddresses(headers.get(key) as AddressObject | AddressObject[] | undefined);
}

/**
 * Parses a raw RFC 5322 message into what rules test. Never throws for a
 * malformed or hostile message and never hangs: where the parser gives up, a
 * limit is passed or the time is up, the result has `ok: false`, a `failure` and
 * a warning, so envelope-level rules still apply. It does reject when `raw` is a
 * stream that fails (the blob could not be read: retry later).
 */
export async function parseMessage(
  raw: Buffer | Uint8Array | Readable,
  limitOverrides?: Partial<ParseLimits>,
): Promise<ParsedMessage> {
  const limits = limitsOf(limitOverrides);
  const signal = stopSignal(limits);
  signal.arm();
  let parser: MailParser | undefined;
  let source: ReturnType<typeof feed> | undefined;
  let current: AttachmentStream | undefined;
  let headers: ParserHeaders = new Map();
  let headerLines: ReadonlyArray<{ key: string; line: string }> = [];
  const attachments: AttachmentInfo[] = [];
  const reports: ReportPart[] = [];
  const warnings: string[] = [];
  let text = '';
  let hasHtml = false;
  try {
    parser = await newParser(limits);
    const active = parser;
    active.on('error', signal.stop);
    active.on('headers', (value: ParserHeaders) => {
      headers = value;
    });
    active.on('headerLines', (value: ReadonlyArray<{ key: string; line: string }>) => {
      headerLines = value;
    });
    source = feed(raw, active, signal.stop);
    let decoded = 0;
    const consume = async () => {
      for await (const item of active as AsyncIterable<AttachmentStream | MessageText>) {
        if (item.type === 'attachment') {
          current = item;
          checkDepth(item.partId, limits);
          let bytes = 0;
          const contentType = contentTypeOf(item);
          const kept: Buffer[] = [];
          const keep = REPORT_PART_TYPES.has(contentType) && reports.length < MAX_REPORT_PARTS;
          for await (const chunk of item.content) {
            if (keep && bytes < REPORT_PART_BYTES)
              kept.push((chunk as Buffer).subarray(0, REPORT_PART_BYTES - bytes));
            bytes += (chunk as Buffer).length;
            if (decoded + bytes > limits.maxDecodedBytes) throw decodedLimit(limits);
          }
          decoded += bytes;
          current = undefined;
          item.release?.();
          if (keep) reports.push({ contentType, text: Buffer.concat(kept).toString('utf8') });
          const contentId = typeof item.contentId === 'string' ? item.contentId.replace(/^<|>$/g, '') : '';
          attachments.push({
            ...(item.filename ? { filename: item.filename } : {}),
            contentType,
            size: bytes,
            ...(item.contentDisposition ? { disposition: item.contentDisposition } : {}),
            ...(contentId !== '' ? { contentId } : {}),
            ...(item.related === true ? { related: true } : {}),
          });
        } else {
          text = item.text ?? '';
          hasHtml = typeof item.html === 'string' && item.html !== '';
          if (decoded + Buffer.byteLength(text) > limits.maxDecodedBytes) throw decodedLimit(limits);
          if (item.textConversionError) {
            warnings.push(`HTML part not reduced to text: ${reason(item.textConversionError)}`);
          }
        }
      }
    };
    const work = consume();
    // The loser of the race below is abandoned: its rejection is not an unhandled one.
    work.catch(() => undefined);
    await Promise.race([work, signal.promise]);
  } catch (error) {
    if (source?.sourceError() !== undefined) throw source.sourceError();
    return emptyMessage(source?.size() ?? 0, failureOf(error, limits));
  } finally {
    signal.pause();
    // Whatever is still running stops here: an attachment stream left open
    // would keep the abandoned loop waiting, a half-read file or S3 stream its handle.
    if (current && !current.content.destroyed) current.content.destroy();
    if (parser && !parser.destroyed) parser.destroy();
    if (raw instanceof Readable && !raw.destroyed) raw.destroy();
  }
  if (source.sourceError() !== undefined) throw source.sourceError();

  const date = headers.get('date');
  const parsed: ParsedMessage = {
    ok: true,
    from: addressHeader(headers, 'from'),
    to: addressHeader(headers, 'to'),
    cc: addressHeader(headers, 'cc'),
    bcc: addressHeader(headers, 'bcc'),
    deliveredTo: addressHeader(headers, 'delivered-to'),
    headers: headerLines.map((line) => decodeHeaderLine(line.line)).filter((header) => header.name !== ''),
    text,
    attachments,
    hasHtml,
    reports,
    size: source.size(),
    warnings,
  };
  const rootType = parsed.headers.find((h) => h.name === 'content-type')?.value.toLowerCase() ?? '';
  if (rootType.startsWith('multipart/report')) {
    reports.push({ contentType: 'multipart/report', text: source.head().toString('utf8') });
  }
  const subject = headers.get('subject');
  if (typeof subject === 'string') parsed.subject = subject;
  const messageId = headers.get('message-id');
  if (typeof messageId === 'string') parsed.messageId = messageId;
  // mailparser substitutes "now" for an unparseable Date; only trust a header that parses itself.
  const dateHeader = parsed.headers.find((h) => h.name === 'date');
  if (date instanceof Date && dateHeader && !Number.isNaN(Date.parse(dateHeader.value))) parsed.date = date;
  return parsed;
}
