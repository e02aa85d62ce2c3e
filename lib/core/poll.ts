import { type MailboxSettings, mailboxSettings } from '../config/mailbox-settings.ts';
import type { AccountConfig, IngestConfig, StartPolicy } from '../config/schema.ts';
import { describeError, isPostroomError, PostroomError } from '../errors.ts';
import {
  type BlobStore,
  type Checkpoint,
  type CheckpointStore,
  type DeliveryLog,
  type EventSink,
  type IdempotencyStore,
  type LeaseStore,
  type Logger,
  type MailboxState,
  type MailServer,
  type OpenSession,
  type Queue,
  silentLogger,
} from '../ports.ts';
import { pollChanges } from './changes.ts';
import { skipGmailIngested } from './gmail-dedupe.ts';
import { commitBatch, planBatches, putBatch } from './ingest-batch.ts';
import { messageFingerprint, pollLeaseName } from './keys.ts';
import { keepLease, LEASE_MS, leaseHolder } from './poll-lease.ts';
import { notePoll } from './poll-record.ts';

export interface PollDependencies {
  /** Opens an authenticated session for the account (LOGIN done, capabilities read). */
  openSession: OpenSession;
  blobs: BlobStore;
  queue: Queue;
  checkpoints: CheckpointStore;
  leases: LeaseStore;
  deliveries: DeliveryLog;
  logger?: Logger;
  /** Identifies this poller in leases (e.g. the Lambda request id or host:pid). */
  ownerId: string;
  /** @default Date.now */
  now?: () => number;
  /** For change events (`changes: true` mailboxes). */
  events?: EventSink;
  idempotency?: IdempotencyStore;
}

export interface PollProgress {
  account: string;
  mailbox: string;
  /** Messages stored and queued so far in this mailbox. */
  fetched: number;
  /** Messages this poll set out to fetch in this mailbox. */
  total: number;
  bytes: number;
}

export interface PollOptions {
  account: AccountConfig;
  /** Only these logical mailbox names (default: every mailbox of the account). */
  mailboxes?: string[];
  ingest: IngestConfig;
  /** Stop starting new batches after this time (epoch ms), e.g. a Lambda's deadline minus a margin. */
  deadline?: number;
  /**
   * Epoch ms by which the IMAP session must have ended, whatever the server
   * does (the account's `limits.sessionSeconds` applies too): past it the
   * session is closed mid-command and the poll fails. Later than `deadline`,
   * so that a batch in flight can finish.
   */
  sessionDeadline?: number;
  /** Aborts between batches; the batch in flight is finished and checkpointed. */
  signal?: AbortSignal;
  onProgress?: (progress: PollProgress) => void;
}

export type MailboxOutcome = 'done' | 'partial' | 'locked' | 'failed';

export interface MailboxPollResult {
  account: string;
  mailbox: string;
  uidValidity?: number;
  /** Messages stored and queued by this poll. */
  fetched: number;
  /** The checkpoint's lastUid after this poll. */
  lastUid?: number;
  /** UIDNEXT − 1 − lastUid: how far this mailbox is behind, for the lag metric. */
  lag?: number;
  /** Messages skipped because a rescan recognised them as already delivered, or (Gmail) ingested through another label. */
  recognised: number;
  bytes: number;
  outcome: MailboxOutcome;
  /** Why the mailbox failed: one line with the server's answer, never a secret. */
  error?: { code: string; message: string };
  /** True when UIDVALIDITY changed since the last poll and the mailbox was rescanned. */
  rescanned?: boolean;
  /** With outcome `locked`: who holds the mailbox's lease and until when (ISO 8601), when the store can tell. */
  heldBy?: { owner: string; until: string };
  /**
   * The mailbox's first poll with `start: new`: the checkpoint was set after
   * `afterUid` (UIDNEXT − 1) and the `existing` messages there are not processed.
   */
  firstPoll?: { start: 'new'; afterUid: number; existing: number };
}

export interface PollResult {
  fetched: number;
  mailboxes: MailboxPollResult[];
}

