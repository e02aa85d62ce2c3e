/**
 * Polls a group of accounts at once: what one poll Lambda invocation serves,
 * and what `postroom poll` / `postroom run` do locally. Each account is
 * `pollAccount` on its own session; at most `concurrency` run together, none
 * starts past the deadline, and one account failing (auth, network, TLS) is
 * recorded as one line and never stops the others.
 */
import type { AccountConfig } from '../config/schema.ts';
import { describeError } from '../errors.ts';
import { forEachLimited } from '../work-pool.ts';
import {
  type MailboxPollResult,
  type PollDependencies,
  type PollOptions,
  type PollResult,
  pollAccount,
} from './poll.ts';

/** Accounts polled at once when nothing else is configured. */
export const DEFAULT_POLL_CONCURRENCY = 16;

export interface FleetPollOptions extends Omit<PollOptions, 'account'> {
  accounts: readonly AccountConfig[];
  /** At most this many accounts are polled at once. @default 16 */
  concurrency?: number;
  /** Told as each account finishes, in completion order (for progress and per-account log lines). */
  onAccountDone?: (outcome: AccountPollOutcome) => void;
}

/** One account's part of a fleet poll: its result, or why it failed as a whole. */
export type AccountPollOutcome =
  | { account: string; ok: true; result: PollResult }
  | { account: string; ok: false; error: { code: string; message: string } };

export interface FleetPollResult extends PollResult {
  /** Accounts that failed as a whole (connection, login): one line each, never a secret. */
  failures: { account: string; code: string; message: string }[];
  /** Accounts not started because the deadline came or the poll was aborted; the next run polls them. */
  notStarted: string[];
}

export async function pollAccounts(
  deps: PollDependencies,
  options: FleetPollOptions,
): Promise<FleetPollResult> {
  const { accounts, concurrency = DEFAULT_POLL_CONCURRENCY, onAccountDone, ...single } = options;
  const now = deps.now ?? Date.now;
  const outcomes = new Map<string, AccountPollOutcome>();
  const notStarted: string[] = [];
  await forEachLimited(accounts, concurrency, async (account) => {
    if (options.signal?.aborted || (options.deadline !== undefined && now() >= options.deadline)) {
      notStarted.push(account.id);
      return;
    }
    let outcome: AccountPollOutcome;
    try {
      outcome = { account: account.id, ok: true, result: await pollAccount(deps, { ...single, account }) };
    } catch (error) {
      outcome = { account: account.id, ok: false, error: describeError(error) };
    }
    outcomes.set(account.id, outcome);
    onAccountDone?.(outcome);
  });
  // Reported in config order, whatever order the accounts finished in.
  const mailboxes: MailboxPollResult[] = [];
  const failures: FleetPollResult['failures'] = [];
  let fetched = 0;
  for (const account of accounts) {
    const outcome = outcomes.get(account.id);
    if (!outcome) continue;
    if (outcome.ok) {
      fetched += outcome.result.fetched;
      mailboxes.push(...outcome.result.mailboxes);
    } else {
      failures.push({ account: account.id, ...outcome.error });
    }
  }
  return {
    fetched,
    mailboxes,
    failures,
    notStarted: accounts.map((a) => a.id).filter((id) => notStarted.includes(id)),
  };
}
