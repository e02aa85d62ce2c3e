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
import { Readable } from 'node:stream';
import { domainToASCII, domainToUnicode } from 'node:url';
import type { AddressObject, AttachmentStream, EmailAddress, MailParser, MessageText } from 'mailparser';
import { PostroomError } from '../errors.ts';
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
}

/** The parts of a raw message rules can test. */
export interface ParsedMessage {
  /** False when the parser gave up; the other fields are then empty and `warnings` says why. */
  ok: boolean;
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

function emptyMessage(size: number, warnings: string[]): ParsedMessage {
  return {
    ok: false,
    from: [],
    to: [],
    cc: [],
    bcc: [],
    deliveredTo: [],
    headers: [],
    text: '',
    attachments: [],
    size,
    warnings,
  };
}

type ParserHeaders = Map<string, unknown>;

function addressHeader(headers: ParserHeaders, key: string): MailAddress[] {
  return flattenAddresses(headers.get(key) as AddressObject | AddressObject[] | undefined);
}

/** Feeds `raw` to `parser`; source errors (a failing blob read) are reported apart from parser errors. */
function feed(
  raw: Buffer | Uint8Array | Readable,
  parser: MailParser,
): { size: () => number; sourceError: () => unknown } {
  let size = 0;
  let sourceError: unknown;
  if (raw instanceof Readable) {
    raw.on('data', (chunk: Buffer) => {
      size += chunk.length;
    });
    raw.on('error', (error) => {
      sourceError ??= error;
      parser.destroy(error);
    });
    raw.pipe(parser);
  } else {
    size = raw.byteLength;
    parser.end(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
  }
  return { size: () => size, sourceError: () => sourceError };
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
async function newParser(): Promise<MailParser> {
  const { MailParser } = await import('mailparser');
  // No checksums and no HTML rendering of text: rules need neither. (The Lambda
  // bundles count on it: their linkifier is a stub, infra/lambda-stubs/linkify-it.mjs.)
  return new MailParser({
    checksumAlgo: false,
    skipTextToHtml: true,
    skipTextLinks: true,
    skipImageLinks: true,
  });
}

/**
 * Parses a raw RFC 5322 message into what rules test. Never throws for a
 * malformed message: mailparser is lenient, and where it gives up the result has
 * `ok: false` and a warning, so envelope-level rules still apply. It does reject
 * when `raw` is a stream that fails (the blob could not be read: retry later).
 */
export async function parseMessage(raw: Buffer | Uint8Array | Readable): Promise<ParsedMessage> {
  const parser = await newParser();
  let headers: ParserHeaders = new Map();
  let headerLines: ReadonlyArray<{ key: string; line: string }> = [];
  parser.on('headers', (value: ParserHeaders) => {
    headers = value;
  });
  parser.on('headerLines', (value: ReadonlyArray<{ key: string; line: string }>) => {
    headerLines = value;
  });
  const source = feed(raw, parser);
  const attachments: AttachmentInfo[] = [];
  const warnings: string[] = [];
  let text = '';
  try {
    for await (const item of parser as AsyncIterable<AttachmentStream | MessageText>) {
      if (item.type === 'attachment') {
        let bytes = 0;
        for await (const chunk of item.content) bytes += (chunk as Buffer).length;
        item.release?.();
        attachments.push({
          ...(item.filename ? { filename: item.filename } : {}),
          contentType: contentTypeOf(item),
          size: bytes,
          ...(item.contentDisposition ? { disposition: item.contentDisposition } : {}),
        });
      } else {
        text = item.text ?? '';
        if (item.textConversionError) {
          warnings.push(`HTML part not reduced to text: ${reason(item.textConversionError)}`);
        }
      }
    }
  } catch (error) {
    if (source.sourceError() !== undefined) throw source.sourceError();
    return emptyMessage(source.size(), [`message could not be parsed: ${reason(error)}`]);
  } finally {
    // The parser may stop early; a file or S3 stream left half-read would hold its handle.
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
    size: source.size(),
    warnings,
  };
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
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('MESSAGE_UNPARSEABLE', message, options);
    this.name = 'MessageParseError';
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
export async function* readAttachments(raw: Buffer | Uint8Array | Readable): AsyncGenerator<AttachmentPart> {
  const parser = await newParser();
  const source = feed(raw, parser);
  try {
    for await (const item of parser as AsyncIterable<AttachmentStream | MessageText>) {
      if (item.type !== 'attachment') continue;
      yield {
        ...(item.filename ? { filename: item.filename } : {}),
        contentType: contentTypeOf(item),
        ...(item.contentDisposition ? { disposition: item.contentDisposition } : {}),
        partId: item.partId,
        related: item.related === true,
        content: item.content,
      };
      if (!item.content.readableEnded) {
        item.content.resume();
        await once(item.content, 'end');
      }
      item.release?.();
    }
  } catch (error) {
    if (source.sourceError() !== undefined) throw source.sourceError();
    throw new MessageParseError(`message could not be parsed: ${reason(error)}`, { cause: error });
  } finally {
    if (!parser.destroyed) parser.destroy();
    if (raw instanceof Readable && !raw.destroyed) raw.destroy();
  }
  if (source.sourceError() !== undefined) throw source.sourceError();
}

/** The envelope-level facts of a queue message (`QueueMessage` satisfies this). */
export interface EnvelopeFacts {
  envelope?: Envelope;
  flags?: string[];
  /** RFC822.SIZE. */
  size?: number;
  /** INTERNALDATE, ISO 8601. */
  internalDate?: string | Date;
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
  headers?: HeaderField[];
  text?: string;
  attachments?: AttachmentInfo[];
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
  } else if (parsed && facts?.size === undefined) {
    input.size = parsed.size;
  }
  return input;
}
