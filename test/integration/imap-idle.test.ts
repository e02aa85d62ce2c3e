/**
 * The IDLE watcher for `postroom run`: new mail in the watched mailbox is
 * reported; closing the watch is not reported as a lost connection.
 */
import { describe, expect, it, vi } from 'vitest';
import { watchMailbox } from '#lib/imap/idle-watcher.ts';
import { textMessage } from '../fixtures/messages.ts';
import { appendMessages, dovecotInfo, freshUser, testAccount, withSetupClient } from '../helpers/dovecot.ts';

describe('IDLE watcher', () => {
  it('reports new mail in the watched mailbox and closes quietly', async () => {
    // Prepare
    const dovecot = dovecotInfo();
    const user = freshUser(dovecot, 'idle');
    const events = { newMail: 0, lost: [] as unknown[] };
    const traced: string[] = [];
    const watch = await watchMailbox(
      testAccount(dovecot, user),
      'INBOX',
      { onNewMail: () => events.newMail++, onLost: (error) => events.lost.push(error) },
      { password: user.password, trace: (line) => traced.push(line) },
    );
    await vi.waitFor(() => expect(traced.some((line) => / IDLE$/.test(line))).toBe(true), {
      timeout: 10_000,
    });
    // Act
    await withSetupClient(dovecot, user, (client) =>
      appendMessages(client, 'INBOX', [textMessage(1, { namespace: user.user })]),
    );
    await vi.waitFor(() => expect(events.newMail).toBeGreaterThan(0), { timeout: 30_000 });
    await watch.close();
    // Assess
    expect(events.lost).toEqual([]);
    expect(traced.join('\n')).not.toContain(user.password);
  });
});
