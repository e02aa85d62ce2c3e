/**
 * Message bodies (`BODY.PEEK[]`: never sets `\Seen`), handed to a sink one at
 * a time. Small messages go many per command, each large one in a command of
 * its own and streamed, so UID order is kept and memory stays bounded. Every
 * UID asked for is accounted for: one the server left out is fetched again
 * on its own through ImapFlow, and one that still exists without a body
 * fails the batch instead of being skipped.
 */
import { Transform } from 'node:stream';
import type { SourceSink } from '../../ports.ts';
import { imapError, oneLine } from '../errors.ts';
import { borrowSocket, sessionIdle } from '../flow-internals.ts';
import type { ImapSession } from '../session.ts';
import { isNzNumber, uidSets } from '../uid-sets.ts';
import {
  FetchConnectionLost,
  FetchRefused,
  FetchRejected,
  type RawFetchOptions,
  rawUidFetch,
} from './raw-fetch.ts';
import { existingUids } from './search.ts';

export async function fetchSources(
  session: ImapSession,
  uids: number[],
  sizes: ReadonlyMap<number, number>,
  sink: SourceSink,
): Promise<void> {
  const selected = session.requireSelected('UID FETCH');
  const { largeMessageBytes } = session.ctx.tuning;
  const sorted = [...new Set(uids.filter(isNzNumber))].sort((a, b) => a - b);
  const delivered = new Set<number>();
  const sinkErrors = new WeakSet<object>();
  const counted: SourceSink = async (uid, source) => {
    delivered.add(uid);
    try {
      await sink(uid, source);
    } catch (error) {
      if (error && typeof error === 'object') sinkErrors.add(error);
      throw error;
    }
  };
  const own = (error: unknown) => !!error && typeof error === 'object' && sinkErrors.has(error);
  // A UID without an announced size is fetched with the small ones, and bounded as a large one.
  const sizeOf = (uid: number) => sizes.get(uid) ?? largeMessageBytes;

  let run: number[] = [];
  const flush = async () => {
    for (const set of uidSets(run)) await fetchBodies(session, set, undefined, run, sizeOf, counted, own);
    run = [];
  };
  for (const uid of sorted) {
    if ((sizes.get(uid) ?? 0) >= largeMessageBytes) {
      await flush();
      await fetchBodies(session, String(uid), uid, [uid], sizeOf, counted, own);
    } else run.push(uid);
  }
  await flush();

  const missing = sorted.filter((uid) => !delivered.has(uid));
  for (const uid of missing) await downloadOne(session, uid, sizeOf(uid), counted, own);
  const gone = new Set(missing.filter((uid) => !delivered.has(uid)));
  if (gone.size === 0) return;
  // Left out because it was expunged meanwhile is fine; left out while it exists would lose it.
  const unanswered = await existingUids(session, [...gone]);
  if (unanswered.length > 0) {
    throw imapError(
      'IMAP_PROTOCOL',
      session.account,
      `the server returned no body for UID ${unanswered.slice(0, 5).join(', ')}${unanswered.length > 5 ? ` and ${unanswered.length - 5} more` : ''} in "${selected.logical}", though they exist; the batch was not stored`,
      { retryable: true, context: { mailbox: selected.logical } },
    );
  }
}

async function fetchBodies(
  session: ImapSession,
  set: string,
  singleUid: number | undefined,
  uids: number[],
  sizeOf: (uid: number) => number,
  sink: SourceSink,
  own: (error: unknown) => boolean,
): Promise<void> {
  const what = `UID FETCH ${set} (BODY.PEEK[])`;
  const inSet = singleUid !== undefined ? [singleUid] : uids.filter((uid) => setHas(set, uid));
  if (session.ctx.tuning.fetchEngine === 'auto' && sessionIdle(session.client)) {
    await fetchRaw(
      session,
      what,
      { uidSet: set, singleUid, expected: new Map(inSet.map((uid) => [uid, sizeOf(uid)])), onMessage: sink },
      own,
    );
    return;
  }
  // The portable path: ImapFlow's parser holds whole literals, so only bodies
  // within its literal limit go through the fetch iterator; the rest are
  // downloaded in parts of that size.
  const { maxLineBytes, bodySlackBytes } = session.ctx.limits;
  const fits = inSet.filter((uid) => sizeOf(uid) + bodySlackBytes <= maxLineBytes);
  for (const part of uidSets(fits)) {
    await session.run(
      `UID FETCH ${part} (BODY.PEEK[])`,
      async () => {
        for await (const message of session.client.fetch(part, { uid: true, source: true }, { uid: true })) {
          if (message.source && fits.includes(message.uid)) await sink(message.uid, message.source);
        }
      },
      own,
    );
  }
  for (const uid of inSet.filter((uid) => !fits.includes(uid)))
    await downloadOne(session, uid, sizeOf(uid), sink, own);
}

