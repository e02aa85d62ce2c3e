/**
 * Change events of mail already delivered, for mailboxes with `changes: true`:
 * `message.flags-changed` (old and new flags) and `message.expunged`.
 *
 * The poller keeps, per mailbox and UIDVALIDITY, the last known flags of every
 * message and the HIGHESTMODSEQ they were read at (a JSON blob under
 * `state/changes/`). Each poll whose HIGHESTMODSEQ moved asks for the flags
 * changed since (CONDSTORE `CHANGEDSINCE`) and which known UIDs still exist
 * (`UID SEARCH`, so no QRESYNC is needed), emits the differences, and only
 * then stores the new state: a crash in between repeats the same events with
 * the same ids, which the idempotency records (and locally the outbox) drop,
 * so each change is emitted once. The first poll only records the flags.
 */
import type { AccountConfig } from '../config/schema.ts';
import { isPostroomError, PostroomError } from '../errors.ts';
import type {
  BlobStore,
  EventSink,
  IdempotencyStore,
  Logger,
  MailboxState,
  MailServer,
  PostroomEvent,
} from '../ports.ts';
import { mailboxKeySegment } from './keys.ts';

export interface ChangesDependencies {
  blobs: BlobStore;
  events?: EventSink;
  idempotency?: IdempotencyStore;
  /** @default 14 days */
  idempotencyTtlSeconds?: number;
}

export interface ChangesResult {
  flagsChanged: number;
  expunged: number;
}

interface Snapshot {
  v: 1;
  modSeq: string;
  /** UID -> flags (no `\Recent`), as last seen. */
  flags: Record<string, string[]>;
}

export function changesStateKey(account: string, mailbox: string, uidValidity: number): string {
  return `state/changes/${account}/${mailboxKeySegment(mailbox)}/${uidValidity}.json`;
}

async function readSnapshot(blobs: BlobStore, key: string): Promise<Snapshot | undefined> {
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of await blobs.get(key)) chunks.push(Buffer.from(chunk as Buffer));
    const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Snapshot;
    return parsed.v === 1 && typeof parsed.modSeq === 'string' && typeof parsed.flags === 'object'
      ? parsed
      : undefined;
  } catch (error) {
    if (isPostroomError(error) && error.code === 'BLOB_NOT_FOUND') return undefined;
    throw error;
  }
}

function normalised(flags: readonly string[]): string[] {
  return [...new Set(flags.filter((f) => f.toLowerCase() !== '\\recent'))].sort();
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((f, i) => f === b[i]);
}

/** Refuses `changes: true` where the server cannot report changes, naming the account and mailbox. */
function assertSupported(
  account: AccountConfig,
  mailbox: string,
  session: MailServer,
  state: MailboxState,
): void {
  const caps = session.capabilities;
  if (!session.fetchFlagChanges || !(caps.has('CONDSTORE') || caps.has('QRESYNC')) || !state.highestModSeq) {
    throw new PostroomError(
      'CHANGES_UNSUPPORTED',
      `${account.id}/${mailbox}: changes: true needs CONDSTORE (RFC 7162) and mod-sequences for this mailbox, which ${account.host} does not offer; remove changes: true for it`,
      { context: { account: account.id, mailbox } },
    );
  }
}

/** Looks for flag changes and expunges in the open mailbox and emits them once. */
export async function pollChanges(
  deps: ChangesDependencies,
  account: AccountConfig,
  session: MailServer,
  mailbox: string,
  state: MailboxState,
  logger: Logger,
): Promise<ChangesResult> {
  assertSupported(account, mailbox, session, state);
  const { events: sink, idempotency } = deps;
  if (!sink || !idempotency) throw new Error('pollChanges needs an event sink and an idempotency store');
  const modSeq = state.highestModSeq!;
  const key = changesStateKey(account.id, mailbox, state.uidValidity);
  const snapshot = await readSnapshot(deps.blobs, key);
  const result: ChangesResult = { flagsChanged: 0, expunged: 0 };
  const save = (next: Snapshot) =>
    deps.blobs.put(key, Buffer.from(JSON.stringify(next)), { contentType: 'application/json' });

  if (!snapshot) {
    // First look at this mailbox (or this UIDVALIDITY): remember the flags, announce nothing.
    const uids = state.exists === 0 ? [] : await session.searchNewerThan(0);
    const metas = uids.length === 0 ? [] : await session.fetchMeta(uids);
    await save({ v: 1, modSeq, flags: Object.fromEntries(metas.map((m) => [m.uid, normalised(m.flags)])) });
    return result;
  }
  if (snapshot.modSeq === modSeq) return result;

  const base = { v: 1, account: account.id, mailbox, uidValidity: state.uidValidity };
  const idOf = (uid: number, what: string) =>
    `changes/${account.id}/${mailboxKeySegment(mailbox)}/${state.uidValidity}/${uid}#${what}`;
  const pending: { key: string; event: PostroomEvent }[] = [];
  for (const change of await session.fetchFlagChanges!(snapshot.modSeq)) {
    const flags = normalised(change.flags);
    const previous = snapshot.flags[change.uid];
    snapshot.flags[change.uid] = flags;
    if (previous === undefined || same(previous, flags)) continue; // new mail, or no visible change
    const id = idOf(change.uid, `flags#${change.modSeq ?? flags.join(' ')}`);
    pending.push({
      key: id,
      event: {
        source: 'postroom',
        'detail-type': 'message.flags-changed',
        detail: {
          id,
          ...base,
          uid: change.uid,
          flags,
          previousFlags: previous,
          added: flags.filter((f) => !previous.includes(f)),
          removed: previous.filter((f) => !flags.includes(f)),
          ...(change.modSeq ? { modSeq: change.modSeq } : {}),
        },
      },
    });
  }
  const known = Object.keys(snapshot.flags).map(Number);
  const existing = new Set(known.length === 0 ? [] : await session.existingUids(known));
  for (const uid of known) {
    if (existing.has(uid)) continue;
    const id = idOf(uid, 'expunged');
    pending.push({
      key: id,
      event: {
        source: 'postroom',
        'detail-type': 'message.expunged',
        detail: { id, ...base, uid, previousFlags: snapshot.flags[uid]! },
      },
    });
    delete snapshot.flags[uid];
  }

  const fresh: typeof pending = [];
  for (const entry of pending) if (!(await idempotency.isDone(entry.key))) fresh.push(entry);
  const ttl = deps.idempotencyTtlSeconds ?? 14 * 86_400;
  if (fresh.length > 0) {
    if (sink.emitRecorded) await sink.emitRecorded(fresh, ttl);
    else {
      await sink.emit(fresh.map((e) => e.event));
      for (const { key: done } of fresh) await idempotency.markDone(done, ttl);
    }
  }
  // Recorded before the state moves: a crash before this line repeats only recorded events, which are dropped.
  await save({ ...snapshot, modSeq });
  for (const { event } of fresh) {
    if (event['detail-type'] === 'message.expunged') result.expunged++;
    else result.flagsChanged++;
  }
  if (fresh.length > 0) logger.info('mailbox changes', { account: account.id, mailbox, ...result });
  return result;
}
