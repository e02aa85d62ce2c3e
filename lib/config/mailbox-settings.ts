/**
 * A mailbox's effective settings. Kept apart from the schema so that code which
 * only reads a validated config does not build the zod schemas at import.
 */
import type { AccountConfig, StartPolicy } from './schema.ts';

/** A mailbox entry with the account's defaults applied. */
export interface MailboxSettings {
  name: string;
  start: StartPolicy;
  idle: boolean;
  /** Emit change events (flags changed, expunged) for delivered mail. */
  changes?: boolean;
}

export function mailboxSettings(account: AccountConfig): MailboxSettings[] {
  return account.mailboxes.map((entry) =>
    typeof entry === 'string'
      ? { name: entry, start: account.start, idle: account.idle }
      : {
          name: entry.name,
          start: entry.start ?? account.start,
          idle: entry.idle ?? account.idle,
          ...(entry.changes ? { changes: true } : {}),
        },
  );
}
