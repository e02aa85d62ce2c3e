/**
 * Logical mailbox names (config: `/`-separated, no prefix) ↔ the server's names
 * in its personal namespace (RFC 2342) with its hierarchy delimiter. Where the
 * personal prefix is `INBOX.` and the delimiter `.`, `Finance/Invoices` is
 * `INBOX.Finance.Invoices`. Modified UTF-7 (RFC 3501 5.1.3) is ImapFlow's
 * business: these names are Unicode strings.
 */

/** The personal namespace as the server announced it. */
export interface PersonalNamespace {
  /** e.g. `''` or `INBOX.` */
  prefix: string;
  /** e.g. `/` or `.`; empty when the server has a flat namespace. */
  delimiter: string;
}

/** Maps a logical `/`-separated name to the server's name. `INBOX` (any case) stays `INBOX` (RFC 3501 5.1). */
export function toServerName(logical: string, ns: PersonalNamespace): string {
  const segments = logical
    .split('/')
    .map((segment) => segment.trim())
    .filter((segment) => segment !== '');
  if (segments.length === 0) throw new Error(`invalid mailbox name ${JSON.stringify(logical)}`);
  if (segments[0]!.toUpperCase() === 'INBOX') {
    segments[0] = 'INBOX';
    if (segments.length === 1) return 'INBOX';
  }
  if (ns.delimiter === '' && segments.length > 1) {
    throw new Error(`mailbox ${JSON.stringify(logical)} has a hierarchy, but the server's namespace is flat`);
  }
  const joined = segments.join(ns.delimiter || '/');
  // Names under INBOX on an `INBOX.` server (INBOX/Sub → INBOX.Sub) already carry the prefix.
  if (ns.prefix === '' || joined.startsWith(ns.prefix) || `${joined}${ns.delimiter}` === ns.prefix)
    return joined;
  return `${ns.prefix}${joined}`;
}

/** Maps a server name back to the logical `/`-separated name (the inverse of `toServerName`). */
export function toLogicalName(server: string, ns: PersonalNamespace): string {
  if (server.toUpperCase() === 'INBOX') return 'INBOX';
  let rest = server;
  if (ns.prefix !== '' && rest.startsWith(ns.prefix) && rest.length > ns.prefix.length)
    rest = rest.slice(ns.prefix.length);
  return ns.delimiter === '' || ns.delimiter === '/' ? rest : rest.split(ns.delimiter).join('/');
}
