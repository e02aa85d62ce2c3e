/**
 * The poller's note of how each mailbox's poll ended (`postroom status` reads
 * it back): a success time, or an error time and its one-line reason. Only a
 * report: a store that fails to keep it never fails the poll.
 */
import { describeError } from '../errors.ts';
import type { CheckpointStore, Logger } from '../ports.ts';

export async function notePoll(
  deps: { checkpoints: CheckpointStore; now?: () => number },
  logger: Logger,
  account: string,
  mailboxes: readonly string[],
  error?: unknown,
): Promise<void> {
  const record = deps.checkpoints.recordPoll;
  if (!record) return;
  const at = new Date((deps.now ?? Date.now)());
  const reason = error === undefined ? undefined : describeError(error).message;
  for (const mailbox of mailboxes) {
    try {
      await record.call(deps.checkpoints, account, mailbox, at, reason);
    } catch (failure) {
      logger.debug('could not record the poll for postroom status', {
        account,
        mailbox,
        ...describeError(failure),
      });
    }
  }
}
