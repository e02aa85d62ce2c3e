/**
 * `changes: true` is refused, with one line naming the account, the mailbox
 * and the missing extension, where the server cannot report changes (the
 * private Dovecot has CONDSTORE: the Dovecot suite covers the rest).
 */
import { describe, expect, it } from 'vitest';
import { configSchema } from '#lib/config/schema.ts';
import { pollChanges } from '#lib/core/changes.ts';
import type { MailboxState, MailServer, ServerPath } from '#lib/ports.ts';
import { silentLogger } from '#lib/ports.ts';

const account = configSchema.parse({
  accounts: [
    {
      id: 'legacy',
      host: 'imap.legacy.example',
      auth: { user: 'me', password: { env: 'X' } },
      mailboxes: [{ name: 'INBOX', changes: true }],
    },
  ],
}).accounts[0]!;

const state: MailboxState = { path: 'INBOX' as ServerPath, uidValidity: 7, uidNext: 10, exists: 9 };

describe('changes: true without CONDSTORE', () => {
  it.each([
    ['a server without CONDSTORE', new Set(['IMAP4REV1', 'UIDPLUS']), { ...state, highestModSeq: '5' }],
    ['a mailbox without mod-sequences (NOMODSEQ)', new Set(['IMAP4REV1', 'CONDSTORE']), state],
  ])('is refused on %s', async (_, capabilities, mailboxState) => {
    const session = { capabilities, fetchFlagChanges: async () => [] } as unknown as MailServer;
    const deps = { blobs: {} as never, events: { emit: async () => {} }, idempotency: {} as never };
    await expect(
      pollChanges(deps, account, session, 'INBOX', mailboxState, silentLogger),
    ).rejects.toMatchObject({
      code: 'CHANGES_UNSUPPORTED',
      message:
        'legacy/INBOX: changes: true needs CONDSTORE (RFC 7162) and mod-sequences for this mailbox, which imap.legacy.example does not offer; remove changes: true for it',
    });
  });
});
