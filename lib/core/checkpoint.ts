import { CheckpointConflictError } from '../errors.ts';
import type { Checkpoint } from '../ports.ts';

/**
 * Within one UIDVALIDITY, UIDs only grow (RFC 3501 2.3.1.1), so a lower
 * `lastUid` can only come from a stale poller. A new UIDVALIDITY voids every
 * stored UID and may start anywhere. Every CheckpointStore checks this before
 * its conditional write.
 */
export function assertCheckpointMovesForward(
  account: string,
  mailbox: string,
  next: Checkpoint,
  previous: Checkpoint | undefined,
): void {
  if (previous && next.uidValidity === previous.uidValidity && next.lastUid < previous.lastUid) {
    throw new CheckpointConflictError(
      `refusing to move the checkpoint of ${account}/${mailbox} back from UID ${previous.lastUid} to ${next.lastUid}`,
      {
        account,
        mailbox,
        uidValidity: next.uidValidity,
        lastUid: previous.lastUid,
        nextLastUid: next.lastUid,
      },
    );
  }
}
