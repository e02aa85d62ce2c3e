/**
 * The queue message's envelope (Subject, From, To, Cc, Date) and Message-ID,
 * read from a message's own header block.
 *
 * Why not IMAP's ENVELOPE: the poller fetches every body anyway, and asking
 * the server for ENVELOPE as well costs about as much server time as the
 * bodies themselves (the server parses every header to build it). The header
 * is already in hand, so reading it here is nearly free.
 */
import { Transform, type TransformCallback } from 'node:stream';
import addressparser, { type Address as ParsedAddress } from 'nodemailer/lib/addressparser';
import { joinHeld } from '../held-bytes.ts';
import type { Address, Envelope, HeldBytes } from '../ports.ts';
import { decodeWords, rawToText } from '../rules/encoded-words.ts';
import { headerEnd } from './header-end.ts';

/** Headers longer than this are cut here: the fields that matter come early, and memory stays bounded. */
export const MAX_HEADER_BYTES = 256 * 1024;

export interface HeaderFacts {
  messageId?: string;
  envelope: Envelope;
}

export { headerEnd } from './header-end.ts';

const WANTED = new Set(['subject', 'from', 'to', 'cc', 'date', 'message-id']);
/** Fields whose repeats add up (the rest: the first counts). */
const LIST_FIELDS = new Set(['to', 'cc']);

/**
 * The header block of a whole message (all of it when there is no body), cut
 * at `MAX_HEADER_BYTES`. A message held as pieces is read from its first piece
 * when the header ends there (the usual case: no copy); otherwise only its
 * first `MAX_HEADER_BYTES` are joined, so a blank line split between two
 * pieces is still found.
 */
export function headerBlock(message: HeldBytes): Uint8Array {
  let bytes = message instanceof Uint8Array ? message : (message[0] ?? new Uint8Array(0));
  let end = headerEnd(bytes, MAX_HEADER_BYTES);
  if (end < 0 && !(message instanceof Uint8Array) && message.length > 1) {
    bytes = joinHeld(message, MAX_HEADER_BYTES);
    end = headerEnd(bytes);
  }
  return bytes.subarray(0, end < 0 ? Math.min(bytes.length, MAX_HEADER_BYTES) : end);
}

/**
 * Reads Subject, From, To, Cc, Date and Message-ID from a header block, the way
 * mailparser reads them on the processing side: the first Subject, From, Date
 * and Message-ID count, repeated To and Cc add up; encoded words (RFC 2047)
 * and raw UTF-8 (RFC 6532) are decoded; address groups become their members.
 */
export function headerFacts(header: Uint8Array): HeaderFacts {
  const fields = new Map<string, string>();
  // One char per byte, as mailparser hands lines over; `rawToText` decodes per field.
  const text = Buffer.from(header.buffer, header.byteOffset, header.byteLength).toString('latin1');
  let name = '';
  let value = '';
  const keep = () => {
    if (!name || !WANTED.has(name)) return;
    const previous = fields.get(name);
    if (previous === undefined) fields.set(name, rawToText(value));
    else if (LIST_FIELDS.has(name)) fields.set(name, `${previous},${rawToText(value)}`);
  };
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    if (line[0] === ' ' || line[0] === '\t') {
      value += line; // RFC 5322 2.2.3: unfolding removes the line break only
      continue;
    }
    keep();
    const colon = line.indexOf(':');
    name = colon < 0 ? '' : line.slice(0, colon).trim().toLowerCase();
    value = colon < 0 ? '' : line.slice(colon + 1);
  }
  keep();

  const subject = fields.get('subject');
  const dateText = fields.get('date')?.trim();
  const date = dateText ? new Date(dateText) : undefined;
  const messageId = fields.get('message-id')?.trim();
  return {
    ...(messageId ? { messageId } : {}),
    envelope: {
      ...(subject !== undefined && subject.trim() !== '' ? { subject: decodeWords(subject.trim()) } : {}),
      from: addresses(fields.get('from')),
      to: addresses(fields.get('to')),
      cc: addresses(fields.get('cc')),
      ...(date && !Number.isNaN(date.getTime()) ? { date: date.toISOString() } : {}),
    },
  };
}

// One plain mailbox, the shape nearly all mail has: `a@b`, `Name <a@b>`, `"Name" <a@b>`.
// Anything else (lists, groups, comments, escapes) goes to addressparser.
const ADDR_SPEC = String.raw`[^\s@<>",;:()\\\[\]]+@[^\s@<>",;:()\\\[\]]+`;
const BARE_MAILBOX = new RegExp(String.raw`^\s*(${ADDR_SPEC})\s*$`);
const NAMED_MAILBOX = new RegExp(
  String.raw`^\s*(?:"([^"\\@]*)"|([^<>",;:()\\@\[\]]*?))\s*<(${ADDR_SPEC})>\s*$`,
);

/** The common single-mailbox forms without a full parse (addressparser is the slow path, for the rest). */
export function plainMailbox(value: string): Address | undefined {
  const bare = BARE_MAILBOX.exec(value);
  if (bare) return { address: bare[1]! };
  const named = NAMED_MAILBOX.exec(value);
  if (!named) return undefined;
  const address: Address = {};
  const name = decodeWords((named[1] ?? named[2] ?? '').trim()).trim();
  if (name) address.name = name;
  address.address = named[3]!;
  return address;
}

function addresses(value: string | undefined): Address[] {
  if (value === undefined || value.trim() === '') return [];
  const plain = plainMailbox(value);
  if (plain) return [plain];
  const out: Address[] = [];
  const add = (entry: ParsedAddress) => {
    if (entry.group) {
      for (const member of entry.group) add(member);
      return;
    }
    const address: Address = {};
    const name = decodeWords(entry.name ?? '').trim();
    if (name) address.name = name;
    if (entry.address) address.address = entry.address;
    if (address.name || address.address) out.push(address);
  };
  for (const entry of addressparser(value)) add(entry);
  return out;
}

/**
 * Passes a message stream through unchanged while keeping a copy of its header
 * block, for messages too large to hold. `header` settles once the blank line
 * (or `MAX_HEADER_BYTES`, or the end) has gone by.
 */
export class HeaderCapture extends Transform {
  private readonly chunks: Buffer[] = [];
  private held = 0;
  private done = false;
  private settle!: (header: Uint8Array) => void;
  readonly header: Promise<Uint8Array> = new Promise((resolve) => {
    this.settle = resolve;
  });

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.done) {
      this.chunks.push(chunk);
      this.held += chunk.length;
      // Search the joined bytes: the blank line can straddle two chunks.
      const joined = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.held);
      const end = headerEnd(joined, MAX_HEADER_BYTES);
      if (end >= 0 || this.held >= MAX_HEADER_BYTES) this.finish(joined, end);
      else {
        this.chunks.length = 0;
        this.chunks.push(joined);
      }
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (!this.done) this.finish(Buffer.concat(this.chunks, this.held), -1);
    callback();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    // A failed upload or a lost connection must not leave anyone waiting for the header.
    if (!this.done) this.finish(Buffer.concat(this.chunks, this.held), -1);
    callback(error);
  }

  private finish(joined: Buffer, end: number): void {
    this.done = true;
    this.chunks.length = 0;
    this.settle(joined.subarray(0, end < 0 ? Math.min(joined.length, MAX_HEADER_BYTES) : end));
  }
}
