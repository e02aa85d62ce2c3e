/** UID STORE (RFC 3501 6.4.6): one command per UID set, `.SILENT` so no FETCH echoes come back. */
import { imapError } from '../errors.ts';
import type { ImapSession } from '../session.ts';
import { uidSets } from '../uid-sets.ts';

/** Flags and keywords are atoms (RFC 3501 `flag`, ATOM-CHAR): printable, no `(){ %*"\\]`. */
const FLAG = /^\\?[\x21\x23\x24\x26\x27\x2b-\x5b\x5e-\x7a\x7c\x7d\x7e]+$/;

export async function storeFlags(
  session: ImapSession,
  uids: number[],
  operation: '+FLAGS.SILENT' | '-FLAGS.SILENT',
  flags: string[],
): Promise<void> {
  session.requireSelected('UID STORE', true);
  const bad = flags.find((flag) => !FLAG.test(flag));
  if (bad !== undefined)
    throw imapError('COMMAND_FAILED', session.account, `invalid flag ${JSON.stringify(bad)}`);
  if (flags.length === 0) return;
  for (const set of uidSets(uids)) {
    await session.exec(
      'UID STORE',
      [
        { type: 'SEQUENCE', value: set },
        { type: 'ATOM', value: operation },
        flags.map((flag) => ({ type: 'ATOM', value: flag })),
      ],
      `UID STORE ${set} ${operation} (${flags.join(' ')})`,
    );
  }
}
