/**
 * The bounds on parsing one raw message and the machinery both parsers share
 * (`parseMessage`, `readAttachments`): limits, the settle-once stop signal with
 * its clock, feeding the raw bytes and creating the mailparser instance.
 */
import { Readable } from 'node:stream';
import type { AttachmentStream, MailParser } from 'mailparser';

/**
 * The raw start of a `multipart/report` message, kept as a report part of
 * that type: mailparser folds an inline `message/rfc822` into the message
 * (its Message-ID then lost), and a report's original headers come early.
 */
const RAW_HEAD_BYTES = 64 * 1024;

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

/** An error message without the parser's stack; never includes message content beyond the parser's text. */
export function reason(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}

/** A parse ended by a limit or the clock, as opposed to the parser's own error. */
export class ParseStop extends Error {
  constructor(readonly failure: ParseFailure) {
    super(failure.reason);
  }
}

/** What mailparser's own limit errors (mailsplit `EMAXLEN`) mean, in our terms. */
export function failureOf(error: unknown, limits: ParseLimits): ParseFailure {
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
export function stopSignal(limits: ParseLimits) {
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
export function checkDepth(partId: string | null | undefined, limits: ParseLimits): void {
  const depth = partId ? partId.split('.').length : 0;
  if (depth > limits.maxDepth) {
    throw new ParseStop({ kind: 'limit', reason: `MIME parts nested deeper than ${limits.maxDepth}` });
  }
}

export function decodedLimit(limits: ParseLimits): ParseStop {
  return new ParseStop({ kind: 'limit', reason: `more than ${limits.maxDecodedBytes} decoded bytes` });
}

/** Feeds `raw` to `parser`; source errors (a failing blob read) are reported apart from parser errors. */
export function feed(
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
export function contentTypeOf(item: AttachmentStream): string {
  const type: unknown = item.contentType;
  return typeof type === 'string' && type !== '' ? type.toLowerCase() : 'application/octet-stream';
}

/**
 * mailparser is loaded on first use: only rules that test the body or the
 * attachments, or save attachments, parse messages, so a process whose rules
 * never do is spared loading it and its HTML-to-text stack (a large part of
 * the process function's bundle, otherwise compiled and run at every cold start).
 */
export async function newParser(limits: ParseLimits): Promise<MailParser> {
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

export function limitsOf(overrides: Partial<ParseLimits> | undefined): ParseLimits {
  return { ...DEFAULT_PARSE_LIMITS, ...overrides };
}
