/**
 * Which mail provider's quirks a session follows: `gmail` (labels through
 * X-GM-EXT-1, X-GM-MSGID/X-GM-THRID, `delete` as a move to the `\Trash`
 * folder), `microsoft` (throttling answers that are retried rather than
 * reported as authentication failures) or `generic`.
 *
 * `accounts[].provider` decides when it is set; `auto` (the default) reads
 * the capabilities the server announced after login and the host name. The
 * Gmail extensions are used only where the server also announces
 * X-GM-EXT-1: a server that does not speak them is never sent them.
 */
import type { ProviderSetting } from '../config/schema.ts';

export type Provider = 'gmail' | 'microsoft' | 'generic';

/** Gmail's IMAP hosts (consumer and Workspace share them). */
const GMAIL_HOSTS = new Set(['imap.gmail.com', 'imap.googlemail.com']);

/** Microsoft 365 and Outlook.com IMAP hosts. */
const MICROSOFT_HOSTS = new Set(['outlook.office365.com', 'imap-mail.outlook.com', 'outlook.office.com']);

/** The capability that announces Gmail's IMAP extensions. */
export const GMAIL_CAPABILITY = 'X-GM-EXT-1';

/** The provider a host name alone suggests (before any capability is known). */
export function providerOfHost(host: string): Provider {
  const name = host.trim().toLowerCase().replace(/\.$/, '');
  if (GMAIL_HOSTS.has(name)) return 'gmail';
  if (MICROSOFT_HOSTS.has(name)) return 'microsoft';
  return 'generic';
}

/**
 * The provider of a session: the configured one, or (`auto`, unset) Gmail
 * when the server announces X-GM-EXT-1, else what the host suggests.
 */
export function detectProvider(
  setting: ProviderSetting | undefined,
  host: string,
  capabilities: ReadonlySet<string>,
): Provider {
  if (setting && setting !== 'auto') return setting;
  if (capabilities.has(GMAIL_CAPABILITY)) return 'gmail';
  return providerOfHost(host);
}

/** The provider to expect before connecting: the configured one, else the host's. */
export function expectedProvider(account: {
  host: string;
  provider?: ProviderSetting | undefined;
}): Provider {
  return account.provider && account.provider !== 'auto' ? account.provider : providerOfHost(account.host);
}

/** True when the session may use Gmail's extensions: a Gmail session on a server that announces them. */
export function usesGmailExtensions(provider: Provider, capabilities: ReadonlySet<string>): boolean {
  return provider === 'gmail' && capabilities.has(GMAIL_CAPABILITY);
}
