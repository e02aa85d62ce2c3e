/**
 * Seeds benchmark mailboxes on a loopback Dovecot: APPENDs to each user's
 * INBOX over plain IMAP, four users at a time.
 */
import { ImapFlow } from 'imapflow';
import { forEachLimited } from '#lib/work-pool.ts';

/** APPENDs `messagesFor(user)` to each user's INBOX; returns the bytes appended. */
export async function seedMailboxes(
  port: number,
  users: readonly string[],
  password: string,
  messagesFor: (user: string, index: number) => Buffer[],
): Promise<number> {
  let bytes = 0;
  await forEachLimited(users, 4, async (user) => {
    const client = new ImapFlow({
      host: '127.0.0.1',
      port,
      secure: false,
      doSTARTTLS: false,
      auth: { user, pass: password },
      logger: false,
    });
    await client.connect();
    for (const raw of messagesFor(user, users.indexOf(user))) {
      bytes += raw.length;
      await client.append('INBOX', raw);
    }
    await client.logout();
  });
  return bytes;
}

/** A config account for a seeded user: plain IMAP on loopback, password from `BENCH_PASSWORD`, `start: all`. */
export function benchAccount(port: number, user: string) {
  return {
    id: user,
    host: '127.0.0.1',
    port,
    tls: false,
    auth: { user, password: { env: 'BENCH_PASSWORD' } },
    start: 'all',
  };
}