/** Polls every (or the chosen) mailbox of one account over one IMAP session. */
export async function pollAccount(deps: PollDependencies, options: PollOptions): Promise<PollResult> {
  const logger = deps.logger ?? silentLogger;
  const { account } = options;
  const wanted = options.mailboxes;
  const settings = mailboxSettings(account).filter((m) => !wanted || wanted.includes(m.name));
  if (wanted) {
    for (const name of wanted) {
      if (!settings.some((m) => m.name === name)) {
        // A mailbox asked for by name but not in config is still polled, with the account's defaults.
        settings.push({ name, start: account.start, idle: account.idle });
      }
    }
  }

  // Connecting (TCP, LOGIN: most of an empty poll) overlaps with taking the
  // first mailbox's lease; the leases go back while the session logs out.
  const sessionReady = deps.openSession(
    account,
    options.sessionDeadline !== undefined ? { deadline: options.sessionDeadline } : undefined,
  );
  sessionReady.catch(() => {}); // awaited below; this only keeps it from counting as unhandled
  const results: MailboxPollResult[] = [];
  const releases: Promise<void>[] = [];
  try {
    for (const mailbox of settings) {
      if (options.signal?.aborted || pastDeadline(deps, options)) break;
      results.push(await pollMailbox(deps, options, sessionReady, mailbox, logger, releases));
    }
    // A connection failure is the account's failure, even when every mailbox was locked.
    await sessionReady;
  } catch (error) {
    const notReached = settings.slice(results.length).map((m) => m.name);
    await notePoll(deps, logger, account.id, notReached, error);
    throw error;
  } finally {
    const logout = sessionReady.then(
      (session) =>
        session.logout().catch((error: unknown) => {
          logger.debug('logout failed', { account: account.id, error: describeError(error).message });
        }),
      () => undefined,
    );
    await Promise.all([logout, ...releases]);
  }
  return { fetched: results.reduce((sum, r) => sum + r.fetched, 0), mailboxes: results };
}

/** Failures of one mailbox that leave the session usable for the others. */
const MAILBOX_FAILURES = new Set(['MAILBOX_NOT_FOUND', 'IMAP_PROTOCOL', 'CHANGES_UNSUPPORTED']);

async function pollMailbox(
  deps: PollDependencies,
  options: PollOptions,
  sessionReady: Promise<MailServer>,
  mailbox: MailboxSettings,
  logger: Logger,
  releases: Promise<void>[],
): Promise<MailboxPollResult> {
  const account = options.account.id;
  const result: MailboxPollResult = {
    account,
    mailbox: mailbox.name,
    fetched: 0,
    recognised: 0,
    bytes: 0,
    outcome: 'done',
  };
  // Read before anything is written: the checkpoint (alongside the login, for
  // the first mailbox) and EXAMINE's UIDNEXT. When UIDNEXT has not moved past
  // the checkpoint the poll ends here, with no lease and no write: an empty
  // poll costs the store one read.
  const seen = deps.checkpoints.get(account, mailbox.name);
  seen.catch(() => {}); // awaited below, after the session is ready
  const leaseName = pollLeaseName(account, mailbox.name);
  let leased = false;
  let heartbeat: { lost(): boolean; stop(): void } | undefined;
  try {
    const session = await sessionReady;
    const state = await session.examine(mailbox.name);
    result.uidValidity = state.uidValidity;
    const before = await seen;
    warnIfUidNextWentBack(logger, account, mailbox.name, before, state);
    // A mailbox with change events has work on every poll (flags change without
    // UIDNEXT moving), so it always takes the lease.
    if (!mailbox.changes && upToDate(before, state)) {
      finish(result, before, state);
      return result;
    }
    if (!(await deps.leases.acquire(leaseName, deps.ownerId, LEASE_MS))) {
      const heldBy = await leaseHolder(deps, leaseName, logger);
      logger.info('mailbox is being polled by another poller; skipped', {
        account,
        mailbox: mailbox.name,
        ...(heldBy ? { heldBy: heldBy.owner, until: heldBy.until } : {}),
      });
      const locked: MailboxPollResult = { ...result, outcome: 'locked', ...(heldBy ? { heldBy } : {}) };
      delete locked.uidValidity;
      return locked;
    }
    leased = true;
    heartbeat = keepLease(deps, leaseName, logger);
    // Under the lease, read again: another poller may have delivered this mail
    // between the first read and the lease. Only what is past this checkpoint is delivered.
    const previous = await deps.checkpoints.get(account, mailbox.name);
    if (mailbox.changes) await pollChanges(deps, options.account, session, mailbox.name, state, logger);
    if (upToDate(previous, state)) {
      finish(result, previous, state);
      return result;
    }
    const lease = heartbeat;
    await ingestMailbox(deps, options, session, mailbox, state, previous, result, logger, async () => {
      if (lease.lost() || !(await deps.leases.renew(leaseName, deps.ownerId, LEASE_MS))) {
        throw new PostroomError('LEASE_LOST', `lease on ${account}/${mailbox.name} was lost`, {
          retryable: true,
        });
      }
    });
  } catch (error) {
    // A connection-level failure ends the whole session; a mailbox-level one
    // (a mailbox that does not exist, a server breaking UID rules in this
    // mailbox) is reported and the others go on.
    if (isPostroomError(error) && MAILBOX_FAILURES.has(error.code)) {
      result.outcome = 'failed';
      result.error = describeError(error);
      // Reported in the result (the CLI prints it, the Lambda logs it); not logged twice.
      logger.debug('mailbox failed', { account, mailbox: mailbox.name, ...result.error });
      await notePoll(deps, logger, account, [mailbox.name], error);
      return result;
    }
    throw error;
  } finally {
    heartbeat?.stop();
    if (leased) {
      // Started now, awaited by pollAccount (alongside LOGOUT): the mailbox is done with.
      releases.push(
        deps.leases.release(leaseName, deps.ownerId).catch((error: unknown) => {
          logger.warn('could not release lease; it will expire', {
            lease: leaseName,
            ...describeError(error),
          });
        }),
      );
    }
  }
  await notePoll(deps, logger, account, [mailbox.name]);
  return result;
}