/** One body through ImapFlow's `download()`, in parts no larger than a literal may be. */
async function downloadOne(
  session: ImapSession,
  uid: number,
  announced: number,
  sink: SourceSink,
  own: (error: unknown) => boolean,
): Promise<void> {
  const { maxLineBytes, bodySlackBytes } = session.ctx.limits;
  await session.run(
    `UID FETCH ${uid} (BODY.PEEK[])`,
    async () => {
      const download = await session.client.download(String(uid), undefined, {
        uid: true,
        chunkSize: maxLineBytes,
      });
      if (!download?.content) return;
      const bounded = download.content.pipe(sizeGuard(session, uid, announced + bodySlackBytes));
      download.content.on('error', (error) => bounded.destroy(error));
      try {
        await sink(uid, bounded);
      } finally {
        if (!bounded.readableEnded) download.content.destroy();
      }
    },
    own,
  );
}

/** A pass-through that fails once more than `max` bytes came through. */
function sizeGuard(session: ImapSession, uid: number, max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen <= max) return done(null, chunk);
      const reason = `the body of UID ${uid} is larger than its RFC822.SIZE allows (${max} bytes with bodySlackBytes)`;
      done(
        session.markLost(
          imapError('IMAP_LIMIT', session.account, `${session.describe('UID FETCH')}: ${reason}`),
        ),
      );
    },
  });
}

type RawCall = Omit<
  RawFetchOptions,
  'tag' | 'bodySlackBytes' | 'maxLineBytes' | 'streamThreshold' | 'readAheadBytes' | 'onWarning' | 'trace'
>;

let rawTag = 0;

/** One FETCH on the borrowed socket, its failures mapped to what the session reports. */
export async function fetchRaw(
  session: ImapSession,
  what: string,
  call: RawCall,
  own: (error: unknown) => boolean = () => false,
): Promise<void> {
  const { limits, tuning, trace } = session.ctx;
  await session.run(
    what,
    async () => {
      try {
        await rawUidFetch(borrowSocket(session.client), {
          ...call,
          tag: `PR${++rawTag}`,
          bodySlackBytes: limits.bodySlackBytes,
          maxLineBytes: limits.maxLineBytes,
          streamThreshold: tuning.largeMessageBytes,
          readAheadBytes: tuning.readAheadBytes,
          onWarning: (message) => session.warn(`${session.describe(what)}: ${message}`),
          trace,
        });
      } catch (error) {
        // A connection that failed under the sink's stream fails the sink too: the connection's reason wins.
        throw mapRawFailure(session, session.describe(what), error);
      }
    },
    own,
  );
}

function mapRawFailure(session: ImapSession, what: string, error: unknown): unknown {
  if (error instanceof FetchConnectionLost) {
    return session.markLost(
      imapError('CONNECTION_LOST', session.account, `connection lost during ${what}: ${error.message}`, {
        cause: error,
        retryable: true,
      }),
    );
  }
  if (error instanceof FetchRefused) {
    // The server is out of step with what it announced: nothing more is read from it.
    return session.markLost(
      imapError('IMAP_LIMIT', session.account, `${what}: ${error.message}; the session was closed`, {
        cause: error,
        retryable: false,
      }),
    );
  }
  if (error instanceof FetchRejected) {
    return imapError(
      'COMMAND_FAILED',
      session.account,
      `${what} failed: ${error.status} ${oneLine(error.responseText)}`,
      {
        cause: error,
      },
    );
  }
  return error;
}

function setHas(set: string, uid: number): boolean {
  return set.split(',').some((range) => {
    const [from, to] = range.split(':').map(Number);
    return to === undefined ? uid === from : uid >= from! && uid <= to;
  });
}
