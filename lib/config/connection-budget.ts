/**
 * The connection budget of an account: which budget it shares (one per host
 * and user: two accounts for the same mailbox share one) and how many
 * sessions that budget allows. The defaults stay well under what providers
 * allow, leaving room for the user's own mail clients and for a server-side
 * connection that outlives its client (a Lambda reclaimed mid-session):
 * Gmail refuses past 15 simultaneous IMAP connections per account, Microsoft
 * 365 (Exchange Online) past about 20 per mailbox, and on-premises Exchange
 * defaults to 16 per user; Dovecot's `mail_max_userip_connections` defaults
 * to 10 per user and address, and smaller hosts (iCloud about 5) are lower.
 */
import { mailboxSettings } from './mailbox-settings.ts';
import type { AccountConfig } from './schema.ts';

export const DEFAULT_MAX_CONNECTIONS = { google: 10, microsoft: 8, other: 5 } as const;

const GOOGLE_HOST = /(^|\.)(gmail|googlemail)\.com$/i;
const MICROSOFT_HOST = /(^|\.)(office365\.com|outlook\.com|office\.com)$/i;

export interface ConnectionBudget {
  /** Names the budget: the user at the host (lower case). */
  key: string;
  limit: number;
}

export function connectionBudget(
  account: Pick<AccountConfig, 'host' | 'auth' | 'maxConnections'>,
): ConnectionBudget {
  const key = `${account.auth.user}@${account.host}`.toLowerCase();
  return { key, limit: account.maxConnections ?? DEFAULT_MAX_CONNECTIONS[providerOf(account)] };
}

function providerOf(account: Pick<AccountConfig, 'host' | 'auth'>): keyof typeof DEFAULT_MAX_CONNECTIONS {
  const preset = account.auth.oauth2?.provider;
  if (preset === 'google' || GOOGLE_HOST.test(account.host)) return 'google';
  if (preset === 'microsoft' || MICROSOFT_HOST.test(account.host)) return 'microsoft';
  return 'other';
}

/**
 * The process function's SQS `maxConcurrency` that fits every account's
 * budget: each concurrent processor may hold one session per account (pooled
 * between invocations too), and the account's poller one more. SQS allows no
 * fewer than 2; an account whose budget is smaller than 3 makes sessions wait
 * for a slot rather than exceed it.
 */
export function processorConcurrency(
  accounts: readonly Pick<AccountConfig, 'host' | 'auth' | 'maxConnections'>[],
  configured: number,
): number {
  const smallest = Math.min(...accounts.map((account) => connectionBudget(account).limit));
  if (!Number.isFinite(smallest)) return configured;
  return Math.max(2, Math.min(configured, smallest - 1));
}

/**
 * True when the deployment's shape alone keeps every budget: per budget, one
 * session for each account's poller (one schedule polls an account with one
 * session, its mailboxes one after another) plus one for each concurrent
 * processor stays within the limit. The functions then need no shared count of
 * sessions (no DynamoDB write per session: an empty poll writes nothing);
 * otherwise they take slots in the table.
 */
export function budgetHeldByConcurrency(
  accounts: readonly Pick<AccountConfig, 'host' | 'auth' | 'maxConnections'>[],
  processors: number,
): boolean {
  const pollers = new Map<string, { limit: number; count: number }>();
  for (const account of accounts) {
    const { key, limit } = connectionBudget(account);
    const entry = pollers.get(key) ?? { limit, count: 0 };
    entry.count += 1;
    entry.limit = Math.min(entry.limit, limit);
    pollers.set(key, entry);
  }
  return [...pollers.values()].every(({ limit, count }) => count + processors <= limit);
}

/**
 * What the construct tells the functions (`POSTROOM_CONNECTION_SLOTS`): count
 * sessions in the table, or trust the concurrency ({@link budgetHeldByConcurrency}).
 */
export function connectionSlotsMode(
  accounts: readonly Pick<AccountConfig, 'host' | 'auth' | 'maxConnections'>[],
  configuredProcessors: number,
): 'by-concurrency' | 'table' {
  const processors = processorConcurrency(accounts, configuredProcessors);
  return budgetHeldByConcurrency(accounts, processors) ? 'by-concurrency' : 'table';
}

/**
 * Why an account's budget cannot work, if it cannot: every IDLE watch holds a
 * connection for as long as `postroom run` runs, and polling and processing
 * need one more, or they would wait for ever.
 */
export function budgetProblem(account: AccountConfig): string | undefined {
  const watches = mailboxSettings(account).filter((mailbox) => mailbox.idle).length;
  const { limit } = connectionBudget(account);
  if (watches === 0 || watches < limit) return undefined;
  return `expected at least ${watches + 1}: each of the ${watches} mailbox(es) watched with IDLE holds a connection, and polling and processing need one more (or fewer mailboxes with idle: true)`;
}