/**
 * True when the mailbox holds nothing past the checkpoint: same UIDVALIDITY and
 * UIDNEXT not beyond `lastUid + 1`. No SEARCH, FETCH, lease or write follows.
 */
function upToDate(checkpoint: Checkpoint | undefined, state: MailboxState): boolean {
  return (
    checkpoint !== undefined &&
    checkpoint.uidValidity === state.uidValidity &&
    state.uidNext <= checkpoint.lastUid + 1
  );
}

function warnIfUidNextWentBack(
  logger: Logger,
  account: string,
  mailbox: string,
  checkpoint: Checkpoint | undefined,
  state: MailboxState,
): void {
  if (checkpoint && checkpoint.uidValidity === state.uidValidity && state.uidNext <= checkpoint.lastUid) {
    // UIDs only grow within one UIDVALIDITY (RFC 3501 2.3.1.1): a server whose
    // UIDNEXT went back may reuse UIDs. The checkpoint stays; say so.
    logger.warn('UIDNEXT is below the checkpoint with the same UIDVALIDITY; the server broke UID rules', {
      account,
      mailbox,
      uidNext: state.uidNext,
      lastUid: checkpoint.lastUid,
    });
  }
}

async function ingestMailbox(
  deps: PollDependencies,
  options: PollOptions,
  session: MailServer,
  mailbox: MailboxSettings,
  state: MailboxState,
  previous: Checkpoint | undefined,
  result: MailboxPollResult,
  logger: Logger,
  renewLease: () => Promise<void>,
): Promise<void> {
  const account = options.account.id;
  const log = { account, mailbox: mailbox.name };

  let checkpoint = previous;
  let uids: number[];
  let rescan = false;

  if (previous && previous.uidValidity === state.uidValidity) {
    // UIDNEXT moved past the checkpoint (upToDate said so): SEARCH for what is new.
    uids = state.exists === 0 ? [] : await session.searchNewerThan(previous.lastUid);
  } else if (previous) {
    // Every stored UID is void (RFC 3501 2.3.1.1): rescan, recognising what was delivered.
    logger.warn('UIDVALIDITY changed; rescanning the mailbox', {
      ...log,
      previousUidValidity: previous.uidValidity,
      uidValidity: state.uidValidity,
    });
    rescan = true;
    result.rescanned = true;
    uids =
      state.exists === 0 ? [] : await firstPollUids(session, mailbox.start === 'new' ? 'all' : mailbox.start);
  } else {
    if (mailbox.start === 'new') {
      // First poll with `start: new`: remember where the mailbox is now and deliver nothing old.
      checkpoint = await advance(deps, account, mailbox.name, state, state.uidNext - 1, undefined);
      result.firstPoll = { start: 'new', afterUid: state.uidNext - 1, existing: state.exists };
      finish(result, checkpoint, state);
      return;
    }
    uids = state.exists === 0 ? [] : await firstPollUids(session, mailbox.start);
  }

  const floor = checkpoint && !rescan ? checkpoint.lastUid : 0;
  uids = uids.filter((uid) => uid > floor && Number.isSafeInteger(uid)).sort((a, b) => a - b);
  let total = uids.length;
  options.onProgress?.({ account, mailbox: mailbox.name, fetched: 0, total, bytes: 0 });
  let completed = true;

  // A rescan recognises delivered messages by Message-ID before fetching any body.
  const metaFields = rescan ? { messageId: true } : {};
  // Batch N is made durable, queued and checkpointed while batch N+1 is
  // fetched: the disk and the network work at the same time. Commits still
  // happen one after another, in UID order, each only after its blobs are on
  // disk, so the checkpoint never passes a message that is not queued.
  let committing: Promise<void> | undefined;
  let first = true;
  const commitAfter = (previous: Promise<void> | undefined, work: () => Promise<void>) => {
    const next = (previous ?? Promise.resolve()).then(work);
    next.catch(() => {}); // awaited before the next commit and at the end; not unhandled meanwhile
    return next;
  };
  try {
    for await (const batch of planBatches(session, uids, options.ingest, metaFields)) {
      if (options.signal?.aborted || pastDeadline(deps, options)) {
        completed = false;
        break;
      }
      let metas = batch;
      if (rescan) {
        // What the previous batch delivered must be on record before this one is recognised.
        await committing;
        const fingerprints = metas.map((m) => messageFingerprint(m));
        const known = await deps.deliveries.findDelivered(account, mailbox.name, fingerprints);
        metas = metas.filter((_, i) => !known.has(fingerprints[i]!));
        result.recognised += batch.length - metas.length;
        total -= batch.length - metas.length;
      }
      const unseen = await skipGmailIngested(deps.deliveries, account, metas);
      result.recognised += metas.length - unseen.length;
      total -= metas.length - unseen.length;
      metas = unseen;
      const batchLastUid = batch[batch.length - 1]!.uid;
      const queued =
        metas.length > 0 ? await putBatch(deps, options, session, state, mailbox.name, metas) : [];
      // A failed commit (a lost lease, a store error) ends the poll before the next one.
      await committing;
      const renew = !first;
      first = false;
      committing = commitAfter(committing, async () => {
        // Before each further batch's commit, not after each: a poll of one batch (most polls) renews nothing.
        if (renew) await renewLease();
        await commitBatch(deps, account, mailbox.name, queued);
        result.fetched += queued.length;
        result.bytes += queued.reduce((sum, m) => sum + m.size, 0);
        checkpoint = await advance(deps, account, mailbox.name, state, batchLastUid, checkpoint);
        options.onProgress?.({
          account,
          mailbox: mailbox.name,
          fetched: result.fetched,
          total,
          bytes: result.bytes,
        });
      });
    }
    await committing;
  } finally {
    // Whatever ended the loop, the batch being committed finishes (or fails)
    // before the lease goes back; the loop's own error is the one reported.
    await committing?.catch(() => {});
  }

  if (completed) {
    // Everything below UIDNEXT (as EXAMINE saw it) has been searched; the gaps are expunged messages.
    const sameEra = checkpoint?.uidValidity === state.uidValidity;
    const lastUid = Math.max(sameEra ? checkpoint!.lastUid : 0, state.uidNext - 1);
    if (!sameEra || checkpoint!.lastUid !== lastUid || checkpoint!.uidNext !== state.uidNext) {
      checkpoint = await advance(deps, account, mailbox.name, state, lastUid, checkpoint);
    }
  }
  result.outcome = completed ? 'done' : 'partial';
  finish(result, checkpoint, state);
  if (result.fetched > 0 || !completed) {
    logger.info('mailbox polled', {
      ...log,
      fetched: result.fetched,
      bytes: result.bytes,
      lastUid: result.lastUid,
      outcome: result.outcome,
    });
  }
}

