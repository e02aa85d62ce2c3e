/**
 * A poll's lease on its mailbox (so that two pollers never deliver the same
 * mail): how long it lasts, the heartbeat that renews it while a poll works,
 * and who holds one this poll could not take.
 */
import { describeError } from '../errors.ts';
import type { Logger } from '../ports.ts';
import type { MailboxPollResult, PollDependencies } from './poll.ts';

/**
 * A poll's lease on its mailbox: short, so a poller that crashed (a Lambda
 * timing out, a killed process on another host) blocks the mailbox for about a
 * minute, and renewed while the poll works (see {@link keepLease}).
 */
export const LEASE_MS = 60_000;

/**
 * Renews the lease every third of {@link LEASE_MS} while the mailbox is
 * polled, not only after each batch: one batch (a large message on a slow
 * link) may take longer than the lease. A renewal the store refuses means the
 * lease was lost; the poll stops at its next batch boundary.
 */
export function keepLease(
  deps: Pick<PollDependencies, 'leases' | 'ownerId'>,
  name: string,
  logger: Logger,
): { lost(): boolean; stop(): void } {
  let lost = false;
  const timer = setInterval(() => {
    deps.leases.renew(name, deps.ownerId, LEASE_MS).then(
      (held) => {
        if (!held) lost = true;
      },
      (error: unknown) => {
        // A store hiccup: the lease still has two thirds of its time; the next beat tries again.
        logger.warn('could not renew lease', { lease: name, ...describeError(error) });
      },
    );
  }, LEASE_MS / 3);
  // The heartbeat alone must not keep a process (or a Lambda invocation) alive.
  timer.unref();
  return { lost: () => lost, stop: () => clearInterval(timer) };
}

/** Who holds a lease this poll could not take, when the store can say. */
export async function leaseHolder(
  deps: Pick<PollDependencies, 'leases'>,
  name: string,
  logger: Logger,
): Promise<MailboxPollResult['heldBy']> {
  try {
    const holder = await deps.leases.holder?.(name);
    return holder ? { owner: holder.owner, until: new Date(holder.expiresAt).toISOString() } : undefined;
  } catch (error) {
    // Only for the report: the mailbox is skipped either way.
    logger.debug('could not read the lease holder', { lease: name, ...describeError(error) });
    return undefined;
  }
}
