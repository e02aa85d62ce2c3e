/**
 * Watching one mailbox with IMAP IDLE (RFC 2177) on a connection of its own,
 * for `postroom run`: the watcher only says "new mail", the poller does the
 * work. IDLE is re-issued every 25 minutes (servers drop it after 30, RFC 2177
 * section 3); where the server has no IDLE, ImapFlow polls with NOOP instead.
 * Notifications can lag by up to a minute on some servers: the schedule stays
 * the safety net.
 */
import type { AccountConfig } from '../config/schema.ts';
import type { MailboxWatch, WatchHandlers } from '../ports.ts';
import { type ConnectMailServerOptions, credential, openImapFlow, redactor } from './connect.ts';
import { commandError, imapError } from './errors.ts';
import { toServerName } from './mailbox-names.ts';

/**
 * Opens a connection, EXAMINEs `mailbox` and calls `handlers.onNewMail()` when
 * its message count grows, `handlers.onLost(error)` when the connection ends
 * without `close()`.
 */
export async function watchMailbox(
  account: AccountConfig,
  mailbox: string,
  handlers: WatchHandlers,
  options: ConnectMailServerOptions,
): Promise<MailboxWatch> {
  const redact = redactor(account.auth.user, credential(options));
  const trace = options.trace ? (line: string) => options.trace!(redact(line)) : undefined;
  const { client, watchdog } = await openImapFlow(
    account,
    { ...options, trace },
    { disableAutoIdle: false, autoIdleDelay: 500, maxIdleTime: 25 * 60 * 1000, missingIdleCommand: 'NOOP' },
  );
  // A watch lasts as long as `run` does: the session bounds held for the login only.
  watchdog.stop();
  let closing = false;
  client.on('close', () => {
    if (!closing) {
      handlers.onLost(
        imapError(
          'CONNECTION_LOST',
          account.id,
          `IDLE connection to ${account.host}:${account.port} closed`,
          { retryable: true },
        ),
      );
    }
  });
  const ns = client.namespace;
  const path = toServerName(mailbox, { prefix: ns?.prefix ?? '', delimiter: ns?.delimiter ?? '/' });
  try {
    await client.mailboxOpen(path, { readOnly: true });
  } catch (error) {
    closing = true;
    client.close();
    throw commandError(error, account.id, `EXAMINE "${mailbox}"`, credential(options));
  }
  client.on('exists', (event: { path: string; count: number; prevCount: number }) => {
    if (event.count > event.prevCount) handlers.onNewMail();
  });
  return {
    async close() {
      closing = true;
      try {
        await client.logout();
      } catch {
        client.close();
      }
    },
  };
}
