/**
 * The fast path for message bodies: one `UID FETCH <set> (UID BODY.PEEK[])` read
 * straight off ImapFlow's socket.
 *
 * Why: ImapFlow assembles every response (literal included) in its stream parser,
 * tokenises it, formats it and hands it through an async generator, pausing the
 * socket whenever its 16 KiB input buffer is full. On loopback that costs about
 * 2.5× the CPU of reading the bytes, and every pause stalls the server. Here the
 * socket is borrowed between two ImapFlow commands (the session is idle: no
 * command in flight, no IDLE), the reply is scanned for literals only, each
 * small body is handed on as views of the socket chunks it arrived in (never
 * copied), and large bodies flow to the consumer as a Readable with
 * backpressure. Reading runs ahead of the consumer up to `readAheadBytes`, so
 * the server is not stopped for every message. Afterwards the socket is piped
 * back into ImapFlow, together with any unsolicited responses (EXISTS,
 * EXPUNGE, FETCH FLAGS) that arrived meanwhile, so ImapFlow's view of the
 * mailbox stays current.
 *
 * This depends on a few ImapFlow internals (`socket`, `streamer`, `write`,
 * `_inflate`, `currentRequest`, `requestQueue`, `idling`); `canBorrowSocket`
 * checks for them, and the adapter falls back to ImapFlow's own fetch when any
 * is missing (e.g. after an ImapFlow upgrade renamed one).
 */
import { Readable, type Writable } from 'node:stream';
import type { ImapFlow } from 'imapflow';

/** The ImapFlow internals borrowed here, all optional: they are feature-detected. */
interface FlowInternals {
  socket?: (Readable & { destroyed?: boolean; setTimeout?: (ms: number) => void }) | false | null;
  _inflate?: Readable | null | false;
  streamer?: Writable;
  usable?: boolean;
  idling?: boolean;
  currentRequest?: unknown;
  requestQueue?: unknown[];
  socketTimeout?: number;
  write?: (chunk: string) => void;
  armSocketTimeout?: (socket: unknown) => void;
}

/** True when the socket can be borrowed right now (internals present, session idle). */
export function canBorrowSocket(client: ImapFlow): boolean {
  const flow = client as unknown as FlowInternals;
  const socket = flow.socket;
  return (
    !!socket &&
    !socket.destroyed &&
    typeof socket.pipe === 'function' &&
    typeof socket.unpipe === 'function' &&
    !!flow.streamer &&
    typeof flow.streamer.write === 'function' &&
    typeof flow.write === 'function' &&
    flow.usable === true &&
    !flow.idling &&
    !flow.currentRequest &&
    Array.isArray(flow.requestQueue) &&
    flow.requestQueue.length === 0
  );
}

/** The connection went away (or fell silent) in the middle of the FETCH. */
export class FetchConnectionLost extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FetchConnectionLost';
  }
}

/** The server answered the FETCH with a tagged NO or BAD. */
export class FetchRejected extends Error {
  readonly status: string;
  readonly responseText: string;
  constructor(status: string, responseText: string) {
    super(`${status} ${responseText}`);
    this.name = 'FetchRejected';
    this.status = status;
    this.responseText = responseText;
  }
}

export interface RawFetchOptions {
  /** The tag for the command; must not look like ImapFlow's (hex counters). */
  tag: string;
  /** A UID set (`1:5,9`). */
  uidSet: string;
  /** When the set is a single UID: the UID every body belongs to, even if the server sends UID after the literal. */
  singleUid?: number;
  /** Bodies of at least this many bytes are streamed (when their UID is already known). */
  streamThreshold: number;
  /** Bytes of complete small bodies to hold ahead of the consumer before pausing the socket. */
  readAheadBytes: number;
  /** A body whose UID is unknown until after it is never buffered beyond this. */
  maxBufferedBody: number;
  /** Fails when the server sends nothing for this long while we wait for it. */
  idleTimeoutMs: number;
  /**
   * Receives each body in arrival order; awaited one at a time. A small body
   * comes as one Buffer when it arrived in one socket chunk, else as the list
   * of slices of the chunks it spans.
   */
  onMessage(uid: number, source: Buffer | Buffer[] | Readable): Promise<void>;
  /**
   * Fetch these items instead of bodies (`UID RFC822.SIZE INTERNALDATE FLAGS`):
   * each `* n FETCH (...)` line without a literal goes to `onFetchLine`, which
   * returns false for a response it does not recognise (unsolicited flag
   * updates), and that one is handed on to ImapFlow.
   */
  metadata?: { items: string; onFetchLine(text: string): boolean };
  /** `C: ` / `S: ` protocol lines (bodies summarised as their size). */
  trace?: (line: string) => void;
}

