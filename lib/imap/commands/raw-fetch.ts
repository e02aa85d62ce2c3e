/**
 * The fast path for message bodies and batch metadata: one `UID FETCH` read
 * straight off the session's socket, borrowed from ImapFlow between two of
 * its commands (`flow-internals.ts`).
 *
 * ImapFlow assembles every response, literal included, in its parser,
 * tokenises and formats it, pausing the socket whenever its input buffer is
 * full; for bodies that is several times the CPU of reading the bytes, and
 * every pause stalls the server. Here the reply is only framed
 * (`response-reader.ts`): small bodies go on as views of the socket chunks,
 * large ones as a Readable with backpressure, and reading runs ahead of the
 * consumer up to `readAheadBytes`. Unsolicited responses (EXISTS, EXPUNGE,
 * FLAGS) are handed back to ImapFlow with the socket, so its view of the
 * mailbox stays current.
 *
 * Nothing the server says is trusted: a body may not be larger than the
 * RFC822.SIZE announced for it (plus slack), a literal that is not a body
 * not larger than `maxLineBytes`, and a body for a UID not asked for, or
 * for one already delivered, is dropped with a warning.
 */
import { Readable } from 'node:stream';
import type { BorrowedSocket } from '../flow-internals.ts';
import { ResponseReader } from './response-reader.ts';

/** The connection went away in the middle of the FETCH. */
export class FetchConnectionLost extends Error {
  override name = 'FetchConnectionLost';
}

/** The server answered the FETCH with a tagged NO or BAD. */
export class FetchRejected extends Error {
  override name = 'FetchRejected';
  constructor(
    readonly status: string,
    readonly responseText: string,
  ) {
    super(`${status} ${responseText}`);
  }
}

/** The server sent what the limits do not allow; the session cannot go on. */
export class FetchRefused extends Error {
  override name = 'FetchRefused';
}

export interface RawFetchOptions {
  /** The tag for the command; must not look like ImapFlow's. */
  tag: string;
  uidSet: string;
  /** When the set is one UID: every body belongs to it, even if the server sends UID after the literal. */
  singleUid?: number | undefined;
  /** The UIDs asked for, with the RFC822.SIZE announced for each (bodies only). */
  expected: ReadonlyMap<number, number>;
  bodySlackBytes: number;
  maxLineBytes: number;
  /** Bodies of at least this many bytes are streamed. */
  streamThreshold: number;
  /** Bytes of complete small bodies held ahead of the consumer before the socket is paused. */
  readAheadBytes: number;
  /** Receives each body once, in arrival order, awaited one at a time. */
  onMessage(uid: number, source: Buffer | Buffer[] | Readable): Promise<void>;
  /** Fetch these items instead of bodies; each FETCH line goes to `onFetchLine` (false: not metadata). */
  metadata?: { items: string; onFetchLine(text: string): boolean } | undefined;
  onWarning(message: string): void;
  trace?: ((line: string) => void) | undefined;
}

