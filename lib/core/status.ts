/**
 * The status use case behind `postroom status`: per account and mailbox, how
 * the last polls went, how far behind the mailbox is (on the server and in
 * the queue), the checkpoint, the poll lease, and the queue's depth.
 *
 * The server's side of the lag is one EXAMINE (and, when UIDNEXT moved, one
 * `UID SEARCH`) per mailbox over one session per account, bounded by a
 * timeout: a server that does not answer costs the report that figure, not
 * its other figures.
 *
 * Written against the ports only.
 */
import { type MailboxSettings, mailboxSettings } from '../config/mailbox-settings.ts';
import type { AccountConfig } from '../config/schema.ts';
import { describeError, PostroomError } from '../errors.ts';
import type {
  CheckpointStore,
  LeaseStore,
  MailServer,
  OpenSession,
  QueueDepth,
  QueueInspector,
} from '../ports.ts';
import { pollLeaseName } from './keys.ts';

export interface StatusDependencies {
  accounts: readonly AccountConfig[];
  checkpoints: CheckpointStore;
  leases: LeaseStore;
  queueInspector?: QueueInspector;
  /** Absent: the server is not asked (no server lag). */
  openSession?: OpenSession;
  /** @default Date.now */
  now?: () => number;
}

export interface StatusOptions {
  /** How long the server may take, per account, connecting included. @default 10000 */
  serverTimeoutMs?: number;
}

/** `postroom status --json`: a contract (documented in the command's help and the README). */
export interface StatusReport {
  generatedAt: string;
  /** The queue's depth, or why it could not be read. */
  queue: { queued: number; inFlight: number; deadLetters: number; note?: string } | { error: string };
  accounts: { id: string; mailboxes: MailboxStatus[] }[];
}

export interface MailboxStatus {
  account: string;
  mailbox: string;
  /** The last poll that finished without an error. */
  lastPoll: { at: string; ageSeconds: number } | null;
  /** The last poll that failed (it may be older than `lastPoll`). */
  lastError: { at: string; message: string } | null;
  checkpoint: { uidValidity: number; lastUid: number; uidNext: number } | null;
  /** Who is polling the mailbox now, and until when unless renewed. */
  lease: { owner: string; until: string } | null;
  lag: {
    /** Messages on the server newer than the checkpoint; null when not known (see serverError). */
    server: number | null;
    serverError?: string;
    /** Said alongside `server` when it needs explaining (never polled, UIDVALIDITY changed). */
    serverNote?: string;
    /** Queued (or being processed) and not processed yet; null where the queue cannot count per mailbox (SQS). */
    queued: number | null;
  };
  /** Dead letters of this mailbox; null where the store cannot count per mailbox (SQS). */
  deadLetters: number | null;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** `lag.serverNote` when the servers were not asked. */
export const NOT_ASKED = 'server not asked (--no-server)';

export async function readStatus(
  deps: StatusDependencies,
  options: StatusOptions = {},
): Promise<StatusReport> {
  const now = (deps.now ?? Date.now)();
  const depth = await readDepth(deps.queueInspector);
  // Accounts side by side: a server that does not answer costs its timeout once, not once per account.
  const accounts = await Promise.all(
    deps.accounts.map(async (account) => {
      const settings = mailboxSettings(account);
      const rows = await Promise.all(settings.map((m) => storedStatus(deps, account.id, m, now, depth)));
      if (deps.openSession) {
        await serverLag(deps.openSession, account, rows, options.serverTimeoutMs ?? DEFAULT_TIMEOUT_MS);
      } else {
        for (const row of rows) row.lag.serverNote = NOT_ASKED;
      }
      return { id: account.id, mailboxes: rows };
    }),
  );
  return {
    generatedAt: new Date(now).toISOString(),
    queue:
      'error' in depth
        ? { error: depth.error }
        : {
            queued: depth.queued,
            inFlight: depth.inFlight,
            deadLetters: depth.deadLetters,
            ...(depth.note ? { note: depth.note } : {}),
          },
    accounts,
  };
}

async function readDepth(inspector: QueueInspector | undefined): Promise<QueueDepth | { error: string }> {
  if (!inspector) return { error: 'this store cannot report its queue' };
  try {
    return await inspector.depth();
  } catch (error) {
    return { error: describeError(error).message };
  }
}

async function storedStatus(
  deps: StatusDependencies,
  account: string,
  mailbox: MailboxSettings,
  now: number,
  depth: QueueDepth | { error: string },
): Promise<MailboxStatus> {
  const [checkpoint, record, holder] = await Promise.all([
    deps.checkpoints.get(account, mailbox.name),
    deps.checkpoints.pollRecord?.(account, mailbox.name),
    deps.leases.holder?.(pollLeaseName(account, mailbox.name)),
  ]);
  const counts = 'byMailbox' in depth ? depth.byMailbox : undefined;
  const mine = counts?.get(`${account}\0${mailbox.name}`);
  return {
    account,
    mailbox: mailbox.name,
    lastPoll: record?.lastSuccessAt
      ? {
          at: record.lastSuccessAt,
          ageSeconds: Math.max(0, Math.round((now - Date.parse(record.lastSuccessAt)) / 1000)),
        }
      : null,
    lastError:
      record?.lastErrorAt && record.lastError ? { at: record.lastErrorAt, message: record.lastError } : null,
    checkpoint: checkpoint
      ? { uidValidity: checkpoint.uidValidity, lastUid: checkpoint.lastUid, uidNext: checkpoint.uidNext }
      : null,
    lease: holder ? { owner: holder.owner, until: new Date(holder.expiresAt).toISOString() } : null,
    lag: { server: null, queued: counts ? (mine ? mine.queued + mine.inFlight : 0) : null },
    deadLetters: counts ? (mine?.deadLetters ?? 0) : null,
  };
}

/** Fills in `lag.server` (or `lag.serverError`) for one account's mailboxes. */
async function serverLag(
  openSession: OpenSession,
  account: AccountConfig,
  rows: MailboxStatus[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new PostroomError('STATUS_TIMEOUT', `no answer within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
  });
  const sessionReady = openSession(account, { deadline });
  try {
    const session = await Promise.race([sessionReady, timedOut]);
    await Promise.race([examineAll(session, rows), timedOut]);
  } catch (error) {
    const reason = `server not reached: ${describeError(error).message}`;
    for (const row of rows) if (row.lag.server === null && !row.lag.serverError) row.lag.serverError = reason;
  } finally {
    clearTimeout(timer);
    // Logged out in the background: a session that answers late is closed when it does.
    sessionReady.then(
      (session) => session.logout().catch(() => {}),
      () => {},
    );
  }
}

async function examineAll(session: MailServer, rows: MailboxStatus[]): Promise<void> {
  for (const row of rows) {
    try {
      const state = await session.examine(row.mailbox);
      const checkpoint = row.checkpoint;
      if (!checkpoint) {
        row.lag.server = state.exists;
        row.lag.serverNote = 'never polled: the first poll follows the mailbox start policy';
      } else if (checkpoint.uidValidity !== state.uidValidity) {
        row.lag.server = state.exists;
        row.lag.serverNote = `UIDVALIDITY is now ${state.uidValidity}: the next poll rescans the mailbox`;
      } else if (state.exists === 0 || state.uidNext <= checkpoint.lastUid + 1) {
        row.lag.server = 0;
      } else {
        row.lag.server = (await session.searchNewerThan(checkpoint.lastUid)).length;
      }
    } catch (error) {
      // A mailbox the server lacks leaves the session usable for the others.
      row.lag.serverError = describeError(error).message;
    }
  }
}