const LF = 0x0a;
/** The body of a FETCH response whose literal has begun but not arrived (a zero-length literal stays this). */
const NO_BYTES_YET = Buffer.alloc(0);
const MAX_LINE = 1024 * 1024;
const MAX_FORWARDED = 4 * 1024 * 1024;
/** A literal marker at the end of a line: `{123}` or the non-synchronizing `{123+}` (RFC 7888). */
const LITERAL_MARKER = /\{(\d+)\+?\}$/;
const BODY_LITERAL = /BODY\[\](?:<\d+>)?\s*\{\d+\+?\}$/i;
const FETCH_START = /^\* \d+ FETCH /i;
const UID_ITEM = /[( ]UID (\d+)/i;

interface Delivery {
  uid: number;
  source: Buffer | Buffer[] | Readable;
  bytes: number;
}

/** A small body that spans socket chunks: the slices, and their total announced size. */
interface PiecedBody {
  pieces: Buffer[];
  size: number;
}

/**
 * Runs one `UID FETCH <set> (UID BODY.PEEK[])` on ImapFlow's socket and hands
 * each body to `onMessage`. Resolves once the tagged OK arrived and every body
 * was consumed; rejects with `FetchRejected` (tagged NO/BAD), `FetchConnectionLost`
 * or the consumer's own error (after the rest of the reply was read, so the
 * session stays usable). Call only when `canBorrowSocket(client)` is true.
 */
export function rawUidFetch(client: ImapFlow, options: RawFetchOptions): Promise<void> {
  const flow = client as unknown as FlowInternals;
  const socket = flow.socket as Readable & { setTimeout?: (ms: number) => void };
  const streamer = flow.streamer!;
  // With COMPRESS=DEFLATE ImapFlow reads through an inflate stream piped from the socket.
  const source: Readable = flow._inflate || socket;
  const trace = options.trace;

  return new Promise<void>((resolve, reject) => {
    // Parser state
    let lineParts: Buffer[] = [];
    let lineLength = 0;
    let literalRemaining = 0;
    // 'body': a small body whose bytes have not arrived yet (see onData).
    let literalTarget: PiecedBody | Readable | 'body' | 'forward' | null = null;
    let responseText = '';
    let responseRaw: Buffer[] = [];
    let responseRawBytes = 0;
    let responseBody: Buffer | PiecedBody | null = null;
    let responseStreamed = false;
    let tagged: { status: string; text: string } | null = null;

    // Delivery state
    let chain: Promise<void> = Promise.resolve();
    let queuedBytes = 0;
    let consumerError: unknown;
    let lost: FetchConnectionLost | null = null;
    let activeStream: Readable | null = null;
    const forwarded: Buffer[] = [];
    let forwardedBytes = 0;
    const pauses = new Set<string>();
    let lastData = Date.now();
    let settled = false;

    const pause = (reason: string) => {
      pauses.add(reason);
      source.pause();
    };
    const unpause = (reason: string) => {
      if (!pauses.delete(reason)) return;
      if (pauses.size === 0 && !settled) source.resume();
    };

    const deliver = (item: Delivery) => {
      queuedBytes += item.bytes;
      if (queuedBytes > options.readAheadBytes) pause('read-ahead');
      chain = chain.then(async () => {
        try {
          if (consumerError === undefined && !lost) await options.onMessage(item.uid, item.source);
        } catch (error) {
          consumerError ??= error;
        } finally {
          queuedBytes -= item.bytes;
          if (queuedBytes <= options.readAheadBytes / 2) unpause('read-ahead');
          if (item.source instanceof Readable && !item.source.readableEnded) {
            // The consumer gave up on (or skipped) the stream: discard the rest rather
            // than stall the socket behind a buffer nobody reads.
            item.source.resume();
            unpause('stream');
          }
        }
      });
    };

    const newStream = (uid: number, size: number): Readable => {
      const stream = new Readable({
        highWaterMark: 1024 * 1024,
        read: () => unpause('stream'),
      });
      activeStream = stream;
      deliver({ uid, source: stream, bytes: 0 });
      trace?.(`S: (streaming ${size} bytes of UID ${uid})`);
      return stream;
    };

    const finishResponse = () => {
      const text = responseText;
      if (FETCH_START.test(text) && (responseBody || responseStreamed)) {
        if (responseBody) {
          const uid = options.singleUid ?? Number(UID_ITEM.exec(text)?.[1] ?? Number.NaN);
          if (!Number.isInteger(uid) || uid <= 0) {
            fail(new FetchRejected('BAD', `FETCH response without a UID: ${text.slice(0, 200)}`));
            return;
          }
          if (Buffer.isBuffer(responseBody))
            deliver({ uid, source: responseBody, bytes: responseBody.length });
          else deliver({ uid, source: responseBody.pieces, bytes: responseBody.size });
        }
        trace?.(`S: ${text}`);
      } else if (
        options.metadata &&
        responseRawBytes > 0 &&
        FETCH_START.test(text) &&
        options.metadata.onFetchLine(text)
      ) {
        trace?.(`S: ${text}`);
      } else if (options.tag && text.startsWith(`${options.tag} `)) {
        const match = /^\S+ (OK|NO|BAD)\b ?(.*)$/i.exec(text);
        tagged = { status: (match?.[1] ?? 'BAD').toUpperCase(), text: match?.[2] ?? text };
        trace?.(`S: ${text}`);
      } else if (/^\* BYE\b/i.test(text)) {
        trace?.(`S: ${text}`);
        fail(new FetchConnectionLost(`server closed the connection: ${text.slice(6).trim()}`));
        return;
      } else if (responseRawBytes > 0 && forwardedBytes + responseRawBytes <= MAX_FORWARDED) {
        // Unsolicited (EXISTS, EXPUNGE, FETCH FLAGS, ...): ImapFlow gets them afterwards.
        forwarded.push(...responseRaw);
        forwardedBytes += responseRawBytes;
      }
      responseText = '';
      responseRaw = [];
      responseRawBytes = 0;
      responseBody = null;
      responseStreamed = false;
    };

    const onLine = (raw: Buffer) => {
      let end = raw.length - 1;
      if (end > 0 && raw[end - 1] === 0x0d) end--;
      const line = raw.toString('latin1', 0, end);
      responseText += line;
      const marker = LITERAL_MARKER.exec(line);
      if (!marker) {
        if (responseBody === null && !responseStreamed) {
          responseRaw.push(raw);
          responseRawBytes += raw.length;
        }
        finishResponse();
        return;
      }
      const size = Number(marker[1]);
      literalRemaining = size;
      if (FETCH_START.test(responseText) && BODY_LITERAL.test(line)) {
        const uid = options.singleUid ?? Number(UID_ITEM.exec(responseText)?.[1] ?? Number.NaN);
        if (size >= options.streamThreshold && Number.isInteger(uid) && uid > 0) {
          literalTarget = newStream(uid, size);
          responseStreamed = true;
        } else if (size > options.maxBufferedBody) {
          fail(new FetchRejected('BAD', `a ${size}-byte body arrived before its UID; refusing to buffer it`));
          return;
        } else {
          // Allocated once its first bytes arrive: a body inside one socket chunk needs none.
          responseBody = NO_BYTES_YET;
          literalTarget = 'body';
        }
      } else {
        responseRaw.push(raw);
        responseRawBytes += raw.length + size;
        literalTarget = 'forward';
      }
      if (size === 0) endLiteral();
    };

    const endLiteral = () => {
      if (literalTarget instanceof Readable) {
        if (!literalTarget.destroyed) literalTarget.push(null);
        activeStream = null;
        unpause('stream');
      }
      literalTarget = null;
    };

    const onData = (chunk: Buffer) => {
      lastData = Date.now();
      if (tagged) {
        // After our tagged reply everything belongs to ImapFlow again.
        if (!lost) forwarded.push(chunk);
        return;
      }
      if (settled) return;
      let pos = 0;
      while (pos < chunk.length && !settled) {
        if (literalRemaining > 0) {
          const take = Math.min(literalRemaining, chunk.length - pos);
          const piece = chunk.subarray(pos, pos + take);
          const target = literalTarget;
          if (target === 'body') {
            if (take === literalRemaining) {
              // The whole body is in this one socket chunk: keep a view of it instead
              // of copying (most small messages; the copy was ~8% of the fetch's CPU).
              responseBody = piece;
            } else {
              // It spans chunks: keep views of each. Copying into one buffer of the
              // announced size allocated as much again as the socket reads did, and
              // those copies, held through their puts, set the poller's peak memory.
              const pieced: PiecedBody = { pieces: [piece], size: literalRemaining };
              responseBody = pieced;
              literalTarget = pieced;
            }
          } else if (target instanceof Readable) {
            if (!target.destroyed && !target.push(piece)) pause('stream');
          } else if (target === 'forward') {
            responseRaw.push(piece);
          } else if (target !== null) {
            target.pieces.push(piece);
          }
          literalRemaining -= take;
          pos += take;
          if (literalRemaining === 0) endLiteral();
          continue;
        }
        if (tagged) {
          forwarded.push(chunk.subarray(pos));
          break;
        }
        const newline = chunk.indexOf(LF, pos);
        if (newline < 0) {
          lineParts.push(chunk.subarray(pos));
          lineLength += chunk.length - pos;
          if (lineLength > MAX_LINE)
            fail(new FetchRejected('BAD', `response line longer than ${MAX_LINE} bytes`));
          break;
        }
        const piece = chunk.subarray(pos, newline + 1);
        const raw = lineParts.length === 0 ? piece : Buffer.concat([...lineParts, piece]);
        lineParts = [];
        lineLength = 0;
        pos = newline + 1;
        onLine(raw);
      }
      if (tagged && !settled) finish();
    };

    const onClose = () => fail(new FetchConnectionLost('connection closed during FETCH'));
    const onError = (error: Error) =>
      fail(new FetchConnectionLost(`connection failed during FETCH: ${error.message}`));
    const watchdog = setInterval(
      () => {
        if (pauses.size === 0 && Date.now() - lastData > options.idleTimeoutMs) {
          fail(
            new FetchConnectionLost(
              `no data from the server for ${Math.round(options.idleTimeoutMs / 1000)} s during FETCH`,
            ),
          );
        }
      },
      Math.min(1000, options.idleTimeoutMs),
    );
    watchdog.unref();

    const detach = () => {
      clearInterval(watchdog);
      source.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('end', onClose);
      socket.removeListener('error', onError);
    };

    /** Gives the socket back to ImapFlow: unsolicited responses first, then the pipe. */
    const restore = () => {
      detach();
      for (const buffer of forwarded) streamer.write(buffer);
      forwarded.length = 0;
      source.pipe(streamer);
      if (typeof flow.armSocketTimeout === 'function') flow.armSocketTimeout(socket);
      else socket.setTimeout?.(flow.socketTimeout ?? 300_000);
    };

    const finish = () => {
      settled = true;
      pauses.clear();
      chain.then(() => {
        if (lost) {
          reject(lost);
          return;
        }
        restore();
        if (consumerError !== undefined) reject(consumerError);
        else if (tagged && tagged.status !== 'OK') reject(new FetchRejected(tagged.status, tagged.text));
        else resolve();
      });
    };

    function fail(error: FetchConnectionLost | FetchRejected): void {
      if (settled) return;
      settled = true;
      detach();
      if (error instanceof FetchConnectionLost) lost = error;
      activeStream?.destroy(error);
      // The session is out of step with the server now (or gone): close it, so
      // nothing else is sent on it, and report after the consumer let go.
      if (error instanceof FetchRejected) (client as unknown as { close?: () => void }).close?.();
      chain.then(() => reject(error));
    }

    // Borrow: stop feeding ImapFlow's parser, read ourselves. ImapFlow's own
    // listeners for close/error stay in place, so it notices a dropped connection too.
    source.unpipe(streamer);
    socket.setTimeout?.(0);
    source.on('data', onData);
    socket.once('close', onClose);
    socket.once('end', onClose);
    socket.once('error', onError);
    const command = `${options.tag} UID FETCH ${options.uidSet} (${options.metadata?.items ?? 'UID BODY.PEEK[]'})`;
    trace?.(`C: ${command}`);
    try {
      flow.write!(command);
    } catch (error) {
      fail(new FetchConnectionLost(`cannot send FETCH: ${(error as Error).message}`));
      return;
    }
    source.resume();
  });
}

const META_UID = /[( ]UID (\d+)/i;
const META_SIZE = /[( ]RFC822\.SIZE (\d+)/i;
const META_INTERNALDATE =
  /[( ]INTERNALDATE "([ \d]\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"/i;
const META_FLAGS = /[( ]FLAGS \(([^)]*)\)/i;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * Reads `* n FETCH (UID u RFC822.SIZE s INTERNALDATE "d" FLAGS (f...))`, the
 * items in any order. Undefined unless all four are there (an unsolicited
 * FLAGS update is not metadata).
 */
export function parseMetadataLine(
  text: string,
): { uid: number; size: number; internalDate: Date; flags: string[] } | undefined {
  const uid = META_UID.exec(text);
  const size = META_SIZE.exec(text);
  const date = META_INTERNALDATE.exec(text);
  const flags = META_FLAGS.exec(text);
  if (!uid || !size || !date || !flags) return undefined;
  const month = MONTHS.indexOf(date[2]!.toLowerCase());
  if (month < 0) return undefined;
  // RFC 3501 date-time: local time plus zone; the instant is local minus the offset.
  const offsetMinutes = (date[7] === '-' ? -1 : 1) * (Number(date[8]) * 60 + Number(date[9]));
  const utc =
    Date.UTC(Number(date[3]), month, Number(date[1]), Number(date[4]), Number(date[5]), Number(date[6])) -
    offsetMinutes * 60_000;
  return {
    uid: Number(uid[1]),
    size: Number(size[1]),
    internalDate: new Date(utc),
    flags: flags[1]!.split(' ').filter(Boolean),
  };
}
