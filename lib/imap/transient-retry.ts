/**
 * Connecting again after an answer that means "not now" (`SERVER_BUSY`:
 * RFC 5530 LIMIT/UNAVAILABLE, Gmail's THROTTLED, Microsoft 365's "Server
 * Unavailable", "Request is throttled" and "User is authenticated but not
 * connected"), with exponential backoff and jitter, for as long as the
 * session's deadline leaves time for another attempt. Anything else (an
 * authentication failure above all) fails at once, as before.
 */
import { imapLimits } from '../config/imap-limits.ts';
import type { AccountConfig } from '../config/schema.ts';
import { isPostroomError } from '../errors.ts';
import { suggestedBackoffMs } from './provider-answers.ts';

export interface TransientRetryOptions {
  /** Epoch ms by which the session must have ended (the caller's; `limits.sessionSeconds` applies too). */
  deadline?: number | undefined;
  /** The first wait; each later one doubles (with jitter). @default 500 */
  baseDelayMs?: number;
  /** No single wait is longer. @default 15000 */
  maxDelayMs?: number;
  /** Attempts in all, the first included. @default 5 */
  maxAttempts?: number;
  /** Time an attempt needs after the wait, so that a retry is not started just to hit the deadline. @default 2000 */
  attemptReserveMs?: number;
  /** Told about each retry (account, attempt, wait, the error's line). */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
  /** @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** The longest server-suggested backoff waited for within one session. */
const MAX_SUGGESTED_MS = 60_000;

/** Runs `connect` until it succeeds, fails with something other than SERVER_BUSY, or time runs out. */
export async function withTransientRetry<T>(
  account: AccountConfig,
  connect: () => Promise<T>,
  options: TransientRetryOptions = {},
): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const deadline = Math.min(
    options.deadline ?? Number.POSITIVE_INFINITY,
    now() + imapLimits(account).sessionSeconds * 1000,
  );
  const base = options.baseDelayMs ?? 500;
  const cap = options.maxDelayMs ?? 15_000;
  const maxAttempts = options.maxAttempts ?? 5;
  const reserve = options.attemptReserveMs ?? 2000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect();
    } catch (error) {
      if (!isPostroomError(error) || error.code !== 'SERVER_BUSY' || attempt >= maxAttempts) throw error;
      const exponential = Math.min(cap, base * 2 ** (attempt - 1));
      // Half fixed, half random: pollers throttled together do not come back together.
      const jittered = exponential / 2 + Math.random() * (exponential / 2);
      const suggested = suggestedBackoffMs(error.message) ?? 0;
      // A server that asks for minutes is not retried within this session: the next poll comes sooner.
      if (suggested > MAX_SUGGESTED_MS) throw error;
      const delayMs = Math.round(Math.max(jittered, suggested));
      if (now() + delayMs + reserve > deadline) throw error;
      options.onRetry?.({ attempt, delayMs, reason: error.message });
      await sleep(delayMs);
    }
  }
}
