/**
 * What rules look at: the queue message's envelope, and (only when a rule needs
 * more, see `needsBody`) the parsed raw message.
 *
 * Parsing streams through mailparser's `MailParser`: attachments are counted and
 * dropped, never held in memory, so a message with a 40 MB attachment costs its
 * text and headers only. Attachments to store (`saveAttachments`) are read again
 * with {@link readAttachments}.
 */
import { once } from 'node:events';
import { Readable, Transform } from 'node:stream';
import { domainToASCII, domainToUnicode } from 'node:url';
import type { AddressObject, AttachmentStream, EmailAddress, MailParser, MessageText } from 'mailparser';
import { PostroomError } from '../errors.ts';
import type { AuthVerdicts } from '../mime/auth-results.ts';
import type { Address, Envelope } from '../ports.ts';
import { decodeHeaderLine } from './encoded-words.ts';

/** One mailbox of an address header. Group members carry the group's name. */
export interface MailAddress {
  /** The display name, decoded; absent when there is none. */
  name?: string;
  /** `local@domain`, the domain in Unicode (IDN decoded). */
  address?: string;
  /** The name of the group (RFC 5322 3.4) the address was listed in. */
  group?: string;
}

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
/**
 * The raw start of a `multipart/report` message, kept as a report part of
 * that type: mailparser folds an inline `message/rfc822` into the message
 * (its Message-ID then lost), and a report's original headers come early.
 */
const RAW_HEAD_BYTES = 64 * 1024;
const MAX_REPORT_PARTS = 8;

/**
 * Bounds on parsing one message. Normal mail is far inside them; a message past
 * one is unparseable (content conditions unknown), never a stuck consumer.
 */
export interface ParseLimits {
  /** MIME parts, the root and every multipart container included. */
  maxParts: number;
  /** Nesting of MIME parts (the root's children are depth 1). */
  maxDepth: number;
  /** The header block of any one MIME part, in bytes. */
  maxHeaderBytes: number;
  /** Decoded bytes of all parts together (text and attachments). */
  maxDecodedBytes: number;
  /** Time for the whole parse ({@link parseMessage}), or without progress ({@link readAttachments}), in ms. */
  timeoutMs: number;
}

export const DEFAULT_PARSE_LIMITS: Readonly<ParseLimits> = Object.freeze({
  maxParts: 1000,
  maxDepth: 50,
  maxHeaderBytes: 256 * 1024,
  maxDecodedBytes: 256 * 1024 * 1024,
  timeoutMs: 20_000,
});

/**
 * Why a message could not be parsed. `limit`: past one of the {@link ParseLimits};
 * `timeout`: the time limit; `parser`: the parser failed on it. All three are
 * properties of the message (trying again gives the same result).
 */
export interface ParseFailure {
  kind: 'limit' | 'timeout' | 'parser';
  /** One line, e.g. `more than 1000 MIME parts`; never message content. */
  reason: string;
}

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

/** An error message without the parser's stack; never includes message content beyond the parser's text. */
function reason(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}

/** Flattens mailparser's address objects: groups become their members, named after the group. */
export function flattenAddresses(value: AddressObject | AddressObject[] | undefined): MailAddress[] {
  const out: MailAddress[] = [];
  const push = (entry: EmailAddress, group?: string) => {
    if (entry.group) {
      for (const member of entry.group) push(member, entry.name || group);
      return;
    }
    if (!entry.address && !entry.name) return;
    const address: MailAddress = {};
    if (entry.name) address.name = entry.name;
    if (entry.address) address.address = normaliseAddress(entry.address);
    if (group) address.group = group;
    out.push(address);
  };
  for (const header of value === undefined ? [] : Array.isArray(value) ? value : [value]) {
    for (const entry of header.value) push(entry);
  }
  return out;
}

/** `local@domain` with the domain in Unicode and lower case (domains are case-insensitive, local parts are not). */
export function normaliseAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  const domain = address.slice(at + 1);
  const unicode = domainToUnicode(domain) || domain;
  return `${address.slice(0, at)}@${unicode.toLowerCase()}`;
}

