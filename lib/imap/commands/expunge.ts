/**
 * Removing exactly the given UIDs: `\Deleted`, then `UID EXPUNGE` (UIDPLUS,
 * RFC 4315). Never a plain EXPUNGE, which would also remove every message the
 * user marked `\Deleted`: without UIDPLUS the messages stay marked, and the
 * caller is told (`expunged: false`).
 */
import type { ImapSession } from '../session.ts';
import { uidSets } from '../uid-sets.ts';
import { storeFlags } from './store.ts';

/** `\Deleted` on these UIDs, then `UID EXPUNGE` of them where UIDPLUS allows; `action` words the warning. */
export async function removeMessages(
  session: ImapSession,
  uids: number[],
  action: string,
): Promise<{ expunged: boolean }> {
  const selected = session.requireSelected('UID STORE', true);
  await storeFlags(session, uids, '+FLAGS.SILENT', ['\\Deleted']);
  if (session.capabilities.has('UIDPLUS')) {
    for (const set of uidSets(uids))
      await session.exec('UID EXPUNGE', [{ type: 'SEQUENCE', value: set }], `UID EXPUNGE ${set}`);
    return { expunged: true };
  }
  session.warn(
    `${uids.length} message(s) in "${selected.logical}" ${action}; the server has no UIDPLUS, so they stay marked \\Deleted (a plain EXPUNGE would also remove messages the user marked deleted)`,
  );
  return { expunged: false };
}
