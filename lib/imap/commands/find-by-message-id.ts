/** Finding a message again by its Message-ID, in a folder other than the selected one if need be. */
import type { ServerPath } from '../../ports.ts';
import type { ImapSession } from '../session.ts';
import { uidSearch } from './search.ts';
import { openMailbox } from './select.ts';

/**
 * UIDs of messages with this Message-ID in a folder. EXAMINEs that folder
 * unless it is the selected one: select the source again afterwards.
 */
export async function findByMessageId(
  session: ImapSession,
  path: ServerPath,
  messageId: string,
): Promise<number[]> {
  if (session.selected?.path !== path) await openMailbox(session, session.logicalName(path), path, true);
  return uidSearch(
    session,
    [
      { type: 'ATOM', value: 'HEADER' },
      { type: 'STRING', value: 'Message-ID' },
      { type: 'STRING', value: messageId },
    ],
    'UID SEARCH HEADER Message-ID',
  );
}