/** The ASCII (punycode) form of an address's domain, e.g. `jorg@xn--bcher-kva.example`. */
export function asciiAddress(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  const domain = address.slice(at + 1);
  return `${address.slice(0, at)}@${(domainToASCII(domain) || domain).toLowerCase()}`;
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

/** A parse ended by a limit or the clock, as opposed to the parser's own error. */
class ParseStop extends Error {
  constructor(readonly failure: ParseFailure) {
    super(failure.reason);
  }
}

/** What mailparser's own limit errors (mailsplit `EMAXLEN`) mean, in our terms. */
function failureOf(error: unknown, limits: ParseLimits): ParseFailure {
  if (error instanceof ParseStop) return error.failure;
  const text = reason(error);
  if (/child nodes/i.test(text)) return { kind: 'limit', reason: `more than ${limits.maxParts} MIME parts` };
  if (/header size/i.test(text)) {
    return { kind: 'limit', reason: `a MIME header block larger than ${limits.maxHeaderBytes} bytes` };
  }
  return { kind: 'parser', reason: text };
}

/**
 * One settle-once failure signal for a parse: the first of a parser error, a
 * limit and the clock wins; `promise` rejects with it. The timer keeps the
 * process alive, so a parser that never answers still ends the parse.
 */
function stopSignal(limits: ParseLimits) {
  let stop!: (error: unknown) => void;
  let stopped: unknown;
  const promise = new Promise<never>((_, reject) => {
    stop = (error) => {
      if (stopped !== undefined) return;
      stopped = error ?? new Error('parser failed');
      reject(stopped);
    };
  });
  promise.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(
      () =>
        stop(new ParseStop({ kind: 'timeout', reason: `parsing took longer than ${limits.timeoutMs} ms` })),
      limits.timeoutMs,
    );
  };
  return {
    promise,
    stop,
    stopped: () => stopped,
    /** (Re)starts the clock. */
    arm,
    /** Stops the clock (while a caller holds an attachment). */
    pause: () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

/** Checks an attachment's place in the tree against `maxDepth` (`1.2.3` is depth 3). */
function checkDepth(partId: string | null | undefined, limits: ParseLimits): void {
  const depth = partId ? partId.split('.').length : 0;
  if (depth > limits.maxDepth) {
    throw new ParseStop({ kind: 'limit', reason: `MIME parts nested deeper than ${limits.maxDepth}` });
  }
}

function decodedLimit(limits: ParseLimits): ParseStop {
  return new ParseStop({ kind: 'limit', reason: `more than ${limits.maxDecodedBytes} decoded bytes` });
}

type ParserHeaders = Map<string, unknown>;

function addressHeader(headers: ParserHeaders, key: string): MailAddress[] {
  return flattenAddresses(headers.get(key) as AddressObject | AddressObject[] | undefined);
}

/** Feeds `raw` to `parser`; source errors (a failing blob read) are reported apart from parser errors. */
function feed(
  raw: Buffer | Uint8Array | Readable,
  parser: MailParser,
  stop: (error: unknown) => void,
): { size: () => number; sourceError: () => unknown; head: () => Buffer } {
  let size = 0;
  let sourceError: unknown;
  const head: Buffer[] = [];
  if (raw instanceof Readable) {
    raw.on('data', (chunk: Buffer) => {
      if (size < RAW_HEAD_BYTES) head.push(chunk.subarray(0, RAW_HEAD_BYTES - size));
      size += chunk.length;
    });
    raw.on('error', (error) => {
      sourceError ??= error;
      stop(error);
      parser.destroy(error);
    });
    raw.pipe(parser);
  } else {
    size = raw.byteLength;
    const bytes = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    head.push(bytes.subarray(0, RAW_HEAD_BYTES));
    parser.end(bytes);
  }
  return { size: () => size, sourceError: () => sourceError, head: () => Buffer.concat(head) };
}

/** The attachment's MIME type, lower case; a broken Content-Type can leave mailparser with a non-string. */
function contentTypeOf(item: AttachmentStream): string {
  const type: unknown = item.contentType;
  return typeof type === 'string' && type !== '' ? type.toLowerCase() : 'application/octet-stream';
}

/**
 * mailparser is loaded on first use: only rules that test the body or the
 * attachments, or save attachments, parse messages, so a process whose rules
 * never do is spared loading it and its HTML-to-text stack (a large part of
 * the process function's bundle, otherwise compiled and run at every cold start).
 */
async function newParser(limits: ParseLimits): Promise<MailParser> {
  const { MailParser } = await import('mailparser');
  // No checksums and no HTML rendering of text: rules need neither. (The Lambda
  // bundles count on it: their linkifier is a stub, infra/lambda-stubs/linkify-it.mjs.)
  // mailparser enforces the part count and the header size itself (its splitter's
  // nodes count the root too); its error then arrives as an 'error' event.
  return new MailParser({
    checksumAlgo: false,
    skipTextToHtml: true,
    skipTextLinks: true,
    skipImageLinks: true,
    maxChildNodes: limits.maxParts,
    maxHeadSize: limits.maxHeaderBytes,
  });
}

function limitsOf(overrides: Partial<ParseLimits> | undefined): ParseLimits {
  return { ...DEFAULT_PARSE_LIMITS, ...overrides };
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

/** One attachment as {@link readAttachments} yields it. */
export interface AttachmentPart {
  filename?: string;
  /** Lower case. */
  contentType: string;
  disposition?: string;
  /** The IMAP part number (`1.2`), or null for a single-part message. */
  partId: string | null;
  /** True for parts embedded in `multipart/related` (inline images of an HTML body). */
  related: boolean;
  /**
   * The decoded content. Read it (or don't) before asking for the next
   * attachment: the parser waits meanwhile, and drains whatever was left unread.
   */
  content: Readable;
}

/** A message whose attachments cannot be read (the parser gave up). Not retryable. */
export class MessageParseError extends PostroomError {
  /** Why, when a limit, the clock or the parser ended it. */
  readonly failure?: ParseFailure;
  constructor(message: string, options: { cause?: unknown; failure?: ParseFailure } = {}) {
    super('MESSAGE_UNPARSEABLE', message, {
      ...(options.cause !== undefined ? { cause: options.cause } : {}),
      ...(options.failure ? { context: { failure: options.failure.kind } } : {}),
    });
    this.name = 'MessageParseError';
    if (options.failure) this.failure = options.failure;
  }
}

/**
 * Streams the attachments of a raw message one at a time, for `saveAttachments`,
 * without holding them in memory.
 *
 * @example
 * for await (const part of readAttachments(await blobs.get(key))) {
 *   await blobs.put(`${prefix}${part.filename ?? 'attachment'}`, part.content, { contentType: part.contentType });
 * }
 *
 * Rejects with {@link MessageParseError} when the parser gives up, or with the
 * stream's own error when `raw` fails. Breaking out of the loop stops parsing.
 */
export async function* readAttachments(
  raw: Buffer | Uint8Array | Readable,
  limitOverrides?: Partial<ParseLimits>,
): AsyncGenerator<AttachmentPart> {
  const limits = limitsOf(limitOverrides);
  const signal = stopSignal(limits);
  const parser = await newParser(limits);
  let current: { content: Readable } | undefined;
  // A failure while the caller reads a part ends that part's stream with it, so
  // the caller's read (an upload, say) rejects instead of waiting for the rest.
  const stop = (error: unknown) => {
    signal.stop(error);
    if (current && !current.content.destroyed) current.content.destroy(parseError(signal.stopped(), limits));
  };
  parser.on('error', stop);
  const source = feed(raw, parser, stop);
  const items = (parser as AsyncIterable<AttachmentStream | MessageText>)[Symbol.asyncIterator]();
  let decoded = 0;
  try {
    for (;;) {
      signal.arm();
      const next = await Promise.race([items.next(), signal.promise]);
      if (next.done) break;
      const item = next.value;
      if (item.type !== 'attachment') continue;
      checkDepth(item.partId, limits);
      // The caller reads a counting copy: decoded bytes are bounded, and progress
      // (not total time) is what bounds a part the caller takes its time over.
      const content = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          decoded += chunk.length;
          if (decoded > limits.maxDecodedBytes) return done(parseError(decodedLimit(limits), limits));
          signal.arm();
          done(null, chunk);
        },
      });
      current = { content };
      item.content.on('error', (error) => content.destroy(error));
      item.content.pipe(content);
      content.on('error', (error) => signal.stop(error));
      signal.pause();
      yield {
        ...(item.filename ? { filename: item.filename } : {}),
        contentType: contentTypeOf(item),
        ...(item.contentDisposition ? { disposition: item.contentDisposition } : {}),
        partId: item.partId,
        related: item.related === true,
        content,
      };
      if (!content.readableEnded) {
        signal.arm();
        content.resume();
        await Promise.race([once(content, 'end'), signal.promise]);
      }
      current = undefined;
      item.release?.();
    }
  } catch (error) {
    if (source.sourceError() !== undefined) throw source.sourceError();
    throw parseError(signal.stopped() ?? error, limits);
  } finally {
    signal.pause();
    if (current && !current.content.destroyed) current.content.destroy();
    if (!parser.destroyed) parser.destroy();
    if (raw instanceof Readable && !raw.destroyed) raw.destroy();
  }
  if (source.sourceError() !== undefined) throw source.sourceError();
}

function parseError(error: unknown, limits: ParseLimits): MessageParseError {
  if (error instanceof MessageParseError) return error;
  const failure = failureOf(error, limits);
  return new MessageParseError(`message could not be parsed: ${failure.reason}`, { cause: error, failure });
}

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