const MAX_FORWARDED = 4 * 1024 * 1024;
const BODY_LITERAL = /BODY\[\](?:<\d+>)?\s*\{\d+\+?\}$/i;
const FETCH_START = /^\* \d+ FETCH /i;
const UID_ITEM = /[( ]UID (\d+)/i;
const TAGGED = /^\S+ (OK|NO|BAD)\b ?(.*)$/i;

type Body = { uid: number | undefined; pieces: Buffer[]; size: number } | Readable;

/** Runs one `UID FETCH` on a borrowed socket; resolves once the tagged OK came and every body was consumed. */
export function rawUidFetch(borrowed: BorrowedSocket, options: RawFetchOptions): Promise<void> {
  const { source, socket } = borrowed;
  const trace = options.trace;
  const delivered = new Set<number>();
  const largestExpected = Math.max(0, ...options.expected.values());

  return new Promise<void>((resolve, reject) => {
    let text = '';
    let raw: Buffer[] = [];
    let rawBytes = 0;
    let body: Body | null = null;
    let literal: 'body' | 'forward' | 'discard' | null = null;
    let tagged: { status: string; text: string } | null = null;
    let chain: Promise<void> = Promise.resolve();
    let queuedBytes = 0;
    let consumerError: unknown;
    let failure: Error | null = null;
    let settled = false;
    const forwarded: Buffer[] = [];
    let forwardedBytes = 0;
    const pauses = new Set<string>();

    const pause = (reason: string) => {
      pauses.add(reason);
      source.pause();
    };
    const unpause = (reason: string) => {
      if (pauses.delete(reason) && pauses.size === 0 && !settled) source.resume();
    };

    const deliver = (uid: number, item: Buffer | Buffer[] | Readable, bytes: number) => {
      delivered.add(uid);
      queuedBytes += bytes;
      if (queuedBytes > options.readAheadBytes) pause('read-ahead');
      chain = chain.then(async () => {
        try {
          if (consumerError === undefined && !failure) await options.onMessage(uid, item);
        } catch (error) {
          consumerError ??= error;
        } finally {
          queuedBytes -= bytes;
          if (queuedBytes <= options.readAheadBytes / 2) unpause('read-ahead');
          if (item instanceof Readable && !item.readableEnded) {
            // The consumer gave up on the stream: discard the rest rather than stall the socket.
            item.resume();
            unpause('stream');
          }
        }
      });
    };

    /** Why a body for `uid` must not be kept, or undefined when it may. */
    const unwanted = (uid: number | undefined): string | undefined => {
      if (uid === undefined || !Number.isInteger(uid) || uid <= 0) return 'a FETCH response without a UID';
      if (!options.expected.has(uid)) return `UID ${uid}, which was not asked for`;
      if (delivered.has(uid)) return `UID ${uid} a second time`;
      return undefined;
    };
    const checkSize = (uid: number | undefined, size: number): boolean => {
      const announced =
        uid !== undefined && options.expected.has(uid) ? options.expected.get(uid)! : largestExpected;
      if (size <= announced + options.bodySlackBytes) return true;
      fail(
        new FetchRefused(
          `the server announced a ${size}-byte body for ${uid === undefined ? 'a message' : `UID ${uid}`} whose RFC822.SIZE was ${announced} (bodySlackBytes ${options.bodySlackBytes})`,
        ),
      );
      return false;
    };

    const uidOf = () => options.singleUid ?? (Number(UID_ITEM.exec(text)?.[1]) || undefined);

    const endResponse = () => {
      if (body !== null) {
        const uid = uidOf();
        if (body instanceof Readable) {
          // Streamed bodies were checked when they began.
        } else {
          const reason = unwanted(uid);
          if (reason) options.onWarning(`the server sent a body for ${reason}; it was ignored`);
          else if (checkSize(uid, body.size)) {
            const { pieces, size } = body;
            deliver(uid!, pieces.length === 1 ? pieces[0]! : pieces, size);
          }
        }
        trace?.(`S: ${text}`);
      } else if (options.metadata && FETCH_START.test(text) && options.metadata.onFetchLine(text)) {
        trace?.(`S: ${text}`);
      } else if (text.startsWith(`${options.tag} `)) {
        const match = TAGGED.exec(text);
        tagged = { status: (match?.[1] ?? 'BAD').toUpperCase(), text: match?.[2] ?? text };
        trace?.(`S: ${text}`);
        reader.stop();
      } else if (/^\* BYE\b/i.test(text)) {
        trace?.(`S: ${text}`);
        fail(new FetchConnectionLost(`server closed the connection: ${text.slice(6, 200).trim()}`));
      } else if (literal !== 'discard' && forwardedBytes + rawBytes <= MAX_FORWARDED) {
        // Unsolicited (EXISTS, EXPUNGE, FETCH FLAGS): ImapFlow gets them afterwards.
        forwarded.push(...raw);
        forwardedBytes += rawBytes;
      }
      text = '';
      raw = [];
      rawBytes = 0;
      body = null;
      literal = null;
    };

    const reader = new ResponseReader(
      {
        line(line, bytes) {
          text += line;
          if (body === null) {
            raw.push(bytes);
            rawBytes += bytes.length;
          }
          endResponse();
        },
        literalStart(line, bytes, size) {
          text += line;
          if (FETCH_START.test(text) && BODY_LITERAL.test(line)) {
            const uid = uidOf();
            const reason = uid === undefined ? undefined : unwanted(uid);
            if (reason) {
              options.onWarning(`the server sent a body for ${reason}; it was ignored`);
              literal = 'discard';
              return;
            }
            if (!checkSize(uid, size)) return;
            literal = 'body';
            if (size >= options.streamThreshold && uid !== undefined) {
              const stream = new Readable({ highWaterMark: 1024 * 1024, read: () => unpause('stream') });
              body = stream;
              deliver(uid, stream, 0);
              trace?.(`S: (streaming ${size} bytes of UID ${uid})`);
            } else {
              body = { uid, pieces: [], size };
            }
            return;
          }
          if (size > options.maxLineBytes) {
            fail(
              new FetchRefused(
                `the server sent a ${size}-byte literal (maxLineBytes ${options.maxLineBytes})`,
              ),
            );
            return;
          }
          literal = 'forward';
          raw.push(bytes);
          rawBytes += bytes.length + size;
        },
        literalBytes(piece) {
          const target = body;
          if (literal === 'forward') raw.push(piece);
          else if (literal !== 'body' || target === null) return;
          else if (target instanceof Readable) {
            if (!target.destroyed && !target.push(piece)) pause('stream');
          } else target.pieces.push(piece);
        },
        literalEnd() {
          if (body instanceof Readable && !body.destroyed) {
            body.push(null);
            unpause('stream');
          }
        },
        lineTooLong(bytes) {
          fail(
            new FetchRefused(
              `the server sent a response line of over ${bytes} bytes (maxLineBytes ${options.maxLineBytes})`,
            ),
          );
        },
      },
      options.maxLineBytes,
    );

    const onData = (chunk: Buffer) => {
      if (tagged) {
        // After our tagged reply everything belongs to ImapFlow again.
        if (!failure) forwarded.push(chunk);
        return;
      }
      if (settled) return;
      // The reader stops after our tagged reply: what follows it is ImapFlow's.
      const used = reader.push(chunk);
      if (tagged && !settled) {
        if (used < chunk.length) forwarded.push(chunk.subarray(used));
        finish();
      }
    };

    const onClose = () => fail(new FetchConnectionLost('connection closed during FETCH'));
    const onError = (error: Error) =>
      fail(new FetchConnectionLost(`connection failed during FETCH: ${error.message}`));

    const detach = () => {
      reader.stop();
      source.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('end', onClose);
      socket.removeListener('error', onError);
    };

    const finish = () => {
      settled = true;
      pauses.clear();
      void chain.then(() => {
        detach();
        borrowed.giveBack(forwarded);
        if (consumerError !== undefined) reject(consumerError);
        else if (tagged && tagged.status !== 'OK') reject(new FetchRejected(tagged.status, tagged.text));
        else resolve();
      });
    };

    function fail(error: Error): void {
      if (settled) return;
      settled = true;
      failure = error;
      detach();
      if (body instanceof Readable) body.destroy(error);
      void chain.then(() => reject(error));
    }

    source.on('data', onData);
    socket.once('close', onClose);
    socket.once('end', onClose);
    socket.once('error', onError);
    const command = `${options.tag} UID FETCH ${options.uidSet} (${options.metadata?.items ?? 'UID BODY.PEEK[]'})`;
    trace?.(`C: ${command}`);
    try {
      borrowed.write(command);
    } catch (error) {
      fail(new FetchConnectionLost(`cannot send FETCH: ${(error as Error).message}`));
      return;
    }
    source.resume();
  });
}