function finish(result: MailboxPollResult, checkpoint: Checkpoint | undefined, state: MailboxState): void {
  result.lastUid = checkpoint?.lastUid ?? 0;
  result.lag = Math.max(0, state.uidNext - 1 - result.lastUid);
}

/** The UIDs a first poll (or a rescan) looks at, by the mailbox's `start` policy. */
async function firstPollUids(
  session: MailServer,
  start: Exclude<StartPolicy, 'new'> | StartPolicy,
): Promise<number[]> {
  if (start === 'all' || start === 'new') return session.searchNewerThan(0);
  return session.searchSince(new Date(start));
}

async function advance(
  deps: PollDependencies,
  account: string,
  mailbox: string,
  state: MailboxState,
  lastUid: number,
  previous: Checkpoint | undefined,
): Promise<Checkpoint> {
  const next: Checkpoint = {
    uidValidity: state.uidValidity,
    lastUid: Math.max(0, lastUid),
    uidNext: state.uidNext,
    ...(state.highestModSeq ? { highestModSeq: state.highestModSeq } : {}),
  };
  await deps.checkpoints.advance(account, mailbox, next, previous);
  return next;
}

function pastDeadline(deps: PollDependencies, options: PollOptions): boolean {
  return options.deadline !== undefined && (deps.now ?? Date.now)() >= options.deadline;
}
