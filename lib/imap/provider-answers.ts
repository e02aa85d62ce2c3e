/**
 * Server answers that mean "not now" rather than "no", beyond RFC 5530's
 * `[LIMIT]` and `[UNAVAILABLE]`: Gmail's `[THROTTLED]`, and the words
 * Microsoft 365 uses, which carry no response code at all:
 *
 * - `NO Server Unavailable. 15`: the mailbox server is busy or moving.
 * - `BAD Request is throttled. Suggested Backoff Time: 299961 milliseconds`.
 * - `BAD User is authenticated but not connected.`: the login was accepted
 *   but the mailbox was not opened. ImapFlow reports it (the answer to
 *   NAMESPACE) as an authentication failure. It is transient under load;
 *   when it persists, the credentials reach no mailbox (an app without a
 *   mailbox permission, a shared mailbox logged into by the wrong name).
 */

const TRANSIENT = [
  /\[(LIMIT|UNAVAILABLE|THROTTLED)\]/i,
  /User is authenticated but not connected/i,
  /\bServer Unavailable\b/i,
  /\bRequest is throttled\b/i,
  /\bserver (is )?busy\b/i,
  /\bTemporary System Error\b/i,
  // Gmail: "[ALERT] Too many simultaneous connections"; Dovecot: "Maximum number of connections".
  /\btoo many (simultaneous )?connections\b/i,
  /\bmaximum number of connections\b/i,
];

/** True when the server's answer says to try again later. */
export function isTransientAnswer(answer: string): boolean {
  return TRANSIENT.some((pattern) => pattern.test(answer));
}

/** True for Microsoft's "User is authenticated but not connected". */
export function isNotConnectedAnswer(answer: string): boolean {
  return /User is authenticated but not connected/i.test(answer);
}

/** The wait the server suggests (`Suggested Backoff Time: N milliseconds`), if it says. */
export function suggestedBackoffMs(answer: string): number | undefined {
  const match = /Suggested Backoff Time:\s*(\d{1,9})\s*milliseconds/i.exec(answer);
  return match ? Number(match[1]) : undefined;
}

/** A few words on what a transient answer means, for the one-line error. */
export function transientHint(answer: string): string {
  if (isNotConnectedAnswer(answer))
    return 'logged in, but the mailbox was not connected: transient, or these credentials reach no mailbox (a wrong password, an app without a mailbox permission, a shared mailbox under another name)';
  if (/throttl/i.test(answer)) return 'throttled';
  return 'too many connections or unavailable';
}
