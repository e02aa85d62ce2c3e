/**
 * Streams a raw message's attachments one at a time for `saveAttachments`,
 * under the same limits as `parseMessage`, without holding them in memory.
 */
import { once } from 'node:events';
import { Readable, Transform } from 'node:stream';
import type { AttachmentStream, MessageText } from 'mailparser';
import { PostroomError } from '../errors.ts';
import * as parsing from './parse-limits.ts';

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
  readonly failure?: parsing.ParseFailure;
  constructor(message: string, options: { cause?: unknown; failure?: parsing.ParseFailure } = {}) {
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
  limitOverrides?: Partial<parsing.ParseLimits>,
): AsyncGenerator<AttachmentPart> {
  const limits = parsing.limitsOf(limitOverrides);
  const signal = parsing.stopSignal(limits);
  const parser = await parsing.newParser(limits);
  let current: { content: Readable } | undefined;
  // A failure while the caller reads a part ends that part's stream with it, so
  // the caller's read (an upload, say) rejects instead of waiting for the rest.
  const stop = (error: unknown) => {
    signal.stop(error);
    if (current && !current.content.destroyed) current.content.destroy(parseError(signal.stopped(), limits));
  };
  parser.on('error', stop);
  const source = parsing.feed(raw, parser, stop);
  const items = (parser as AsyncIterable<AttachmentStream | MessageText>)[Symbol.asyncIterator]();
  let decoded = 0;
  try {
    for (;;) {
      signal.arm();
      const next = await Promise.race([items.next(), signal.promise]);
      if (next.done) break;
      const item = next.value;
      if (item.type !== 'attachment') continue;
      parsing.checkDepth(item.partId, limits);
      // The caller reads a counting copy: decoded bytes are bounded, and progress
      // (not total time) is what bounds a part the caller takes its time over.
      const content = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          decoded += chunk.length;
          if (decoded > limits.maxDecodedBytes) return done(parseError(parsing.decodedLimit(limits), limits));
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
        contentType: parsing.contentTypeOf(item),
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

function parseError(error: unknown, limits: parsing.ParseLimits): MessageParseError {
  if (error instanceof MessageParseError) return error;
  const failure = parsing.failureOf(error, limits);
  return new MessageParseError(`message could not be parsed: ${failure.reason}`, { cause: error, failure });
}
